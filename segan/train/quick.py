"""A model folder for a notebook or a demo: the one given, or a short training run made once.

Notebooks take model ids (a Hub repo id or a local folder); where none is given they call
`trained_model(config, folder, overrides)`, which trains the shipped recipe with the overrides
into `folder` the first time and reuses `folder/model` afterwards; `bundled_or_trained` first
takes the model segan ships (`bundled:NAME`) when it was trained at the resolution asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from segan import bundled
from segan.models.hub import read_config
from segan.train.config import load_config
from segan.train.trainer import train

__all__ = ["bundled_or_trained", "trained_model"]


def trained_model(
    config: str | Path, folder: str | Path, overrides: Sequence[str] = (), quiet: bool = True
) -> Path:
    """`folder/model` if it exists; otherwise train `config` with `overrides` into `folder`
    (resuming a run that was interrupted) and return its model folder."""
    folder = Path(folder)
    model = folder / "model"
    if (model / "config.json").is_file():
        return model
    extra = [f"run.output_dir={folder}", "run.resume=auto"]
    if quiet:
        extra.append("run.progress=false")
    return train(load_config(config, [*overrides, *extra]))


def bundled_or_trained(
    name: str,
    resolution: int,
    config: str | Path,
    folder: str | Path,
    overrides: Sequence[str] = (),
    quiet: bool = True,
) -> Path:
    """The bundled model `name` when segan ships one trained at `resolution`; otherwise
    `trained_model(config, folder, overrides)`."""

    if name in bundled.available():
        shipped = bundled.resolve(name)
        made = read_config(shipped).get("training", {})
        if made.get("resolution") == resolution:
            return shipped
    return trained_model(config, folder, overrides, quiet)
