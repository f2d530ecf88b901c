"""AffectNet's layouts: the Manually_Annotated images and CSV lists, and the repackaged
per-image folders with .npy annotations."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from segan.data.affectnet import AFFECTNET_COLUMNS
from segan.labels import (
    AFFECTNET_NON_EXPRESSION_CODES,
    AU_MAX_INTENSITY,
    EXPRESSION_INDEX,
    EXPRESSIONS,
    NUM_AUS,
    expression_aus,
)
from segan.synth.writers.common import (
    Face,
    balanced,
    check_count,
    check_writer_resolution,
    draw_intensity,
    face_record,
    pick_identities,
    render_faces,
    save_jpeg,
    seeded_rng,
)

# --- AffectNet --------------------------------------------------------------------------------
AFFECTNET_HEADER = ",".join(AFFECTNET_COLUMNS)
NON_EXPRESSION_CODE = {name: code for code, name in AFFECTNET_NON_EXPRESSION_CODES.items()}
# Circumplex (valence, arousal) centre of each expression, EXPRESSIONS order.
_VALENCE_AROUSAL = np.array(
    [
        (0.0, 0.0),
        (0.75, 0.35),
        (-0.65, -0.35),
        (0.2, 0.75),
        (-0.6, 0.7),
        (-0.65, 0.35),
        (-0.55, 0.65),
        (-0.45, 0.25),
    ]
)
_NO_VALENCE_AROUSAL = -2.0  # AffectNet's value for Uncertain and Non-Face rows
AFFECTNET_HEADER_STYLES: tuple[str, ...] = ("plain", "hash", "none")


# --- AffectNet --------------------------------------------------------------------------------
def _valence_arousal(
    rng: np.random.Generator, expressions: Sequence[str], intensity: float
) -> tuple[float, float]:
    """Valence and arousal near the mean circumplex point of `expressions`, plus small noise."""
    centre = np.mean([_VALENCE_AROUSAL[EXPRESSION_INDEX[e]] for e in expressions], axis=0)
    scale = 0.5 + 0.5 * intensity / AU_MAX_INTENSITY
    va = np.clip(centre * scale + rng.normal(0.0, 0.05, size=2), -1.0, 1.0)
    return round(float(va[0]), 6), round(float(va[1]), 6)


def _affectnet_expression_row(rng: np.random.Generator, expression: str) -> dict[str, Any]:
    """A face with one of the 8 expressions (codes 0..7)."""
    record = face_record(0, expression, draw_intensity(rng, 1.0, 5.0))
    valence, arousal = _valence_arousal(rng, [expression], record["intensity"])
    record.update(code=EXPRESSION_INDEX[expression], valence=valence, arousal=arousal)
    return record


def _affectnet_extra_row(rng: np.random.Generator, code: int) -> dict[str, Any]:
    """A row with a non-expression code: 8 None (a blend of two expressions), 9 Uncertain
    (a faint expression), 10 Non-Face (background only); 9 and 10 get valence/arousal -2."""
    record: dict[str, Any] = {"identity": 0, "code": code}
    record["expression"] = AFFECTNET_NON_EXPRESSION_CODES[code]
    first, second = (str(e) for e in rng.choice(EXPRESSIONS[1:], size=2, replace=False))
    intensity = draw_intensity(rng, 2.0, 4.0) if code == 8 else draw_intensity(rng, 0.3, 1.0)
    aus = expression_aus(EXPRESSION_INDEX[first], intensity)
    if code == 8:
        aus = aus + expression_aus(EXPRESSION_INDEX[second], 0.6 * intensity)
    if code == 10:
        aus, intensity = torch.zeros(NUM_AUS), 0.0
    record["intensity"] = intensity
    record["aus"] = [float(v) for v in aus.clamp(0.0, AU_MAX_INTENSITY).float()]
    if code == 8:
        record["valence"], record["arousal"] = _valence_arousal(rng, [first, second], intensity)
    else:
        record["valence"] = record["arousal"] = _NO_VALENCE_AROUSAL
    return record


def _affectnet_rows(rng: np.random.Generator, n: int, extra_codes: bool) -> list[dict[str, Any]]:
    """Balanced expression rows plus max(1, n // 20) rows of each code 8..10, shuffled."""
    rows = [_affectnet_expression_row(rng, e) for e in balanced(rng, n, EXPRESSIONS)]
    if extra_codes:
        for code in AFFECTNET_NON_EXPRESSION_CODES:
            rows += [_affectnet_extra_row(rng, code) for _ in range(max(1, n // 20))]
    return [rows[int(k)] for k in rng.permutation(len(rows))]


def _face_box(landmarks: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, width, height) around the landmarks with a margin (more above, for the brow),
    clipped to the picture."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    span = hi - lo
    x0 = max(0, math.floor(lo[0] - 0.2 * span[0]))
    y0 = max(0, math.floor(lo[1] - 0.45 * span[1]))
    x1 = min(width, math.ceil(hi[0] + 0.2 * span[0]) + 1)
    y1 = min(height, math.ceil(hi[1] + 0.15 * span[1]) + 1)
    return x0, y0, x1 - x0, y1 - y0


def _margins(rng: np.random.Generator, size: int) -> tuple[int, int, int, int]:
    """Independent (top, bottom, left, right) margins: pictures of varied size and aspect."""
    top, bottom, left, right = rng.integers(size // 8, size * 3 // 4 + 1, size=4)
    return int(top), int(bottom), int(left), int(right)


def _background_patch(face: Face) -> np.ndarray:
    """The image corner (a quarter of the side) with the most background pixels."""
    size = face.image.shape[0]
    side = max(8, size // 4)
    corners = [(0, 0), (0, size - side), (size - side, 0), (size - side, size - side)]
    y, x = max(
        corners, key=lambda c: (face.mask[c[0] : c[0] + side, c[1] : c[1] + side] == 0).sum()
    )
    return face.image[y : y + side, x : x + side]


def _affectnet_picture(rng: np.random.Generator, record: dict[str, Any], face: Face) -> np.ndarray:
    """The face pasted into a larger edge-extended canvas; sets the row's box and landmarks.

    Non-Face rows instead show a background corner of the render, enlarged, with face box and
    all 136 landmark values -1."""
    top, bottom, left, right = _margins(rng, face.image.shape[0])
    if record["code"] == NON_EXPRESSION_CODE["no-face"]:
        width, height = face.image.shape[1] + left + right, face.image.shape[0] + top + bottom
        patch = Image.fromarray(_background_patch(face)).resize((width, height), Image.BILINEAR)
        record["face_box"] = [-1, -1, -1, -1]
        record["landmarks"] = [[-1.0, -1.0]] * len(face.landmarks)
        return np.asarray(patch)
    canvas = np.pad(face.image, ((top, bottom), (left, right), (0, 0)), mode="edge")
    points = np.round(face.landmarks.astype(np.float64) + np.array([left, top]), 2)
    record["face_box"] = list(_face_box(points, canvas.shape[1], canvas.shape[0]))
    record["landmarks"] = points.tolist()
    return canvas


def _affectnet_line(record: Mapping[str, Any]) -> str:
    """One file-list row in AffectNet's column order."""
    marks = ";".join(f"{v:.2f}" for point in record["landmarks"] for v in point)
    box = ",".join(str(v) for v in record["face_box"])
    return (
        f"{record['path'].split('/', 1)[1]},{box},{marks},{record['code']},"
        f"{record['valence']:.6f},{record['arousal']:.6f}"
    )


def _affectnet_headers(header: str | Mapping[str, str]) -> dict[str, str]:
    """The header style of each file list: one style for both, or {list name: style}."""
    styles = {"training": "plain", "validation": "plain"}
    given = {split: header for split in styles} if isinstance(header, str) else dict(header)
    unknown = [k for k in given if k not in styles]
    if unknown:
        raise ValueError(f"header names unknown file lists {unknown}; use {list(styles)}")
    for split, style in given.items():
        if style not in AFFECTNET_HEADER_STYLES:
            raise ValueError(
                f"header for {split} must be one of {AFFECTNET_HEADER_STYLES}, got {style!r}"
            )
    return {**styles, **given}


def _affectnet_header_lines(style: str) -> list[str]:
    """The file list's first line in a header style: as published, '#'-prefixed, or none."""
    return {"plain": [AFFECTNET_HEADER], "hash": ["#" + AFFECTNET_HEADER], "none": []}[style]


def write_affectnet(
    root: str | Path,
    n: int,
    resolution: int = 256,
    seed: int = 0,
    extra_codes: bool = True,
    header: str | Mapping[str, str] = "plain",
) -> list[dict[str, Any]]:
    """Write `n` faces (balanced codes 0..7) in AffectNet's Manually_Annotated layout.

    Images are `Manually_Annotated_Images/{subdir}/{sha224-hex}.jpg` (subdir 1..ceil(rows/4)),
    the face rendered at `resolution` inside a larger canvas. With `extra_codes`, max(1, n // 20)
    more rows of each code 8 (None), 9 (Uncertain), 10 (Non-Face) are added. About 10% of the
    rows go to `validation.csv`, the rest to `training.csv` (`split` in the manifest).
    `header` is how the file lists start, for both or per list ({"validation": "none"}):
    "plain" (as published), "hash" (`#subDirectory_filePath,...`, as some copies spell it) or
    "none" (no header row, as some copies of validation.csv come).
    """
    n = check_count("n", n)
    resolution = check_writer_resolution("resolution", resolution)
    headers = _affectnet_headers(header)
    root = Path(root)
    rng = seeded_rng(seed, "affectnet")
    rows = _affectnet_rows(rng, n, bool(extra_codes))
    held = max(1, round(0.1 * len(rows))) if len(rows) >= 2 else 0
    subdirs = max(1, math.ceil(len(rows) / 4))
    for k, (row, identity) in enumerate(zip(rows, pick_identities(rng, len(rows)), strict=True)):
        name = hashlib.sha224(f"segan-affectnet/{seed}/{k}".encode()).hexdigest()
        subdir = int(rng.integers(1, subdirs + 1))
        row.update(identity=identity, split="validation" if k < held else "training")
        row["path"] = f"Manually_Annotated_Images/{subdir}/{name}.jpg"
    for row, face in zip(rows, render_faces(rows, resolution), strict=True):
        save_jpeg(root / row["path"], _affectnet_picture(rng, row, face))
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True, exist_ok=True)
    for split in ("training", "validation"):
        lines = _affectnet_header_lines(headers[split])
        lines += [_affectnet_line(r) for r in rows if r["split"] == split]
        (lists / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return rows


def _save_npy(path: Path, value: Any) -> None:
    """One annotation array, as `np.save` writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, value, allow_pickle=False)


def _repackaged_picture(record: dict[str, Any], face: Face) -> np.ndarray:
    """The face crop of a re-packaged row; sets its landmarks (picture pixels). Non-Face rows
    show a background corner, enlarged, with landmarks all -1."""
    if record["code"] == NON_EXPRESSION_CODE["no-face"]:
        size = face.image.shape[:2][::-1]
        record["landmarks"] = [[-1.0, -1.0]] * len(face.landmarks)
        return np.asarray(Image.fromarray(_background_patch(face)).resize(size, Image.BILINEAR))
    record["landmarks"] = np.round(face.landmarks.astype(np.float64), 2).tolist()
    return face.image


def _write_repackaged_annotations(folder: Path, record: Mapping[str, Any], exp_as: str) -> None:
    """`{N}_exp.npy` (the code as text or int), `_val`, `_aro` (floats) and `_lnd` (136 floats)."""
    number = record["number"]
    code = str(record["code"]) if exp_as == "str" else np.int64(record["code"])
    _save_npy(folder / f"{number}_exp.npy", np.asarray(code))
    _save_npy(folder / f"{number}_val.npy", np.asarray(record["valence"], np.float64))
    _save_npy(folder / f"{number}_aro.npy", np.asarray(record["arousal"], np.float64))
    marks = np.asarray(record["landmarks"], np.float64).reshape(-1)
    _save_npy(folder / f"{number}_lnd.npy", marks)


def write_affectnet_repackaged(
    root: str | Path,
    n: int,
    resolution: int = 64,
    seed: int = 0,
    extra_codes: bool = False,
    exp_as: str = "str",
) -> list[dict[str, Any]]:
    """Write `n` faces (balanced codes 0..7) in the re-packaged AffectNet layout many hold.

    Splits are `train_set/` and `val_set/` (about 10% of rows, `split` "validation" in the
    manifest), each `images/{N}.jpg` (the face crop, `resolution` px: the render itself, framed
    as SynthFaces frames faces, looser than the copies' tight face boxes) and
    `annotations/{N}_exp.npy, {N}_val.npy, {N}_aro.npy, {N}_lnd.npy`. N are distinct numbers,
    not consecutive (the copies keep the original row numbers). `exp_as` "str" saves the code
    as numpy text (`np.save` of '3'), "int" as an int64 scalar; valence and arousal are float64
    scalars, landmarks 136 float64 values x0, y0, x1, y1, ... in picture pixels. With
    `extra_codes`, max(1, n // 20) rows of each code 8, 9, 10 are added.
    """
    n = check_count("n", n)
    resolution = check_writer_resolution("resolution", resolution)
    if exp_as not in ("str", "int"):
        raise ValueError(f"exp_as must be 'str' or 'int', got {exp_as!r}")
    root = Path(root)
    rng = seeded_rng(seed, "affectnet_repackaged")
    rows = _affectnet_rows(rng, n, bool(extra_codes))
    held = max(1, round(0.1 * len(rows))) if len(rows) >= 2 else 0
    numbers = sorted(int(k) for k in rng.choice(10 * len(rows), len(rows), replace=False))
    identities = pick_identities(rng, len(rows))
    for k, (row, number, identity) in enumerate(zip(rows, numbers, identities, strict=True)):
        split = "validation" if k < held else "training"
        folder = "val_set" if split == "validation" else "train_set"
        row.update(identity=identity, split=split, number=number, folder=folder)
        row["path"] = f"{folder}/images/{number}.jpg"
    for row, face in zip(rows, render_faces(rows, resolution), strict=True):
        save_jpeg(root / row["path"], _repackaged_picture(row, face))
        _write_repackaged_annotations(root / row["folder"] / "annotations", row, exp_as)
    return rows
