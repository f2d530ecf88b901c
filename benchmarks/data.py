"""Reading training data: decoding the published files vs a folder `segan prepare` wrote.

Usage: python benchmarks/data.py [--n 256] [--repeats 5] [--out benchmarks/results]
Builds AffectNet and CelebAMask-HQ trees in the publishers' layouts with the SynthFaces writers
(AffectNet faces rendered at 256 px inside larger JPEGs; CelebA-HQ images at 1024 px with
512 px part masks, as published), prepares each at 128 px, and times one pass over the items:
item by item through the loader (decode, crop, resize; masks fused from the part PNGs) and
through the prepared folder (item by item, and in training batches of 16 as the trainer reads
them). Figures are medians over repeats; the ratio is prepared / originals.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from report import RESULTS, machine, write_results

from segan.data.affectnet import AffectNet
from segan.data.cache import PreparedFaces, prepare
from segan.data.celebamask_hq import CelebAMaskHQ
from segan.synth.writers import write_affectnet, write_celebamask_hq

RESOLUTION = 128


def _pass_seconds(read, n: int, repeats: int) -> list[float]:
    """Seconds for `repeats` passes of read(k) over k < n, after one warm-up pass."""
    times = []
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        for k in range(n):
            read(k)
        if r:
            times.append(time.perf_counter() - t0)
    return times


def _batch_seconds(prepared: PreparedFaces, repeats: int, batch: int = 16) -> list[float]:
    """Seconds for passes in shuffled batches (random rows, as training draws them)."""
    n = len(prepared)
    times = []
    for r in range(repeats + 1):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(r))
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            prepared.batch(order[s : s + batch])
        if r:
            times.append(time.perf_counter() - t0)
    return times


def _row(name: str, dataset, folder: Path, repeats: int, bytes_source: int) -> dict:
    meta = prepare(dataset, folder)
    prepared = PreparedFaces(folder)
    n = len(prepared)
    original = statistics.median(_pass_seconds(dataset.load, n, repeats))
    items = statistics.median(_pass_seconds(prepared.__getitem__, n, repeats))
    batches = statistics.median(_batch_seconds(prepared, repeats))
    size = sum(f.stat().st_size for f in folder.iterdir())
    return {
        "dataset": name,
        "items": n,
        "keys": meta["keys"],
        "prepare_s": meta["seconds"],
        "originals_items_per_s": n / original,
        "prepared_items_per_s": n / items,
        "prepared_batched_items_per_s": n / batches,
        "speedup_items": original / items,
        "speedup_batched": original / batches,
        "source_mib": bytes_source / 2**20,
        "prepared_mib": size / 2**20,
    }


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="AffectNet faces (CelebA: n / 4)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a loader worker's view: one core each
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_affectnet(tmp / "affectnet", args.n, resolution=256, extra_codes=False)
        affectnet = AffectNet(tmp / "affectnet", "training", RESOLUTION)
        rows.append(
            _row(
                "AffectNet (JPEG ~2x the 256 px face)",
                affectnet,
                tmp / "affectnet-128",
                args.repeats,
                _tree_bytes(tmp / "affectnet" / "Manually_Annotated_Images"),
            )
        )
        write_celebamask_hq(tmp / "celeba", max(8, args.n // 4), 1024, 512)
        celeba = CelebAMaskHQ(tmp / "celeba", "all", RESOLUTION)
        rows.append(
            _row(
                "CelebAMask-HQ (1024 px JPEG + 512 px part PNGs)",
                celeba,
                tmp / "celeba-128",
                args.repeats,
                _tree_bytes(tmp / "celeba"),
            )
        )
    lines = [
        "| data (128 px crops) | items | originals items/s | prepared items/s | speed-up | "
        "prepared, batches of 16 | speed-up | source MiB | prepared MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['items']} | {r['originals_items_per_s']:.0f} | "
            f"{r['prepared_items_per_s']:.0f} | {r['speedup_items']:.0f}x | "
            f"{r['prepared_batched_items_per_s']:.0f} | {r['speedup_batched']:.0f}x | "
            f"{r['source_mib']:.1f} | {r['prepared_mib']:.1f} |"
        )
    lines += [
        "",
        f"One thread, medians of {args.repeats} passes after a warm-up; torch {torch.__version__}.",
    ]
    table = "\n".join(lines)
    print(table)
    info = {**machine(), "repeats": args.repeats, "results": rows}
    write_results(args.out, "data", info, table)


if __name__ == "__main__":
    main()
