"""SynthFaces rendering speed: faces per second at 64, 128 and 256 px (CPU, and CUDA if any).

Usage: python benchmarks/render.py [--batch 64] [--repeats 9] [--out benchmarks/results]
Prints a markdown table and writes render.json + render.md. Figures are medians over repeats
(after a warm-up), with the min-max spread, because shared machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from segan.data.synthfaces import SynthFaces, render


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


def _time_loader(resolution: int, batch: int, batches: int) -> float:
    """Faces per second through a DataLoader over the SynthFaces dataset (main process)."""
    ds = SynthFaces("train", batch * (batches + 1), resolution)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True)
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batch * batches / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
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
    loader = _time_loader(128, args.batch, 8)
    info = {
        "machine": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "dataloader_128px_faces_per_s": loader,
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
        f"DataLoader over `SynthFaces` (128 px, batch {args.batch}, main process): "
        f"{loader:.0f} faces/s. torch {torch.__version__}, {torch.get_num_threads()} CPU threads."
    )
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "render.json").write_text(json.dumps(info, indent=2) + "\n")
    (out / "render.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
