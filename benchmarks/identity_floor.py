"""What the identity judge reads on changes that are not expressions: held-out faces against
lightly altered copies of themselves, and against other people, for the scale of the identity
bar (edits within 0.45 of the input).

Usage: python benchmarks/identity_floor.py PREPARED [--faces 60] [--out benchmarks/results]

PREPARED is a held-out folder `segan prepare ffhq ... --split test` wrote. Each face is
compared with: itself shifted by one pixel; mirrored; resampled to half its side and back (what
a model working at half the resolution loses where it repaints); the same only over the mouth
band or only over the eye band (fixed bands of the FFHQ-aligned crop, feathered); and the next
face in the folder (another person). Prints and writes identity_floor.md / .json: median,
90th percentile and the share below 0.45 and below 0.6 (dlib's same-person threshold).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segan.data.cache import PreparedFaces
from segan.evaluate_real import CLOSE_IDENTITY, pictures_tensor
from segan.judges.identity import SAME_PERSON_BELOW, load_identity_judge

# Bands of an FFHQ-aligned crop, as fractions of its side (top, bottom, left, right)
MOUTH_BAND = (0.625, 0.86, 0.31, 0.69)
EYE_BAND = (0.375, 0.55, 0.23, 0.77)


def half_resolution(rgb: np.ndarray) -> np.ndarray:
    """The picture resized to half its side (area) and back (bilinear)."""
    side = rgb.shape[0]
    small = cv2.resize(rgb, (side // 2, side // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (side, side), interpolation=cv2.INTER_LINEAR)


def in_band(change: Callable[[np.ndarray], np.ndarray], band: tuple[float, ...]):
    """`change` applied only inside `band` of the crop, feathered over a few pixels."""

    def apply(rgb: np.ndarray) -> np.ndarray:
        side = rgb.shape[0]
        top, bottom, left, right = (round(f * side) for f in band)
        weight = np.zeros(rgb.shape[:2], np.float32)
        weight[top:bottom, left:right] = 1.0
        weight = cv2.GaussianBlur(weight, (0, 0), side / 40)[..., None]
        mixed = rgb * (1 - weight) + change(rgb).astype(np.float32) * weight
        return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)

    return apply


CHANGES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "shifted 1 px": lambda rgb: np.roll(rgb, 1, axis=1),
    "mirrored": lambda rgb: rgb[:, ::-1].copy(),
    "half resolution": half_resolution,
    "mouth band at half resolution": in_band(half_resolution, MOUTH_BAND),
    "eye band at half resolution": in_band(half_resolution, EYE_BAND),
}


def summary(distances: np.ndarray) -> dict[str, float]:
    return {
        "median": float(np.median(distances)),
        "p90": float(np.percentile(distances, 90)),
        "below_close": float(100 * np.mean(distances < CLOSE_IDENTITY)),
        "below_same": float(100 * np.mean(distances < SAME_PERSON_BELOW)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("prepared")
    p.add_argument("--faces", type=int, default=60)
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    faces = PreparedFaces(args.prepared)
    count = min(args.faces, len(faces))
    if count < 2:
        raise SystemExit(f"{args.prepared}: needs at least 2 faces, has {len(faces)}")
    judge = load_identity_judge()
    pictures = [np.array(faces.arrays["image"][k]) for k in range(count)]
    base = judge.describe(pictures_tensor(pictures))
    rows = {}
    for name, change in CHANGES.items():
        moved = judge.describe(pictures_tensor([change(rgb) for rgb in pictures]))
        rows[name] = summary((moved - base).norm(dim=1).numpy())
    rows["another person"] = summary((base - base.roll(1, dims=0)).norm(dim=1).numpy())
    side = pictures[0].shape[0]
    lines = [
        f"dlib distance of {count} faces of {args.prepared} ({side} px) to changed copies:",
        "",
        f"| change | median | 90th percentile | < {CLOSE_IDENTITY} % | < {SAME_PERSON_BELOW} % |",
        "|---|---|---|---|---|",
        *(
            f"| {k} | {v['median']:.3f} | {v['p90']:.3f} | {v['below_close']:.1f} | "
            f"{v['below_same']:.1f} |"
            for k, v in rows.items()
        ),
        "",
        f"{time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s.",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "identity_floor.md").write_text("\n".join(lines) + "\n")
    (out / "identity_floor.json").write_text(json.dumps({"faces": count, "rows": rows}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
