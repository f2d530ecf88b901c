"""The labels `segan annotate` computes for FFHQ, measured: counts, AU and expression
distributions, the expression rule against the expression judge, and the AU scale against
SynthFaces' exact intensities.

- Counts and time come from the annotations file (`segan annotate` records its seconds).
- The AU rule's expression is compared with what the judge (fer's mini-Xception, which nobody
  here trained) reads on the held-out faces (ids 4500-4999): a confusion table, the agreement
  overall, and the judge's happy-rate among faces the rule calls happy and neutral.
- SynthFaces renders with known AU intensities are read by the Landmarker: the rank
  correlation of each AU's estimate with the exact intensity says which AUs the mapping can
  see on these faces at all.

Usage: python benchmarks/annotate.py FOLDER [--labels labels/ffhq-128.npz] [--synth 400]
Writes annotate.json + annotate.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from report import RESULTS, write_results

from segan.labels import AU_IDS, EXPRESSIONS
from segan.photos.annotate import Annotations
from segan.photos.aus import aus_from_blendshapes
from segan.photos.images import read_photo


def judge_agreement(folder: Path, labels: Annotations, ids: range) -> dict:
    """The rule's expressions against the judge's reading on the faces `ids` of `folder`."""
    from segan.judges.expression import load_expression_judge

    judge = load_expression_judge(download=False)
    rule = labels.expressions()
    pairs = []
    images, kept = [], []
    for face_id in ids:
        k = labels.index(f"{face_id:05d}.jpg")
        if k is None or rule[k] < 0:
            continue
        rgb = read_photo(folder / labels.names[k]).rgb
        images.append(torch.from_numpy(rgb).permute(2, 0, 1).float() / 127.5 - 1)
        kept.append(k)
    probs = torch.cat([judge(torch.stack(images[s : s + 64])) for s in range(0, len(images), 64)])
    read = probs.argmax(1).numpy()
    for k, j in zip(kept, read, strict=True):
        pairs.append((int(rule[k]), int(j)))
    table = np.zeros((len(EXPRESSIONS), len(EXPRESSIONS)), int)
    for r, j in pairs:
        table[r, j] += 1
    rule_arr = np.array([r for r, _ in pairs])
    judge_arr = np.array([j for _, j in pairs])
    happy, neutral = EXPRESSIONS.index("happy"), EXPRESSIONS.index("neutral")
    return {
        "faces": len(pairs),
        "agreement": float((rule_arr == judge_arr).mean() * 100),
        "judge_happy_rate_when_rule_happy": float((judge_arr[rule_arr == happy] == happy).mean())
        * 100,
        "judge_happy_rate_when_rule_neutral": float(
            (judge_arr[rule_arr == neutral] == happy).mean()
        )
        * 100,
        "rule_counts": {EXPRESSIONS[e]: int((rule_arr == e).sum()) for e in range(8)},
        "judge_counts": {EXPRESSIONS[e]: int((judge_arr == e).sum()) for e in range(8)},
        "confusion_rule_rows_judge_columns": table.tolist(),
    }


def synth_correlation(n: int) -> dict[str, float]:
    """Spearman correlation of each AU estimate with SynthFaces' exact intensity (faces with
    1-3 random AUs at random intensities, 256 px)."""
    from scipy.stats import spearmanr

    from segan.photos.landmarks import MeshLandmarker
    from segan.synth.dataset import render
    from segan.visualize import to_uint8

    landmarker = MeshLandmarker.from_file(max_faces=1)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 2_000_000_000, (n,), generator=gen)
    aus = torch.zeros(n, len(AU_IDS))
    for row in range(n):
        k = int(torch.randint(1, 4, (1,), generator=gen))
        pick = torch.randperm(len(AU_IDS), generator=gen)[:k]
        aus[row, pick] = torch.rand(k, generator=gen) * 5
    shapes, keep = [], []
    for s in range(0, n, 50):
        pictures = to_uint8(render(ids[s : s + 50], aus[s : s + 50], 256)["image"])
        for j, rgb in enumerate(pictures):
            faces = landmarker.detect(np.ascontiguousarray(rgb))
            if faces:
                shapes.append(faces[0].blendshapes)
                keep.append(s + j)
    estimate = aus_from_blendshapes(np.array(shapes))
    exact = aus[keep].numpy()
    out = {"faces": len(keep)}
    for k, au in enumerate(AU_IDS):
        out[f"AU{au}"] = float(spearmanr(estimate[:, k], exact[:, k]).correlation)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, help="the annotated pictures (e.g. FFHQ's 128 px)")
    ap.add_argument("--labels", type=Path, default=Path("labels/ffhq-128.npz"))
    ap.add_argument("--synth", type=int, default=400, help="SynthFaces renders (0: skip)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    labels = Annotations.load(args.labels)
    found = labels.found
    aus = labels.aus()[found]
    result = {
        "pictures": len(labels),
        "faces_found": int(found.sum()),
        "seconds": labels.meta.get("seconds"),
        "expressions": labels.summary()["expressions"],
        "au": {
            f"AU{au}": {
                "mean": float(aus[:, k].mean()),
                "p90": float(np.percentile(aus[:, k], 90)),
                "share_at_least_1.5": float((aus[:, k] >= 1.5).mean() * 100),
            }
            for k, au in enumerate(AU_IDS)
        },
        "judge_on_held_out": judge_agreement(args.folder, labels, range(4500, 5000)),
    }
    if args.synth:
        result["synthfaces_spearman"] = synth_correlation(args.synth)
    j = result["judge_on_held_out"]
    lines = [
        f"# FFHQ labels ({args.labels})",
        "",
        f"{result['faces_found']} of {result['pictures']} pictures have a face "
        f"({result['seconds']} s to annotate on this machine).",
        "",
        "| expression (AU rule) | faces |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in result["expressions"].items()],
        "",
        "| AU | mean | 90th percentile | share >= 1.5 (%) |",
        "|---|---|---|---|",
        *[
            f"| {k} | {v['mean']:.2f} | {v['p90']:.2f} | {v['share_at_least_1.5']:.1f} |"
            for k, v in result["au"].items()
        ],
        "",
        f"Against the expression judge on the {j['faces']} held-out faces (ids 4500-4999): "
        f"agreement {j['agreement']:.1f}%; the judge reads happy on "
        f"{j['judge_happy_rate_when_rule_happy']:.1f}% of the faces the rule calls happy and "
        f"{j['judge_happy_rate_when_rule_neutral']:.1f}% of those it calls neutral.",
        "",
        "| rule \\ judge | " + " | ".join(EXPRESSIONS) + " |",
        "|---|" + "---|" * len(EXPRESSIONS),
        *[
            f"| {EXPRESSIONS[r]} | " + " | ".join(str(v) for v in row) + " |"
            for r, row in enumerate(j["confusion_rule_rows_judge_columns"])
            if sum(row)
        ],
    ]
    if args.synth:
        s = result["synthfaces_spearman"]
        lines += [
            "",
            f"AU estimate vs SynthFaces' exact intensity, Spearman correlation over {s['faces']} "
            "renders with 1-3 random AUs:",
            "",
            "| " + " | ".join(f"AU{a}" for a in AU_IDS) + " |",
            "|" + "---|" * len(AU_IDS),
            "| " + " | ".join(f"{s[f'AU{a}']:.2f}" for a in AU_IDS) + " |",
        ]
    write_results(args.out, "annotate", result, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
