"""The README's real before/after picture: the two package-shipped photos that may be shown
(scikit-image's astronaut, matplotlib's Grace Hopper), edited by an editor as the app edits
them, with what the judges nobody here trained read on every edit.

Usage: python benchmarks/real_edits.py [--model bundled:NAME | FOLDER] [--targets happy surprise sad
       neutral] [--side 224] [--out benchmarks/results]

One row per photo: the face as photographed, then one edit per target, each cut from the full
edited photo (the change pasted back) around the model's crop square and shown at `--side` px.
Under each tile: the expression judge's reading of that face in the photo and the identity
judge's distance to the input (the same person below 0.6). The model defaults to the app's
recommended editor (real faces first); a run folder gives its latest checkpoint. Writes
real_edits.png, real_edits.json and real_edits.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alignment import sample_photos

import segan
from segan.bundled import available
from segan.evaluate_real import WINDOW, Judges, PhotoReader
from segan.labels import EXPRESSIONS
from segan.photos.faces import crop_image
from segan.pipeline import EditPipeline
from segan.studio import bundled_editors
from segan.train.bundle import snapshot

LINE = 15  # px per caption line under a tile


def editor_pipeline(spec: str) -> EditPipeline:
    """The app's pipeline around an editor: `bundled:NAME`, a Hub id, a model folder or a
    run folder (its latest checkpoint, cutting faces as its published model would)."""
    folder = Path(spec)
    if not (folder / "checkpoints").is_dir():
        return EditPipeline.load(spec)
    model, _ = snapshot(folder)
    estimator = segan.load("bundled:regressor") if "regressor" in available() else None
    return EditPipeline(model, None, estimator, name=folder.name)


def captioned(picture: np.ndarray, lines: list[str]) -> np.ndarray:
    out = np.full((picture.shape[0] + 4 + LINE * len(lines), picture.shape[1], 3), 255, np.uint8)
    out[: picture.shape[0]] = picture
    for k, line in enumerate(lines):
        y = picture.shape[0] + 14 + LINE * k
        cv2.putText(out, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def reading(probs, descriptor, base_descriptor) -> dict:
    found = {}
    if probs is not None:
        k = int(probs.argmax())
        found["judge"] = EXPRESSIONS[k]
        found["probability"] = round(float(probs[k]), 3)
    if descriptor is not None and base_descriptor is not None:
        found["identity_distance"] = round(float(np.linalg.norm(descriptor - base_descriptor)), 3)
    return found


def cell(read: dict) -> str:
    judged = f"{read['judge']} {read['probability']:.2f}" if "judge" in read else "no face read"
    distance = read.get("identity_distance")
    return judged + ("" if distance is None else f", id {distance:.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="editor (default: the app's recommended one)")
    p.add_argument("--targets", nargs="+", default=["happy", "surprise", "sad", "neutral"])
    p.add_argument("--side", type=int, default=224)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = p.parse_args()
    for target in args.targets:
        if target not in EXPRESSIONS:
            p.error(f"unknown target {target!r}; one of {', '.join(EXPRESSIONS)}")

    t0 = time.perf_counter()
    spec = args.model or bundled_editors()[0]
    pipeline = editor_pipeline(spec)
    judges = Judges.load()
    rows, results = [], {}
    for name, rgb in sample_photos().items():
        photo = pipeline.read(rgb)
        placed = pipeline.place(photo)
        reader = PhotoReader(judges, placed.box, placed.face, WINDOW)
        base_probs, base_id = reader.read(photo.rgb)
        before = reading(base_probs, None, None)
        tiles = [
            captioned(
                crop_image(photo.rgb, placed.box, args.side), ["photo", "judge: " + cell(before)]
            )
        ]
        edits = {}
        for target in args.targets:
            result = pipeline.edit(photo, target, face=placed.face)
            probs, descriptor = reader.read(result.output)
            edits[target] = reading(probs, descriptor, base_id)
            tiles.append(
                captioned(
                    crop_image(result.output, placed.box, args.side),
                    [target, "judge: " + cell(edits[target])],
                )
            )
        rows.append(np.concatenate(tiles, axis=1))
        results[name] = {"photo": before, "edits": edits}
    picture = np.concatenate(rows, axis=0)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "real_edits.png"), picture[..., ::-1])
    record = {
        "model": spec,
        "targets": args.targets,
        "photos": results,
        "judges": judges.used,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "real_edits.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        f"Real photos edited by `{spec}` (benchmarks/real_edits.py): the expression judge's "
        "reading (probability) and the identity judge's distance to the input.",
        "",
        "| photo | as photographed | " + " | ".join(args.targets) + " |",
        "|---|---|" + "---|" * len(args.targets),
    ]
    for name, found in results.items():
        cells = [cell(found["photo"]), *(cell(e) for e in found["edits"].values())]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    (out / "real_edits.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
