"""Training throughput of every method at 128 px: images/s in fp32 and bf16, and peak memory.

Usage: python benchmarks/train.py [--batch 16] [--cycles 3] [--methods stargan_synthfaces ...]
                                   [--recipes [NAME ...]] [--out benchmarks/results]
With --recipes the rows are the bundled recipes (segan.train.recipes: 64 px, CPU widths) instead
of the paper-width configs, written to train_recipes.json/md: what decides each recipe's
precision.
Each (method, device, precision) runs in a fresh process with the real Trainer and the shipped
config at its paper widths (batch fixed across methods so rates compare). One warm-up step, then
`cycles` timed update cycles: a cycle is `n_critic` steps for a GAN (n_critic critic updates and
one generator update with its EMA) and one step for a parser or evaluator. Rates are medians over
cycles. Peak memory is the process's peak resident set above its size after imports (CPU), or
torch's peak allocated memory (CUDA). Writes train.json and train.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from report import RESULTS, machine, write_results
from timing import rss_mib, time_cycles

METHODS = [
    "stargan_synthfaces",
    "ganimation_synthfaces",
    "sargan_synthfaces",
    "finegrained_synthfaces",
    "seghgan_bisenet_synthfaces",
    "seghgan_unet_synthfaces",
    "boxhgan_synthfaces",
    "bisenet_synthfaces",
    "unet_synthfaces",
    "classifier_synthfaces",
    "regressor_synthfaces",
]


def _recipe_overrides(name: str) -> tuple[str, list[str]]:
    """A bundled recipe's config and overrides (measure's precision, given after, wins)."""
    from segan.train.recipes import RECIPES

    recipe = RECIPES[name]
    return recipe.config, recipe.all_overrides()


def measure(
    name: str, device: str, precision: str, batch: int, cycles: int, recipe: bool = False
) -> dict:
    """Time `cycles` update cycles of one method (a config, or a bundled recipe) here."""
    from segan.train.config import load_config
    from segan.train.trainer import Trainer

    base_rss = rss_mib()
    config_name, extra = _recipe_overrides(name) if recipe else (name, ["data.resolution=128"])
    with tempfile.TemporaryDirectory() as out:
        config = load_config(
            config_name,
            [
                *extra,
                f"optim.batch_size={batch}",
                f"run.mixed_precision={precision}",
                f"run.cpu={str(device == 'cpu').lower()}",
                f"run.output_dir={out}",
                "run.progress=false",
            ],
        )
        trainer = Trainer(config)
        gan = trainer.task.gan
        cycle = config.optim.n_critic if gan else 1
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        trainer.train_step(0)  # warm-up (a generator step too)
        times = time_cycles(trainer, 1, cycle, cycles, device)
    seconds = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else rss_mib() - base_rss
    return {
        "config": name,
        "method": config.method,
        "device": device,
        "precision": precision,
        "batch": batch,
        "steps_per_cycle": cycle,
        "images_per_s": batch * cycle / seconds,
        "ms_per_step": 1000 * seconds / cycle,
        "peak_memory_mib": peak,
        "cycles_s": times,
    }


def _child(args: argparse.Namespace, name: str, device: str, precision: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        device,
        precision,
        "--batch",
        str(args.batch),
        "--cycles",
        str(args.cycles),
        *(["--recipes"] if args.recipes is not None else []),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        return {"config": name, "device": device, "precision": precision, "error": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(rows: list[dict], devices: list[str]) -> str:
    by = {(r["config"], r["device"], r["precision"]): r for r in rows}
    cols = [(d, p) for d in devices for p in ("no", "bf16")]
    head = " | ".join(f"{d} {'fp32' if p == 'no' else p} img/s (MiB)" for d, p in cols)
    ratio = " | ".join(f"{d} bf16/fp32" for d in devices)
    lines = [f"| config | {head} | {ratio} |", "|---" * (1 + len(cols) + len(devices)) + "|"]
    for name in dict.fromkeys(r["config"] for r in rows):
        cells = []
        for d, p in cols:
            r = by.get((name, d, p), {})
            cells.append(
                f"{r['images_per_s']:.1f} ({r['peak_memory_mib']:.0f})"
                if "images_per_s" in r
                else "error"
            )
        ratios = []
        for d in devices:
            a, b = by.get((name, d, "no"), {}), by.get((name, d, "bf16"), {})
            ok = "images_per_s" in a and "images_per_s" in b
            ratios.append(f"{b['images_per_s'] / a['images_per_s']:.2f}x" if ok else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "DEVICE", "PRECISION"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument(
        "--recipes", nargs="*", help="time bundled recipes instead (none named: every GAN's)"
    )
    parser.add_argument("--devices", nargs="+", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.child:
        recipe = args.recipes is not None
        print(json.dumps(measure(*args.child, args.batch, args.cycles, recipe)))
        return

    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    rows = []
    names = args.methods if args.recipes is None else (args.recipes or _gan_recipes())
    for name in names:
        for device in devices:
            for precision in ("no", "bf16"):
                row = _child(args, name, device, precision)
                rows.append(row)
                shown = {k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}
                shown.pop("cycles_s", None)
                print(shown, flush=True)
    table = _table(rows, devices)
    what = (
        "128 px, the shipped configs' paper widths"
        if args.recipes is None
        else "the bundled recipes (64 px, CPU widths)"
    )
    m = machine()
    note = (
        f"\nBatch {args.batch}, {what}; median of "
        f"{args.cycles} update cycles; torch {m['torch']}, {m['cpu_threads']} "
        f"CPU threads ({m['machine']})"
        + (f", {m['cuda']}" if "cuda" in devices else "")
        + ". Memory: CPU peak RSS above the post-import size; CUDA peak allocated."
    )
    print(table + "\n" + note)
    info = {
        **m,
        "batch": args.batch,
        "cycles": args.cycles,
        "results": rows,
    }
    stem = "train" if args.recipes is None else "train_recipes"
    write_results(args.out, stem, info, table + "\n" + note)


def _gan_recipes() -> list[str]:
    """The bundled recipes that train a GAN (the editors), in training order."""
    from segan.models import REGISTRY
    from segan.train.config import load_config
    from segan.train.recipes import RECIPES

    def role(config: str) -> str | None:  # the evaluators' methods name no registered model
        model = REGISTRY.get(load_config(config).method)
        return getattr(model, "role", None)

    return [n for n, r in RECIPES.items() if role(r.config) == "editor"]


if __name__ == "__main__":
    main()
