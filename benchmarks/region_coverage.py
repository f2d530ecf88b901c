"""How much of an expression change the hierarchies' regions can hold: seghgan's dilated part
masks and boxhgan's landmark boxes, scored by pasting the true target into them.

Usage: python benchmarks/region_coverage.py [--faces 150] [--resolution 64] [--out DIR]

A hierarchy's local branches edit only inside their regions; outside, the global branch has to
make the change. For each held-out SynthFaces face and each of the 7 other expressions, the
"oracle" edit keeps the input outside the regions and takes the exact target render SynthFaces
gives inside them (the best any local branch could do). Reported per region setting: the
regions' share of the image, the share of the true change (sum of |target - input|) inside
them, and the bundled classifier's accuracy on the oracle edits (overall and per target). The
masks are the exact SynthFaces part masks, and the bundled bisenet parser's soft masks, grouped
and dilated as SegHGAN does, at several radii (pixels at 128 px, scaled with the resolution like
SegHGAN's `dilation`).
Writes region_coverage.json and region_coverage.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from report import RESULTS, write_results

import segan
from segan.labels import EXPRESSIONS, FACE_PARTS
from segan.models.boxhgan import box_inside, landmark_boxes
from segan.models.hierarchical import (
    DEFAULT_DILATION,
    DEFAULT_REGIONS,
    dilation_radii,
    grouped_masks,
    part_groups,
)
from segan.synth.dataset import SynthFaces

REGIONS = list(DEFAULT_REGIONS)
# Radii in pixels at 128 px for eyes, brows, nose, mouth: the default, then wider ones.
SETTINGS: list[dict[str, int]] = [
    dict(DEFAULT_DILATION),
    {"eyes": 6, "brows": 6, "nose": 2, "mouth": 6},
    {"eyes": 8, "brows": 8, "nose": 4, "mouth": 8},
    {"eyes": 10, "brows": 10, "nose": 4, "mouth": 10},
]
BOX_MARGIN = 0.25  # BoxHGAN's default


def part_masks(
    probs: torch.Tensor, parts: list[str], dilation: dict[str, int], size: int
) -> torch.Tensor:
    """(N, 1, H, W) union of SegHGAN's region masks from part probabilities (N, C, H, W) whose
    classes are `parts`."""
    groups = part_groups(DEFAULT_REGIONS, parts)
    return grouped_masks(probs, groups, dilation_radii(dilation, REGIONS, size)).amax(1, True)


def box_masks(landmarks: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 1, H, W) union of BoxHGAN's landmark boxes."""
    boxes = landmark_boxes(landmarks.float(), REGIONS, BOX_MARGIN, size).round()
    inside = [box_inside(boxes[:, r], size) for r in range(len(REGIONS))]
    return torch.cat(inside, 1).any(1, keepdim=True).float()


@torch.no_grad()
def oracle_scores(classifier, parser, faces: int, size: int) -> list[dict]:
    """Area, change coverage and oracle accuracy for every region setting: exact part masks,
    the parser's soft masks, and boxes."""
    ds = SynthFaces("test", faces, size, seed=0)
    batch = ds.batch(range(faces))
    x = batch["image"]
    exact = F.one_hot(batch["mask"].long(), len(FACE_PARTS)).permute(0, 3, 1, 2).float()
    parsed = torch.softmax(_resize(parser(x), size), 1)
    sources = {
        "exact masks": (exact, list(FACE_PARTS)),
        "bisenet masks": (parsed, list(parser.part_names)),
    }
    settings = {}
    for source, (probs, parts) in sources.items():
        for d in SETTINGS:
            settings[f"{source} {tuple(d.values())}"] = part_masks(probs, parts, d, size)
    settings[f"boxes (margin {BOX_MARGIN})"] = box_masks(batch["landmarks"], size)
    rows = {name: {"hits": [], "cover": [], "per_target": {}} for name in settings}
    for t, target in enumerate(EXPRESSIONS):
        want = torch.full_like(batch["expression"], t)
        keep = batch["expression"] != want
        truth = ds.pair(list(range(faces)), want)["edited"]
        change = (truth - x).abs().sum(1, keepdim=True)
        for name, m in settings.items():
            oracle = x * (1 - m) + truth * m
            logits = classifier(_resize(oracle, classifier.image_size))
            hit = (logits.argmax(1) == want)[keep].float()
            inside = (change * m).sum((1, 2, 3)) / change.sum((1, 2, 3)).clamp(min=1e-6)
            rows[name]["hits"].append(hit)
            rows[name]["cover"].append(inside[keep])
            rows[name]["per_target"][target] = round(100 * hit.mean().item(), 1)
    out = []
    for name, m in settings.items():
        r = rows[name]
        out.append(
            {
                "regions": name,
                "area_pct": round(100 * m.mean().item(), 1),
                "change_inside_pct": round(100 * torch.cat(r["cover"]).mean().item(), 1),
                "oracle_accuracy": round(100 * torch.cat(r["hits"]).mean().item(), 1),
                "edits": int(torch.cat(r["hits"]).numel()),
                "per_target": r["per_target"],
            }
        )
    return out


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)


def to_markdown(rows: list[dict], faces: int, size: int) -> str:
    head = (
        f"Regions on {faces} held-out SynthFaces faces at {size} px, each pasted with the true "
        f"render of the 7 other expressions ({rows[0]['edits']} oracle edits per setting). "
        "Mask radii: eyes, brows, nose, mouth in pixels at 128 px.\n\n"
        "| regions | area % | change inside % | oracle accuracy % | "
        + " | ".join(EXPRESSIONS)
        + " |\n|"
        + "---|" * (4 + len(EXPRESSIONS))
        + "\n"
    )
    lines = [
        f"| {r['regions']} | {r['area_pct']} | {r['change_inside_pct']} | "
        f"{r['oracle_accuracy']} | "
        + " | ".join(str(r["per_target"][e]) for e in EXPRESSIONS)
        + " |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=150)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    classifier = segan.load("bundled:classifier").eval()
    parser = segan.load("bundled:bisenet").eval()
    rows = oracle_scores(classifier, parser, args.faces, args.resolution)
    result = {"faces": args.faces, "resolution": args.resolution, "settings": rows}
    md = to_markdown(rows, args.faces, args.resolution)
    write_results(args.out, "region_coverage", result, md)
    print(md)


if __name__ == "__main__":
    main()
