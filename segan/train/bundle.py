"""The recipes of segan's bundled models, and `python -m segan.train.bundle` that trains them.

Each bundled model is a shipped SynthFaces config at 64 px with narrower networks and a step
budget that a 2-core CPU finishes in minutes (a GPU run uses the same recipes with more steps).
Training writes `runs/bundled/NAME/` (checkpoints, resumable) and copies the published model
folder into `segan/weights/NAME/`, which `segan.load("bundled:NAME")` opens.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from segan.bundled import WEIGHTS_DIR

__all__ = ["RECIPES", "Recipe", "build"]


@dataclass(frozen=True)
class Recipe:
    """A bundled model: which shipped config, what it changes, and how many steps."""

    config: str
    steps: int
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def all_overrides(self, steps: int | None = None) -> list[str]:
        n = self.steps if steps is None else steps
        return [
            "data.resolution=64",
            f"optim.steps={n}",
            f"optim.decay_start={n // 2}",
            f"run.checkpoint_every={max(n // 4, 1)}",
            f"run.sample_every={max(n // 4, 1)}",
            *self.overrides,
        ]


_D = ("discriminator.conv_dim=32", "discriminator.repeat_num=5")
_HD = (*_D, "discriminator.local_conv_dim=16", "discriminator.local_repeat_num=4")
_HG = ("model.global_conv_dim=32", "model.global_repeat=4", "model.local_conv_dim=16")

RECIPES: dict[str, Recipe] = {  # in training order: the parsers before the seghgans they seed
    "bisenet": Recipe("bisenet_synthfaces", 800, ("model.base_width=24", "model.resolution=64")),
    "unet": Recipe("unet_synthfaces", 800, ("model.base_width=16",)),
    "regressor": Recipe("regressor_synthfaces", 500, ("model.width=32", "optim.batch_size=32")),
    "stargan": Recipe("stargan_synthfaces", 800, ("model.conv_dim=32", "model.repeat_num=6", *_D)),
    "ganimation": Recipe(
        "ganimation_synthfaces", 800, ("model.conv_dim=32", "model.repeat_num=6", *_D)
    ),
    "seghgan-bisenet": Recipe(
        "seghgan_bisenet_synthfaces",
        400,
        (
            "model.parser={architecture: bisenet, base_width: 24, resolution: 64}",
            "model.parser_weights=bundled:bisenet",
            *_HG,
            *_HD,
        ),
    ),
    "sargan": Recipe("sargan_synthfaces", 600, ("model.conv_dim=32", *_D)),
    "finegrained": Recipe("finegrained_synthfaces", 400, ("model.ngf=12", *_D)),
    "boxhgan": Recipe("boxhgan_synthfaces", 400, (*_HG, "model.crop_size=16", *_HD)),
    "seghgan-unet": Recipe(
        "seghgan_unet_synthfaces",
        400,
        (
            "model.parser={architecture: unet, base_width: 16}",
            "model.parser_weights=bundled:unet",
            *_HG,
            *_HD,
        ),
    ),
    "classifier": Recipe("classifier_synthfaces", 500, ("model.width=32", "optim.batch_size=32")),
}


def build(
    name: str,
    runs: str | Path = "runs/bundled",
    weights: str | Path = WEIGHTS_DIR,
    steps: int | None = None,
    extra: Sequence[str] = (),
) -> Path:
    """Train (or resume) bundled model `name` and copy its model folder to `weights/name`."""
    from segan.train.config import load_config
    from segan.train.trainer import train

    if name not in RECIPES:
        raise KeyError(f"no bundled recipe {name!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    run_dir = Path(runs) / name
    overrides = [
        *recipe.all_overrides(steps),
        f"run.output_dir={run_dir}",
        "run.resume=latest",
        *extra,
    ]
    model_dir = train(load_config(recipe.config, overrides))
    target = Path(weights) / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for item in ("config.json", "README.md"):
        if (model_dir / item).is_file():
            shutil.copy2(model_dir / item, target / item)
    half_precision_copy(model_dir / "model.safetensors", target / "model.safetensors")
    return target


def half_precision_copy(source: Path, target: Path) -> None:
    """Copy a safetensors file with float32 tensors stored as float16 (half the bytes; the
    loader casts them back into the float32 model, a relative change of at most 5e-4)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), "pt") as f:
        metadata = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    for k, v in tensors.items():
        if v.dtype == torch.float32:
            tensors[k] = v.half()
    save_file(tensors, str(target), metadata={**metadata, "segan_storage": "float16"})


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="segan.train.bundle", description=__doc__)
    p.add_argument("names", nargs="*", help=f"which models (default all: {', '.join(RECIPES)})")
    p.add_argument("--runs", default="runs/bundled", help="where runs and checkpoints live")
    p.add_argument("--weights", default=str(WEIGHTS_DIR), help="where model folders go")
    p.add_argument("--steps", type=int, help="override every recipe's step budget")
    p.add_argument("--set", nargs="*", default=[], help="extra key=value overrides for all")
    args = p.parse_args(argv)
    for name in args.names or list(RECIPES):
        print(f"== {name}", flush=True)
        print(build(name, args.runs, args.weights, args.steps, args.set), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
