"""A picture of face parsers on real photos: each parser's part map of FFHQ-aligned crops.

Rows: scikit-image's astronaut and matplotlib's Grace Hopper (public-domain photos that ship
inside those packages), cut the FFHQ way at 128 px, and two SynthFaces test faces; columns: the
crop, then each parser's part map (`bundled:NAME`, a model folder or a run folder for its latest
checkpoint), each parsing the faces at the size it was trained at.

Usage: python benchmarks/parser_maps.py [--parsers bisenet unet runs/bundled/NAME ...]
       [--out benchmarks/results/real_parsers.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
from bundled_models import ParsedAt, open_model, trained_size

from segan.photos.images import to_tensor
from segan.synth.dataset import SynthFaces
from segan.visualize import colorize_mask, to_uint8

SIDE = 128


def open_parser(spec: str) -> torch.nn.Module:
    """`bundled:NAME` or NAME, a model folder, or a run folder (its latest checkpoint), taking
    pictures at any size (parsed at the size it was trained at)."""
    name = Path(spec.removeprefix("bundled:")).name
    folders = {name: spec} if Path(spec).exists() else {}
    return ParsedAt(open_model(name, folders)[0].eval(), trained_size(name, folders))


def crops() -> list[np.ndarray]:
    from alignment import sample_photos

    from segan.photos.finder import FaceFinder

    finder = FaceFinder.from_files()
    out = [finder.largest(rgb).alignment().crop(rgb, SIDE) for rgb in sample_photos().values()]
    synth = SynthFaces("test", 2, SIDE).batch([0, 1])["image"]
    return out + list(to_uint8(synth))


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parsers", nargs="+", default=["bisenet", "unet"])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/real_parsers.png"))
    args = ap.parse_args()
    parsers = [open_parser(spec) for spec in args.parsers]
    rows = []
    for crop in crops():
        x = to_tensor(crop)[None]
        maps = [colorize_mask(p(x).argmax(1))[0] for p in parsers]
        rows.append(np.concatenate([crop, *maps], axis=1))
    picture = np.concatenate(rows)
    picture = cv2.resize(picture, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}: columns crop, {', '.join(args.parsers)}")


if __name__ == "__main__":
    main()
