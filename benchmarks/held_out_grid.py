"""The held-out grid: 16 held-out real faces x 4 targets at full size, edited as the app edits a
photo, each tile captioned with what the judges nobody here trained read on it.

Usage: python benchmarks/held_out_grid.py PREPARED [--model bundled:NAME | FOLDER]
       [--faces 16] [--targets happy surprise sad neutral] [--out runs/held-out-grid]

PREPARED is a held-out folder `segan prepare ffhq ... --split test` wrote (identities no model
trained on). One row per face: the face, then its edit to each target, at the folder's
resolution (one picture pixel per pixel, no resampling, so speckles and seams show as they
are). Under each tile: the expression judge's reading and the identity judge's distance to the
input (the same person below 0.6). Writes held_out_grid.png, .json and .md into
`--out`.

FFHQ's pictures may not be committed (its terms and the project's data rule), so the picture
goes to the git-ignored runs/ by default and stays on the machine that made it; the figures
in the .json and .md may be quoted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from real_edits import captioned, editor_pipeline, reading

from segan.data.cache import PreparedFaces
from segan.evaluate_real import CLOSE_IDENTITY, Judges, pictures_tensor
from segan.labels import EXPRESSIONS
from segan.metrics.checkerboard import checkerboard
from segan.photos.faces import NoFaceError
from segan.studio import bundled_editors

ROOT = Path(__file__).resolve().parents[1]


def judged(judges: Judges, pictures: list[np.ndarray]) -> tuple[list, list]:
    """The expression judge's probabilities and the identity descriptors of (H, W, 3) uint8
    pictures (None where a judge is not on this machine)."""
    x = pictures_tensor(pictures)
    probs = judges.expression(x).numpy() if judges.expression is not None else None
    ids = judges.identity.describe(x).numpy() if judges.identity is not None else None
    n = len(pictures)
    return (
        [None] * n if probs is None else list(probs),
        [None] * n if ids is None else list(ids),
    )


def caption(read: dict) -> list[str]:
    """Two short lines under a tile as narrow as a 128 px face: the judge's reading, and the
    identity distance to the input."""
    judged = f"{read['judge']} {read['probability']:.2f}" if "judge" in read else "no face read"
    distance = read.get("identity_distance")
    return [judged, "" if distance is None else f"id {distance:.2f}"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("prepared", help="held-out prepared folder (segan prepare ... --split test)")
    p.add_argument("--model", default=None, help="editor (default: the app's recommended one)")
    p.add_argument("--faces", type=int, default=16)
    p.add_argument("--targets", nargs="+", default=["happy", "surprise", "sad", "neutral"])
    p.add_argument("--out", default=str(ROOT / "runs" / "held-out-grid"))
    args = p.parse_args()
    for target in args.targets:
        if target not in EXPRESSIONS:
            p.error(f"unknown target {target!r}; one of {', '.join(EXPRESSIONS)}")
    if args.faces < 1:
        p.error(f"--faces must be at least 1, got {args.faces}")

    t0 = time.perf_counter()
    spec = args.model or bundled_editors()[0]
    pipeline = editor_pipeline(spec)
    judges = Judges.load()
    ds = PreparedFaces(args.prepared)
    rows, records, board = [], [], []
    for k in range(len(ds)):
        if len(rows) == args.faces:
            break
        rgb = np.array(ds.arrays["image"][k])
        photo = pipeline.read(rgb)
        try:
            face = pipeline.find(photo)
            results = [pipeline.edit(photo, t, face=face) for t in args.targets]
        except NoFaceError:
            continue
        probs, ids = judged(judges, [rgb] + [r.output for r in results])
        tiles = [captioned(rgb, [f"face {k}", *caption(reading(probs[0], None, None))])]
        edits = {}
        for j, (target, result) in enumerate(zip(args.targets, results, strict=True)):
            edits[target] = reading(probs[j + 1], ids[j + 1], ids[0])
            tiles.append(captioned(result.output, [target, *caption(edits[target])]))
            x = pictures_tensor([result.crop, result.edited_crop])
            board.append(float(checkerboard(x[:1], x[1:])[0]))
        rows.append(np.concatenate(tiles, axis=1))
        records.append({"index": k, "photo": reading(probs[0], None, None), "edits": edits})
    if not rows:
        raise SystemExit(f"{args.prepared}: the editor found no face in any picture")
    picture = np.concatenate(rows, axis=0)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(picture).save(out / "held_out_grid.png")
    distances = [
        e["identity_distance"]
        for r in records
        for e in r["edits"].values()
        if "identity_distance" in e
    ]
    hits = {
        t: 100.0 * np.mean([r["edits"][t].get("judge") == t for r in records]) for t in args.targets
    }
    summary = {
        "judged_as_target_percent": {t: round(v, 1) for t, v in hits.items()},
        "identity_distance_median": round(float(np.median(distances)), 3) if distances else None,
        "identity_close_percent": (
            round(100.0 * float(np.mean(np.array(distances) < CLOSE_IDENTITY)), 1)
            if distances
            else None
        ),
        "checkerboard_median": round(float(np.median(board)), 3),
    }
    record = {
        "model": spec,
        "prepared": str(args.prepared),
        "targets": args.targets,
        "faces": records,
        "summary": summary,
        "judges": judges.used,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "held_out_grid.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        f"{len(records)} held-out faces of `{args.prepared}` edited by `{spec}` "
        "(benchmarks/held_out_grid.py): judged as the target (%), identity distance, "
        "checkerboard (grey levels).",
        "",
        "| "
        + " | ".join(args.targets)
        + f" | identity median | identity < {CLOSE_IDENTITY} % | checkerboard |",
        "|" + "---|" * (len(args.targets) + 3),
        "| "
        + " | ".join(f"{hits[t]:.1f}" for t in args.targets)
        + f" | {summary['identity_distance_median']} | {summary['identity_close_percent']}"
        + f" | {summary['checkerboard_median']} |",
    ]
    (out / "held_out_grid.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"picture: {out / 'held_out_grid.png'} (FFHQ pixels: keep it out of git)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
