"""The bundled models as the quality benchmarks open them (benchmarks/quality.py for SynthFaces,
benchmarks/quality_real.py for real faces): a bundled model, a model folder or a run's latest
checkpoint in its place, the size it was trained at, what makes two models comparable, and
wrappers that take pictures at any size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import segan
from segan import bundled
from segan.evaluate import (
    DEFAULT_EVALUATORS,
)
from segan.models.hub import read_config
from segan.train.bundle import STASH_DIR, snapshot
from segan.train.config import load_config
from segan.train.recipes import RECIPES, earlier_stages

EVALUATORS = tuple(DEFAULT_EVALUATORS)  # the bundled models that score the others
JOINT = " (joint parser)"  # a seghgan's parser, trained with its generator
CONTROL = " (continued alone)"  # the parser fine-tuned alone like the joint one (the control)
CONTROL_TEXT = "continued alone for as many updates"


def model_folder(name: str, folders: dict[str, str]) -> Path:
    """The folder given for `name` (a model folder or a run), else the bundled model's."""
    return Path(folders[name]) if name in folders else bundled.resolve(f"bundled:{name}")


def open_model(name: str, folders: dict[str, str]) -> tuple[Any, int | str | None]:
    """A bundled model, or the folder given for it (a model folder, or a run: its latest
    checkpoint), and the training steps it has had ("30000+12000" after an earlier stage)."""
    folder = model_folder(name, folders)
    if (folder / "checkpoints").is_dir():  # a run of the recipe
        model, steps = snapshot(folder)
        before = list(earlier_stages(name).values()) if name in RECIPES else []
    else:  # a published folder says what it continued
        made = read_config(folder).get("training", {})
        model, steps = segan.load(str(folder)).eval(), made.get("steps")
        before = list(made.get("after", {}).values())
    if before and steps is not None:
        steps = "+".join(str(n) for n in [*before, steps])
    return model, steps


def open_control(arch: str, steps: Any, folders: dict[str, str]) -> tuple[Any, str] | None:
    """The parser `arch` trained on alone for as many updates as seghgan's joint parser
    (recipe ARCH-continued, exported to checkpoints/), with its steps, if it is there."""
    name = f"{arch}-continued"
    folder = Path(folders[name]) if name in folders else STASH_DIR / name
    if not (folder / "config.json").is_file():
        return None
    made = read_config(folder).get("training", {})  # what the export did
    own = made.get("steps", RECIPES[name].steps)  # (older exports: the recipe's)
    done = "+".join(str(n) for n in (steps, own) if n is not None)
    return segan.load(str(folder)).eval(), done


def parser_setup(parser: torch.nn.Module) -> dict[str, Any]:
    """What makes two parsers comparable: the architecture and its constructor settings."""
    config = dict(getattr(parser, "config", {}))
    config.pop("labels", None)
    return config


def editor_setup(editor: torch.nn.Module) -> dict[str, Any]:
    """What makes two hierarchies comparable beyond masks vs boxes: their branches' outputs."""
    config = getattr(editor, "config", {})
    return {k: bool(config[k]) for k in ("global_attention", "local_attention") if k in config}


def setup_difference(
    a: dict[str, Any] | None, b: dict[str, Any] | None, names: tuple[str, str] = ("joint", "alone")
) -> str:
    """'' when two setups agree, else what differs (e.g. a seghgan trained from an earlier
    recipe's parser, or hierarchies with different branch outputs)."""
    if a is None or b is None:
        return ""
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k} {a.get(k)} ({names[0]}) vs {b.get(k)} ({names[1]})" for k in keys)


class AtResolution(torch.nn.Module):
    """An evaluator that takes pictures at any size (resized to the size it was trained at)."""

    def __init__(self, model: torch.nn.Module, size: int):
        super().__init__()
        self.model, self.size, self.labels = model, size, getattr(model, "labels", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return self.model(x)


class ParsedAt(torch.nn.Module):
    """A parser that takes pictures at any size: parsed at the size it was trained at, its
    logits resized back."""

    def __init__(self, parser: torch.nn.Module, size: int):
        super().__init__()
        self.parser, self.size = parser, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.size:
            return self.parser(x)
        small = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return F.interpolate(self.parser(small), size=x.shape[-2:], mode="bilinear")


def trained_size(name: str, folders: dict[str, str]) -> int:
    """The face size a model was trained at, as its folder (or its run's config) records it;
    for a folder saved without that record, the size the model takes (`image_size`, or a
    parser's `resolution`)."""
    folder = model_folder(name, folders)
    if (folder / "checkpoints").is_dir():  # a run of the recipe
        return load_config(str(folder / "config.yaml")).data.resolution
    config = read_config(folder)  # a published folder records it; else the model's own size
    size = config.get("training", {}).get("resolution")
    return int(size or config.get("image_size") or config["resolution"])


def started_from(name: str) -> str | None:
    """The bundled parser a recipe's joint parser starts from (its `model.parser_weights`)."""
    spec = RECIPES[name].option("model.parser_weights") if name in RECIPES else None
    return spec.removeprefix("bundled:") if spec else None


def fmt(value: Any, digits: int = 1) -> str:
    """A number for a table ("-" for none)."""
    return "-" if value is None else f"{value:.{digits}f}"


def rewrite_between(path: Path, start: str, end: str, body: str) -> None:
    """The file at `path` (created if absent) with `body` between the markers."""
    text = path.read_text() if path.is_file() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_between(text, start, end, body))


def replace_between(text: str, start: str, end: str, body: str) -> str:
    """`text` with what lies between the markers replaced (the markers appended if absent)."""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        return head + start + "\n" + body + end + rest.split(end, 1)[1]
    return text.rstrip("\n") + f"\n\n{start}\n{body}{end}\n"


def parser_claims(parsers: dict[str, dict[str, Any]], claim) -> None:
    """The first paper's parser claim, through `claim(text, figures, ok)`: each jointly
    trained parser (an entry with `started_from`) scores an mIoU not below the parser it
    started from and the one continued alone for as many updates, when those were scored
    alike (the same setup and, where recorded, the same face size)."""
    for joint in parsers.values():
        arch = joint.get("started_from")
        if arch is None:
            continue
        for key, what in ((arch, "it started from"), (f"{arch}{CONTROL}", CONTROL_TEXT)):
            if key not in parsers:
                continue
            text = f"jointly trained {arch} mIoU not below the {arch} trained alone ({what})"
            differ = setup_difference(joint.get("setup"), parsers[key].get("setup"))
            sizes = joint.get("size"), parsers[key].get("size")
            if not differ and None not in sizes and sizes[0] != sizes[1]:
                differ = f"parsed at {sizes[0]} vs {sizes[1]} px"
            if differ:  # a joint run from an earlier recipe's parser: not like for like
                claim(text, f"not comparable: {differ}", None)
                continue
            a, b = joint["miou"], parsers[key]["miou"]
            claim(text, f"{a:.1f} vs {b:.1f}", a >= b)
