"""`python -m segan.train.bundle`: train, stash, export and publish segan's bundled models.

Training a recipe (segan.train.recipes) writes `runs/bundled/NAME/` (checkpoints, resumable);
`publish` copies the model the run publishes into `segan/weights/NAME/` (float16 storage, with
its card), which `segan.load("bundled:NAME")` opens. A run that one session cannot finish is
`stash`ed: its latest checkpoint goes into the repository's `checkpoints/NAME/`, and `train`
restores it into a fresh `runs/` and resumes from there. A first stage that other recipes
start from is `export`ed to `checkpoints/NAME` in float32.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from segan.bundled import WEIGHTS_DIR
from segan.models.hub import apply_training_record
from segan.train.checkpoint import check_folder, load_strict, read_ema, read_network
from segan.train.config import load_config
from segan.train.methods import make_task
from segan.train.publish import save_with_card, training_record
from segan.train.recipes import (
    RECIPES,
    REPO_DIR,
    bundled_starts,
    command,
    earlier_stages,
    find_recipe,
    runnable,
)
from segan.train.trainer import checkpoint_step, checkpoints, latest_checkpoint

__all__ = [
    "CARD_END",
    "CARD_START",
    "STASH_DIR",
    "critic_wanted",
    "export",
    "export_critic",
    "finished",
    "half_precision_copy",
    "main",
    "publish",
    "restore",
    "snapshot",
    "stash",
]

STASH_DIR = REPO_DIR / "checkpoints"


def snapshot(
    run_dir: str | Path, checkpoint: str | Path | None = None, role: str | None = None
) -> tuple[nn.Module, int]:
    """The network a run would publish (its EMA copy when it keeps one) at a checkpoint (the
    latest by default), and that checkpoint's step; for models whose run is not finished.
    With `role` ("discriminator"), that network's trained weights instead."""

    run_dir = Path(run_dir)
    folder = Path(checkpoint) if checkpoint is not None else latest_checkpoint(run_dir)
    if folder is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir / 'checkpoints'}")
    config = load_config(str(run_dir / "config.yaml"))
    task = make_task(config)
    nets = task.networks()  # built only: the checkpoint gives every weight
    published = task.published(nets)
    role = role or published
    if role not in nets:
        raise KeyError(f"{run_dir} trains {', '.join(nets)}; it has no {role!r}")
    model = nets[role]
    check_folder(folder)
    if role == published and config.optim.ema > 0:
        ema = {k[6:]: v for k, v in read_ema(folder).items() if k.startswith("model.")}
        load_strict(model, ema, folder / "ema.safetensors")
    else:
        load_strict(model, read_network(folder, role), folder / "networks" / f"{role}.safetensors")
    step = checkpoint_step(folder)
    if role == published:  # cut faces as the published model would (FFHQ alignment, ...)
        apply_training_record(model, training_record(config, step))
    return model.eval(), step


def export(
    name: str,
    role: str | None = None,
    runs: str | Path = "runs/bundled",
    store: str | Path = STASH_DIR,
) -> Path:
    """Save a run's network (the published one, or `role`'s) as a float32 model folder in
    `store` (committed), for other recipes to start from on any machine: `store/NAME`, or
    `store/NAME-critic` for the discriminator."""
    model, step = snapshot(Path(runs) / name, role=role)
    target = Path(store) / (f"{name}-critic" if role == "discriminator" else name)
    if target.exists():
        shutil.rmtree(target)
    config = load_config(str(Path(runs) / name / "config.yaml"))
    what = "critic" if role == "discriminator" else "network"
    uses = f"checkpoints/{target.name}"
    users = sorted(n for n, r in RECIPES.items() if any(uses in o for o in r.overrides))
    training = (
        f"The {what} of the bundled `{name}` run at step {step} (`python -m "
        f"segan.train.bundle {'critic' if role == 'discriminator' else 'export'} {name}`)"
        + (f"; recipes that start from it: {', '.join(users)}" if users else "")
        + "."
    )
    # the card every segan run writes: the data it learnt from and that data's licence
    save_with_card(model, target, config, make_task(config), step, training, "A first stage.")
    return target


def export_critic(
    name: str = "stargan", runs: str | Path = "runs/bundled", store: str | Path = STASH_DIR
) -> Path:
    """The critic of a finished run as `store/NAME-critic`, which the hierarchies' global
    critic starts from."""
    return export(name, "discriminator", runs, store)


def publish(
    name: str,
    runs: str | Path = "runs/bundled",
    weights: str | Path = WEIGHTS_DIR,
    evaluation: str | None = None,
) -> Path:
    """Copy bundled model `name` from its run into `weights/name` (float16 storage): the final
    model when the run finished, else the latest checkpoint; the card records the steps done
    of the recipe's, the command, hardware, data, the last training losses and `evaluation`."""
    recipe = find_recipe(name)
    run_dir = Path(runs) / name

    config = load_config(str(run_dir / "config.yaml"))
    model, step = snapshot(run_dir)
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = next((m for m in reversed(log) if m.get("step", 0) <= step), {})
    hardware = run_dir / "hardware.txt"
    before = earlier_stages(name)
    training = (
        f"{step} of {config.optim.steps} steps (segan bundled recipe `{name}`)"
        + "".join(
            f", after the {steps} steps of recipe `{stage}` (checkpoints/{stage})"
            for stage, steps in before.items()
        )
        + "".join(
            f", starting from the bundled `{stage}` (its recipe's {steps} steps)"
            for stage, steps in bundled_starts(name).items()
        )
        + f", batch "
        f"{config.optim.batch_size} x {config.optim.grad_accum} accumulation; "
        + (
            "; ".join(hardware.read_text().strip().splitlines())
            if hardware.is_file()
            else _HARDWARE
        )
        + ". Command:\n\n```bash\n"
        + shlex.join(command(name, runs, recipe.steps))
        + "\n```"
    )
    metrics = (
        f"{CARD_START}\n"
        + (evaluation or "Not evaluated yet: run `python benchmarks/quality.py --cards`.\n")
        + f"{CARD_END}\n\nLast training losses:\n\n```json\n"
        + json.dumps(last, indent=2)
        + "\n```"
    )
    target = Path(weights) / name
    with tempfile.TemporaryDirectory() as tmp:
        save_with_card(model, tmp, config, make_task(config), step, training, metrics, after=before)
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for item in ("config.json", "README.md"):
            shutil.copy2(Path(tmp) / item, target / item)
        half_precision_copy(Path(tmp) / "model.safetensors", target / "model.safetensors")
    return target


# What a stashed run keeps besides its latest checkpoint (the rest is regenerated).
_RUN_FILES = ("config.yaml", "metrics.jsonl", "hardware.txt")


def stash(
    name: str, runs: str | Path = "runs/bundled", store: str | Path = STASH_DIR
) -> Path | None:
    """Keep the latest checkpoint of an unfinished run in `store/name` (committed with the
    repository, so that a later session resumes it on a fresh machine); a finished run's stash
    is removed. Returns the stashed checkpoint, or None when there is nothing to keep."""

    run_dir, target = Path(runs) / name, Path(store) / name
    latest = latest_checkpoint(run_dir)
    if latest is None:
        raise FileNotFoundError(f"{name}: no checkpoint in {run_dir / 'checkpoints'} to stash")
    steps = load_config(str(run_dir / "config.yaml")).optim.steps
    if target.exists():
        shutil.rmtree(target)
    if checkpoint_step(latest) >= steps:  # finished
        return None
    return _copy_checkpoint(latest, run_dir, target)


def restore(
    name: str, runs: str | Path = "runs/bundled", store: str | Path = STASH_DIR
) -> Path | None:
    """Put a stashed checkpoint back into `runs/name` when the run there has none (a fresh
    machine) or an older one; `run.resume=latest` then continues from it. Returns what it
    restored, or None."""

    stashed = Path(store) / name
    source = latest_checkpoint(stashed)
    if source is None:
        return None
    run_dir = Path(runs) / name
    have = latest_checkpoint(run_dir)
    if have is not None and checkpoint_step(have) >= checkpoint_step(source):
        return None
    for old in checkpoints(run_dir):  # older than the stash: resume=latest must pick the stash
        shutil.rmtree(old)
    return _copy_checkpoint(source, stashed, run_dir)


def _copy_checkpoint(checkpoint: Path, source: Path, target: Path) -> Path:
    """Copy one checkpoint folder and the run files of run folder `source` into `target`."""
    shutil.copytree(checkpoint, target / "checkpoints" / checkpoint.name)
    for item in _RUN_FILES:
        if (source / item).is_file():
            shutil.copy2(source / item, target / item)
    return target / "checkpoints" / checkpoint.name


# Where a card's scores go (benchmarks/quality.py --cards rewrites what lies between).
CARD_START, CARD_END = "<!-- quality:start -->", "<!-- quality:end -->"

# What the queue that trains the bundled models runs on when a run did not record it.
_HARDWARE = "1 process, CPU (x86_64, 1 thread: OMP_NUM_THREADS=1 on a 2-core machine), fp32"


def half_precision_copy(source: Path, target: Path) -> None:
    """Copy a safetensors file with float32 tensors stored as float16 (half the bytes; the
    loader casts them back into the float32 model, a relative change of at most 5e-4)."""

    with safe_open(str(source), "pt") as f:
        metadata = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    for k, v in tensors.items():
        if v.dtype == torch.float32:
            tensors[k] = v.half()
    save_file(tensors, str(target), metadata={**metadata, "segan_storage": "float16"})


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="segan.train.bundle", description=__doc__)
    p.add_argument("action", choices=["train", "publish", "command", "stash", "critic", "export"])
    p.add_argument("names", nargs="*", help=f"which models (default all: {', '.join(RECIPES)})")
    p.add_argument("--runs", default="runs/bundled", help="where runs and checkpoints live")
    p.add_argument("--weights", default=str(WEIGHTS_DIR), help="where model folders go")
    p.add_argument("--steps", type=int, help="override every recipe's step budget")
    p.add_argument("--store", default=str(STASH_DIR), help="where stashed checkpoints live")
    p.add_argument(
        "--minutes",
        type=float,
        help="train: stop each run after this many minutes (run.time_limit) and stash it",
    )
    args = p.parse_args(argv)
    for name in args.names or list(RECIPES):
        argv_ = command(name, args.runs, args.steps)
        if args.minutes is not None:
            argv_.append(f"run.time_limit={args.minutes}")
        if args.action == "command":
            print(shlex.join(argv_))
            continue
        if args.action in ("critic", "export"):
            role = "discriminator" if args.action == "critic" else None
            print(export(name, role, args.runs, args.store))
            continue
        if args.action == "stash":
            print(f"{name}: {stash(name, args.runs, args.store) or 'finished, nothing stashed'}")
            continue
        if args.action == "train":
            if RECIPES[name].data is not None:
                RECIPES[name].data.prepare(args.runs)
            restored = restore(name, args.runs, args.store)
            if restored is not None:
                print(f"== {name}: resuming from the stashed {restored}", flush=True)
            print(f"== {name}: {shlex.join(argv_)}", flush=True)
            if subprocess.run(runnable(argv_)).returncode != 0:
                print(f"{name}: training stopped; run the same command to resume", flush=True)
                return 1
            if not finished(name, args.runs):  # stopped by its time limit
                print(f"{name}: stashed {stash(name, args.runs, args.store)}", flush=True)
                return 0
        if RECIPES[name].ship:
            print(publish(name, args.runs, args.weights), flush=True)
        else:
            print(export(name, None, args.runs, args.store), flush=True)
            if critic_wanted(name):
                print(export_critic(name, args.runs, args.store), flush=True)
    return 0


def finished(name: str, runs: str | Path = "runs/bundled") -> bool:
    """Whether run `name` has reached the end of its schedule (or its recipe's stop)."""
    run_dir = Path(runs) / name
    latest = latest_checkpoint(run_dir)
    if latest is None:
        return False
    return checkpoint_step(latest) >= load_config(str(run_dir / "config.yaml")).end_step


def critic_wanted(name: str) -> bool:
    """Whether a recipe starts a critic from first stage `name`'s (checkpoints/NAME-critic)."""
    wanted = f"checkpoints/{name}-critic"
    return any(
        o.partition("=")[2] == wanted for recipe in RECIPES.values() for o in recipe.overrides
    )


if __name__ == "__main__":
    sys.exit(main())
