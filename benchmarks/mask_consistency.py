"""How far the FFHQ mesh masks agree with themselves, and what a parser's logit grid can hold.

A parser scored against the mesh masks cannot be judged without knowing how reproducible the
masks are. Three measurements on FFHQ faces:

- **Jittered readings at 128 px**: the Landmarker reads each held-out 128 px face twice, each
  time through a small random similarity warp (scale 1-2, rotation within 3 degrees, shift
  within 2 px) mapped back, and the two masks are compared; so is the plain reading (what
  `labels/ffhq-128.npz` holds) with the mean of eight jittered readings.
- **128 px against 256 px**: masks drawn from the Landmarker's reading of the 128 px picture
  and of the 256 px copy of the same face (ids with both sizes, all training identities).
- **Logit grids**: the held-out masks area-averaged to a g x g grid and enlarged back
  bilinearly, as a parser that predicts at 1/8 of its input size does (BiSeNet parsing a
  128 px face at 256 px predicts 32x32; at 512 px, 64x64).

Every score is mIoU over the mesh's nine classes, the first mask as truth.

Usage: python benchmarks/mask_consistency.py ROOT PREPARED [--faces 200]
  ROOT: FFHQ's folder (128/ and 256/); PREPARED: `segan prepare ffhq ... --split test` output.
Writes mask_consistency.json + .md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from report import RESULTS, write_results

from segan.labels import NUM_PARTS
from segan.metrics.segmentation import confusion, scores
from segan.photos.images import read_photo
from segan.photos.parts import MESH_PARTS, UNKNOWN, mesh_part_mask


def jittered_reading(landmarker, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The mesh (478, 2) of the largest face, read through a random similarity warp and mapped
    back to the picture's pixels; None if the Landmarker finds no face."""
    n = rgb.shape[0]
    scale, angle = rng.uniform(1.0, 2.0), rng.uniform(-3.0, 3.0)
    shift = rng.uniform(-2.0, 2.0, size=2)
    warp = cv2.getRotationMatrix2D((n / 2, n / 2), angle, scale)
    out = round(n * scale)
    warp[:, 2] += (out - n) / 2 + shift * scale
    warped = cv2.warpAffine(
        rgb, warp, (out, out), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    faces = landmarker.detect(warped)
    if not faces:
        return None
    back = cv2.invertAffineTransform(warp)
    return faces[0].xy @ back[:, :2].T + back[:, 2]


def plain_reading(landmarker, rgb: np.ndarray) -> np.ndarray | None:
    faces = landmarker.detect(rgb)
    return faces[0].xy if faces else None


def mesh_miou(matrix: torch.Tensor) -> dict:
    result = scores(matrix, labelled_only=True)
    return {
        "miou": round(result["miou"], 1),
        "iou": {k: round(v, 1) for k, v in result["iou"].items() if k in MESH_PARTS},
    }


def compare(truth: np.ndarray, other: np.ndarray) -> torch.Tensor:
    """Confusion of `other` against `truth`; `other`'s unknown pixels count as background."""
    other = np.where(other == UNKNOWN, 0, other)
    return confusion(torch.from_numpy(other), torch.from_numpy(truth))


def readings(root: Path, ids: list[int], seed: int = 0) -> dict:
    from segan.photos.landmarks import MeshLandmarker

    rng = np.random.default_rng(seed)
    landmarker = MeshLandmarker.from_file()
    zero = lambda: torch.zeros(NUM_PARTS, NUM_PARTS, dtype=torch.long)  # noqa: E731
    two_jittered, plain_vs_mean, small_vs_large = zero(), zero(), zero()
    counted = {"jittered": 0, "sizes": 0}
    for face_id in ids:
        rgb = read_photo(root / "128" / f"{face_id:05d}.jpg").rgb
        plain = plain_reading(landmarker, rgb)
        jittered = [jittered_reading(landmarker, rgb, rng) for _ in range(8)]
        if plain is None or any(j is None for j in jittered):
            continue
        two_jittered += compare(mesh_part_mask(jittered[0], 128), mesh_part_mask(jittered[1], 128))
        mean = mesh_part_mask(np.mean(jittered, axis=0), 128)
        plain_vs_mean += compare(mesh_part_mask(plain, 128), mean)
        counted["jittered"] += 1
    large_ids = sorted(int(p.stem) for p in (root / "256").glob("*.jpg"))[: len(ids)]
    for face_id in large_ids:
        small = plain_reading(landmarker, read_photo(root / "128" / f"{face_id:05d}.jpg").rgb)
        large = plain_reading(landmarker, read_photo(root / "256" / f"{face_id:05d}.jpg").rgb)
        if small is None or large is None:
            continue
        small_vs_large += compare(mesh_part_mask(small, 128), mesh_part_mask(large / 2, 128))
        counted["sizes"] += 1
    landmarker.close()
    return {
        "faces": counted,
        "two_jittered_readings": mesh_miou(two_jittered),
        "plain_reading_vs_mean_of_8": mesh_miou(plain_vs_mean),
        "read_at_128_vs_256": mesh_miou(small_vs_large),
    }


def grid_ceilings(prepared: Path, grids: tuple[int, ...] = (16, 32, 48, 64)) -> dict:
    masks = torch.from_numpy(np.load(prepared / "mask.npy")).long()
    size = masks.shape[-1]
    out = {}
    for grid in grids:
        matrix = torch.zeros(NUM_PARTS, NUM_PARTS, dtype=torch.long)
        for start in range(0, len(masks), 64):
            batch = masks[start : start + 64]
            known = torch.where(batch == UNKNOWN, 0, batch)
            onehot = F.one_hot(known, NUM_PARTS).permute(0, 3, 1, 2).float()
            small = F.interpolate(onehot, size=(grid, grid), mode="area")
            back = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=True)
            matrix += confusion(back.argmax(1), batch)
        out[f"{grid}x{grid}"] = mesh_miou(matrix)
    return out


def markdown(result: dict) -> str:
    parts = list(MESH_PARTS)
    lines = [
        "| comparison | faces | mIoU | " + " | ".join(parts) + " |",
        "|---|---|---|" + "---|" * len(parts),
    ]
    named = [
        ("two jittered readings at 128 px", "two_jittered_readings", "jittered"),
        ("plain reading vs mean of 8 jittered", "plain_reading_vs_mean_of_8", "jittered"),
        ("read at 128 px vs at 256 px", "read_at_128_vs_256", "sizes"),
    ]
    for label, key, count in named:
        row = result[key]
        cells = " | ".join(f"{row['iou'][p]:.1f}" for p in parts)
        lines.append(f"| {label} | {result['faces'][count]} | {row['miou']:.1f} | {cells} |")
    for grid, row in result["grids"].items():
        cells = " | ".join(f"{row['iou'][p]:.1f}" for p in parts)
        faces = result["grid_faces"]
        lines.append(
            f"| held-out masks through a {grid} grid | {faces} | {row['miou']:.1f} | {cells} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path, help="FFHQ's folder, holding 128/ and 256/")
    ap.add_argument("prepared", type=Path, help="the prepared held-out split (with masks)")
    ap.add_argument("--faces", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    result = readings(args.root, list(range(4500, 4500 + args.faces)))
    result["grids"] = grid_ceilings(args.prepared)
    result["grid_faces"] = int(np.load(args.prepared / "mask.npy", mmap_mode="r").shape[0])
    table = markdown(result)
    write_results(RESULTS, "mask_consistency", result, table)
    print(table)


if __name__ == "__main__":
    main()
