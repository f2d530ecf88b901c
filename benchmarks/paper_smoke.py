"""Smoke-train every paper config on prepared publisher-layout trees: images/s, memory, MFU.

Usage: python benchmarks/paper_smoke.py [--steps 200] [--configs NAME ...] [--out DIR]
                                        [--device cuda|cpu] [--peak-tflops T]
On a GPU each config of the papers' datasets (AffectNet, RaFD, KDEF, CelebAMask-HQ; seghgan
with CelebAMask-HQ as its parser's stream) trains `--steps` steps in bf16 at 128 px and its
paper widths, on trees written in each publisher's layout (segan.synth.writers) and prepared
with `segan prepare`, as a user's data would be. On the CPU the same runs at 32 px, tiny widths
and fp32 (this machine's CPU has no native bf16), to check the whole path end to end.

Each config runs in a fresh process with the real Trainer. Rates are medians over update
cycles after the first (a cycle is `n_critic` steps for a GAN, one step otherwise); FLOPs per
cycle are counted once with torch's formulas (matmuls and convolutions, forward and backward,
the gradient penalty's double backward included); MFU is achieved FLOP/s over the device's
peak (bf16 dense: a table of known GPUs, or --peak-tflops). Peak memory: CUDA peak allocated;
on the CPU the process's peak resident set (imports included). Writes paper_smoke.json and
paper_smoke.md (paper_smoke_cpu.* on the CPU).
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
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

# config -> its dataset; seghgan configs also read CelebAMask-HQ (their parser's stream)
CONFIGS = {
    "stargan_rafd": "rafd",
    "stargan_affectnet": "affectnet",
    "stargan_kdef": "kdef",
    "ganimation_affectnet": "affectnet",
    "finegrained_affectnet": "affectnet",
    "sargan_kdef": "kdef",
    "seghgan_bisenet_affectnet": "affectnet",
    "seghgan_bisenet_rafd": "rafd",
    "seghgan_unet_affectnet": "affectnet",
    "seghgan_unet_rafd": "rafd",
    "boxhgan_affectnet": "affectnet",
    "boxhgan_rafd": "rafd",
    "bisenet_celebamaskhq": "celebamaskhq",
    "unet_celebamaskhq": "celebamaskhq",
    "classifier_affectnet": "affectnet",
    "classifier_rafd": "rafd",
    "regressor_affectnet": "affectnet",
}
SPLITS = {"affectnet": "train", "rafd": "train", "kdef": "train", "celebamaskhq": "all"}
# bf16 dense peak FLOP/s of GPUs by a part of their name
PEAK_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "A10G": 125.0}

# The CPU check's widths: the smallest networks each method builds
_HG = ["model.global_conv_dim=8", "model.global_repeat=1", "model.local_conv_dim=4"]
_HD = [
    "discriminator.conv_dim=4",
    "discriminator.repeat_num=4",
    "discriminator.local_conv_dim=4",
    "discriminator.local_repeat_num=3",
]
_D4 = ["discriminator.conv_dim=8", "discriminator.repeat_num=4"]
SMALL = {
    "stargan": ["model.conv_dim=8", "model.repeat_num=1", *_D4],
    "ganimation": ["model.conv_dim=8", "model.repeat_num=1", *_D4],
    "sargan": ["model.conv_dim=8", *_D4],
    "finegrained": ["model.ngf=4", *_D4],
    "seghgan_bisenet": ["model.parser={architecture: bisenet, base_width: 8}", *_HG, *_HD],
    "seghgan_unet": ["model.parser={architecture: unet, base_width: 4}", *_HG, *_HD],
    "boxhgan": [*_HG, "model.crop_size=8", *_HD],
    "bisenet": ["model.base_width=8"],
    "unet": ["model.base_width=4"],
    "classifier": [],
    "regressor": [],
}


def _small(config: str) -> list[str]:
    family = config.rsplit("_", 1)[0]
    return SMALL[family] + (["model.local_repeat=1"] if "hgan" in family else [])


def write_trees(root: Path, resolution: int) -> dict[str, Path]:
    """Each publisher's layout written and prepared at `resolution`: name -> prepared folder."""
    from segan.cli import main as cli
    from segan.synth.writers import (
        write_affectnet,
        write_celebamask_hq,
        write_kdef,
        write_openface_for_manifest,
        write_rafd,
    )

    picture = max(2 * resolution, 64)
    manifest = write_affectnet(root / "affectnet", 48, resolution=picture, seed=0)
    write_openface_for_manifest(root / "openface", manifest)
    write_rafd(root / "rafd", 4, resolution=picture, gazes=("frontal",))
    write_kdef(root / "kdef", 8, resolution=picture)
    write_celebamask_hq(root / "celebamaskhq", 48, picture, picture, seed=1)
    out = {}
    for name, split in SPLITS.items():
        out[name] = root / f"{name}-prepared"
        args = ["prepare", name, str(root / name), str(out[name]), "--split", split]
        args += ["--resolution", str(resolution)]
        if name == "affectnet":
            args += ["--aus", str(root / "openface")]
        if name == "rafd":  # RaFD ships no landmarks; boxhgan_rafd needs them
            args += ["--option", "landmarks=mesh"]
        if cli(args) != 0:
            raise SystemExit(f"segan prepare {name} failed")
    return out


class CountFlops(TorchDispatchMode):
    """Matmul and convolution FLOPs of everything run under it (torch's formulas in
    flop_counter.flop_registry), double backward included: torch's FlopCounterMode tracks
    modules with hooks that autograd.grad (the gradient penalty) does not support."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def measure(config_name: str, trees: dict, device: str, steps: int, batch: int) -> dict:
    """Train one config `steps` steps here; rates, FLOPs per cycle and peak memory."""
    from segan.train.config import load_config
    from segan.train.trainer import Trainer

    cpu = device == "cpu"
    data = trees[CONFIGS[config_name]]
    overrides = [
        f"data.path={data}",
        f"data.resolution={32 if cpu else 128}",
        f"optim.batch_size={batch}",
        f"run.mixed_precision={'no' if cpu else 'bf16'}",
        f"run.cpu={str(cpu).lower()}",
        "run.progress=false",
    ]
    if config_name.startswith("seghgan"):
        overrides.append(f"data.parser_path={trees['celebamaskhq']}")
    if cpu:
        overrides += _small(config_name)
    with tempfile.TemporaryDirectory() as out:
        config = load_config(config_name, [*overrides, f"run.output_dir={out}"])
        trainer = Trainer(config)
        cycle = config.optim.n_critic if trainer.task.gan else 1
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with CountFlops() as counter:  # the first cycle: counted (and a warm-up)
            for step in range(cycle):
                trainer.train_step(step)
        flops = counter.total
        timed = max(steps, 2 * cycle) // cycle - 1  # whole cycles after the first
        times = time_cycles(trainer, cycle, cycle, timed, device)
        step = cycle * (timed + 1)
    seconds = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else rss_mib()
    return {
        "config": config_name,
        "device": device,
        "precision": config.run.mixed_precision,
        "resolution": config.data.resolution,
        "batch": batch,
        "steps": step,
        "images_per_s": batch * cycle / seconds,
        "ms_per_step": 1000 * seconds / cycle,
        "tflop_per_cycle": flops / 1e12,
        "achieved_tflops": flops / seconds / 1e12,
        "peak_memory_mib": peak,
    }


def _peak_tflops(device: str, given: float | None) -> float | None:
    if given:
        return given
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", nargs=2, metavar=("CONFIG", "TREES_JSON"))
    p.add_argument("--configs", nargs="+", default=list(CONFIGS))
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=None, help="16 on a GPU, 4 on the CPU")
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    p.add_argument("--device", default=default_device, choices=("cuda", "cpu"))
    p.add_argument("--peak-tflops", type=float, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    batch = args.batch or (16 if args.device == "cuda" else 4)
    if args.child:
        trees = {k: Path(v) for k, v in json.loads(args.child[1]).items()}
        row = measure(args.child[0], trees, args.device, args.steps, batch)
        print(json.dumps(row))
        return
    unknown = sorted(set(args.configs) - set(CONFIGS))
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; known: {list(CONFIGS)}")
    peak = _peak_tflops(args.device, args.peak_tflops)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        trees = write_trees(Path(tmp), 32 if args.device == "cpu" else 128)
        spec = json.dumps({k: str(v) for k, v in trees.items()})
        for name in args.configs:
            cmd = [sys.executable, __file__, "--child", name, spec, "--steps", str(args.steps)]
            cmd += ["--device", args.device, "--batch", str(batch)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["?"])[-1]
                row = {"config": name, "device": args.device, "error": tail}
            else:
                row = json.loads(done.stdout.strip().splitlines()[-1])
                if peak:
                    row["mfu"] = row["achieved_tflops"] / peak
            rows.append(row)
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
    lines = [
        "| config | img/s | ms/step | GFLOP/cycle | achieved TFLOP/s | MFU | peak MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['config']} | error: {r['error']} | | | | | |")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
        lines.append(
            f"| {r['config']} | {r['images_per_s']:.1f} | {r['ms_per_step']:.0f} | "
            f"{1000 * r['tflop_per_cycle']:.1f} | {r['achieved_tflops']:.3f} | {mfu} | "
            f"{r['peak_memory_mib']:.0f} |"
        )
    m = machine()
    where = m["cuda"] if args.device == "cuda" else f"{m['machine']}, {m['cpu_threads']} threads"
    first = next((r for r in rows if "error" not in r), {})
    note = (
        f"\n{args.steps} steps a config, batch {batch}, {first.get('resolution', '?')} px, "
        f"{first.get('precision', '?')}, {where}, torch {m['torch']}"
        + ("; CPU: tiny widths, a check of the path, not of speed" if args.device == "cpu" else "")
        + (f"; MFU against {peak} TFLOP/s bf16 dense" if peak else "")
        + "."
    )
    table = "\n".join(lines) + "\n" + note
    print(table)
    stem = "paper_smoke" if args.device == "cuda" else "paper_smoke_cpu"
    info = {**m, "device": where, "peak_tflops": peak, "results": rows}
    write_results(args.out, stem, info, table)


if __name__ == "__main__":
    main()
