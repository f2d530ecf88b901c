"""Inference cost of every editor at 128 px: parameters, GFLOPs, ms per face at batch 1 and 32.

Usage: python benchmarks/inference.py [--repeats 7] [--out benchmarks/results]
Runs on the CPU, and on CUDA in bf16 autocast when a GPU is present. Models are randomly
initialised (speed does not depend on the weights). Prints a markdown table and writes
inference.json + inference.md. Figures are medians over repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from report import RESULTS, machine, write_results
from torch.utils.flop_counter import FlopCounterMode

from segan.labels import NUM_AUS
from segan.models.boxhgan import BoxHGAN
from segan.models.finegrained import FineGrained
from segan.models.ganimation import GANimation
from segan.models.sargan import SARGAN
from segan.models.seghgan import SegHGAN
from segan.models.stargan import StarGAN

EDITORS = {
    "stargan": lambda: StarGAN(),
    "ganimation": lambda: GANimation(),
    "sargan": lambda: SARGAN(),
    "finegrained": lambda: FineGrained(),
    "seghgan (bisenet)": lambda: SegHGAN(parser={"architecture": "bisenet"}),
    "seghgan (unet)": lambda: SegHGAN(parser={"architecture": "unet"}),
    "boxhgan": lambda: BoxHGAN(),
}


def _condition(model: torch.nn.Module, n: int, device: str) -> torch.Tensor:
    """One-hot labels, absolute AUs / 5 in [0, 1] or relative AUs / 5 in [-0.5, 0.5]."""
    if model.condition_kind == "label":
        eye = torch.eye(len(model.labels), device=device)
        return eye[torch.arange(n, device=device) % len(model.labels)]
    aus = torch.rand(n, NUM_AUS, device=device)
    return aus if model.condition_kind == "aus" else aus - 0.5


def _gflops(model: torch.nn.Module) -> float:
    """Forward GFLOPs for one 128 px face (multiply-add counted as 2)."""
    x = torch.zeros(1, 3, 128, 128)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x, _condition(model, 1, "cpu"))
    return counter.get_total_flops() / 1e9


def _time(model, batch: int, repeats: int, device: str, bf16: bool) -> float:
    """Median milliseconds per face."""
    x = torch.rand(batch, 3, 128, 128, device=device) * 2 - 1
    c = _condition(model, batch, device)
    ctx = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if bf16
        else torch.autocast("cpu", enabled=False)
    )
    times = []
    with torch.inference_mode(), ctx:
        for r in range(repeats + 1):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x, c)
            if device == "cuda":
                torch.cuda.synchronize()
            if r:
                times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    devices = [("cpu", False)] + ([("cuda", True)] if torch.cuda.is_available() else [])
    rows = []
    for name, make in EDITORS.items():
        torch.manual_seed(0)
        model = make().eval()
        row = {
            "editor": name,
            "architecture": model.architecture,
            "parameters_m": model.num_parameters() / 1e6,
            "gflops": _gflops(model),
        }
        for device, bf16 in devices:
            model.to(device)
            for batch in args.batches:
                key = f"{device}{'_bf16' if bf16 else ''}_ms_per_face_b{batch}"
                repeats = args.repeats if batch == 1 else max(2, args.repeats // 3)
                row[key] = _time(model, batch, repeats, device, bf16)
            model.to("cpu")
        rows.append(row)
        print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}, flush=True)

    timing = [k for k in rows[0] if k.endswith(tuple(f"_b{b}" for b in args.batches))]
    header = "| editor | params (M) | GFLOPs | " + " | ".join(timing) + " |"
    lines = [header, "|---" * (3 + len(timing)) + "|"]
    for r in rows:
        cells = [f"{r[k]:.1f}" for k in timing]
        lines.append(
            f"| {r['editor']} | {r['parameters_m']:.2f} | {r['gflops']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    lines += ["", f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, 128 px."]
    table = "\n".join(lines)
    print(table)
    write_results(args.out, "inference", {**machine(), "results": rows}, table)


if __name__ == "__main__":
    main()
