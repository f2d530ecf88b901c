"""The models that ship inside segan (`segan/weights/NAME/`), opened as `bundled:NAME`.

Each is a Hub-layout model folder (config.json, model.safetensors, README.md model card), so
the same folder can be pushed to the Hub unchanged; `python -m segan.train.bundle train`
remakes them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PREFIX", "WEIGHTS_DIR", "available", "is_bundled", "resolve"]

PREFIX = "bundled:"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def available() -> list[str]:
    """Names of the bundled models present in this installation, sorted."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(
        p.name
        for p in WEIGHTS_DIR.iterdir()
        if (p / "config.json").is_file() and (p / "model.safetensors").is_file()
    )


def is_bundled(name: str | Path) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def resolve(name: str) -> Path:
    """The folder of `bundled:NAME` (or plain NAME); a clear error names what exists."""
    short = name[len(PREFIX) :] if is_bundled(name) else name
    folder = WEIGHTS_DIR / short
    if short not in available():
        have = ", ".join(available()) or "none (run `python -m segan.train.bundle train`)"
        raise FileNotFoundError(f"no bundled model {short!r}; bundled: {have}")
    return folder
