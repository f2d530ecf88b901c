"""SynthFaces rendering speed: faces per second at 64, 128 and 256 px (CPU, and CUDA if any).

Usage: python benchmarks/render.py [--batch 64] [--repeats 9] [--out benchmarks/results]
Prints a markdown table and writes render.json + render.md. Figures are medians over repeats
(after a warm-up), with the min-max spread, because shared machines are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from report import RESULTS, machine, write_results

from segan.synth.dataset import SynthFaces, render


def _time_render(resolution: int, batch: int, repeats: int, device: str) -> list[float]:
    """Seconds per batch for `repeats` batches of fresh identities and random AUs."""
    gen = torch.Generator().manual_seed(resolution)
    times = []
    for r in range(repeats + 1):
        ids = torch.randint(0, 2_000_000_000, (batch,), generator=gen)
        aus = torch.rand(batch, 17, generator=gen) * 5
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = render(ids, aus, resolution, device=device)
        out["image"].sum().item()  # wait for the device
        if r:  # the first batch warms up caches (texture bank, allocator)
            times.append(time.perf_counter() - t0)
    return times


def _time_loader(resolution: int, batch: int, batches: int, workers: int) -> float:
    """Faces per second through `SynthFaces.loader` (batches rendered in one call each).

    With workers, each worker process renders whole batches on one thread, which keeps both
    cores busy even in the renderer's many small per-window operations.
    """
    ds = SynthFaces("train", batch * (batches + 4), resolution)
    it = iter(ds.loader(batch, num_workers=workers))
    for _ in range(max(workers, 1)):
        next(it)  # start-up and the first batches
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batch * batches / (time.perf_counter() - t0)


def _memory_bandwidth() -> float:
    """GB/s of a large in-place add: a yardstick for how fast this machine is right now."""
    x = torch.ones(16 * 1024 * 1024)
    y = torch.ones_like(x)
    times = []
    for _ in range(9):
        t0 = time.perf_counter()
        x.add_(y)
        times.append(time.perf_counter() - t0)
    return 3 * x.numel() * 4 / statistics.median(times) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        batch = args.batch if device == "cpu" else 4 * args.batch
        for res in args.resolutions:
            times = _time_render(res, batch, args.repeats, device)
            med = statistics.median(times)
            rows.append(
                {
                    "device": device,
                    "resolution": res,
                    "batch": batch,
                    "faces_per_s_median": batch / med,
                    "faces_per_s_min": batch / max(times),
                    "faces_per_s_max": batch / min(times),
                    "ms_per_face_median": 1000 * med / batch,
                }
            )
    bandwidth = _memory_bandwidth()
    loaders = {w: _time_loader(128, args.batch, 12, w) for w in (0, 2)}
    info = {
        **machine(),
        "memory_bandwidth_gb_s": bandwidth,
        "dataloader_128px_faces_per_s": {f"{w}_workers": v for w, v in loaders.items()},
        "results": rows,
    }
    lines = [
        "| device | px | batch | faces/s (median) | min-max | ms/face |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['device']} | {r['resolution']} | {r['batch']} | "
            f"{r['faces_per_s_median']:.0f} | {r['faces_per_s_min']:.0f}-"
            f"{r['faces_per_s_max']:.0f} | {r['ms_per_face_median']:.2f} |"
        )
    lines.append("")
    lines.append(
        f"DataLoader over `SynthFaces` at 128 px, batch {args.batch}: {loaders[0]:.0f} faces/s "
        f"in the main process, {loaders[2]:.0f} faces/s with 2 single-threaded workers. "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"memory bandwidth {bandwidth:.1f} GB/s during the run."
    )
    table = "\n".join(lines)
    print(table)
    write_results(args.out, "render", info, table)


if __name__ == "__main__":
    main()
