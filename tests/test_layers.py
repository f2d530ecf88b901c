"""The package's shape: which rooms may import which, no import circle, no oversized module
(in segan/, benchmarks/ or app.py).

Every `import segan...` in segan/, at module level or inside a function, is an arrow; the
layers below say which arrows may exist (a lower layer never imports a higher one).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "segan"

# Lower layers first; a module may import its own layer and the ones before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("segan.labels", "segan.partial_labels", "segan.visualize", "segan.assets", "segan.bundled"),
    ("segan.photos", "segan.synth"),  # real photos; SynthFaces' renderer and dataset
    ("segan.models", "segan.judges", "segan.metrics"),
    ("segan.data",),
    ("segan.synth.writers",),  # lay renderings out in the publishers' formats the readers own
    ("segan.train", "segan.evaluate", "segan.evaluate_real", "segan.pipeline"),
    ("segan.studio",),
    ("segan.cli", "segan.__main__", "segan"),
)
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def arrows() -> dict[str, set[str]]:
    """module -> the segan modules it imports (anywhere in the file)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("segan"))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("segan"):
                base = node.module or ""
                for alias in node.names:  # `from segan.x import y` imports module segan.x.y if any
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in modules else base)
        found.discard(name)
        out[name] = {m for m in found if m in modules}
    return out


def layer(module: str) -> int:
    """The layer of the longest matching prefix."""
    best, depth = -1, -1
    for k, names in enumerate(LAYERS):
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = k, len(prefix)
    if best < 0:
        raise AssertionError(f"{module} is in no layer of {__name__}.LAYERS")
    return best


def test_every_arrow_points_down_or_sideways():
    upward = [
        f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
        for a, targets in sorted(arrows().items())
        for b in sorted(targets)
        if layer(b) > layer(a) and not a.startswith(b + ".")  # a package's own __init__
    ]
    assert upward == []


def test_models_never_import_data_or_synth():
    wrong = {
        a: sorted(b for b in t if b.startswith(("segan.data", "segan.synth", "segan.train")))
        for a, t in arrows().items()
        if a.startswith("segan.models")
    }
    assert {a: b for a, b in wrong.items() if b} == {}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            # a package __init__ that re-exports its modules is not a circle with them
            if v.startswith(w + "."):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert cycles(arrows()) == []


def test_the_circle_finder_finds_circles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


BENCHMARKS = PACKAGE.parent / "benchmarks"


@pytest.mark.parametrize(
    "path",
    [*sorted(PACKAGE.rglob("*.py")), *sorted(BENCHMARKS.glob("*.py")), PACKAGE.parent / "app.py"],
    ids=lambda p: str(p.relative_to(PACKAGE.parent)),
)
def test_module_stays_small(path: Path):
    lines = len(path.read_text().splitlines())
    assert lines < MAX_LINES, f"{path.name}: {lines} lines"
