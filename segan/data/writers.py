"""Save SynthFaces sets to disk in the public datasets' own layouts, with a ground-truth manifest.

The loaders for CelebAMask-HQ, AffectNet, RaFD, KDEF and OpenFace AU CSVs must be tested on
files in the publishers' exact formats, which the project cannot download. Each writer here
renders SynthFaces faces (test identity range by default) and lays them out the way the real
dataset does: file and folder names, CSV headers, value encodings. It returns a manifest, one
dict per written sample, holding what was written (paths relative to `root` with forward
slashes, identity, the 17 AU intensities, the expression name and the dataset's own fields) so
a loader's output can be checked against the truth.

Choices where the real layout could not be reproduced (documented per writer): RaFD head
turns, gaze directions and KDEF camera angles reuse the frontal render (only the naming
differs); AffectNet "Non-Face" rows show a background crop with face box and landmarks -1.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from segan.data.synth.render import check_resolution
from segan.data.synthfaces import expression_aus, identity_range, render
from segan.labels import (
    AFFECTNET_NON_EXPRESSION_CODES,
    AU_IDS,
    AU_MAX_INTENSITY,
    EXPRESSION_INDEX,
    EXPRESSIONS,
    FACE_PARTS,
    KDEF_EXPRESSIONS,
    NUM_AUS,
    OPENFACE_AU_COLUMNS,
    OPENFACE_AU_PRESENCE_COLUMNS,
    PART_INDEX,
    RAFD_EXPRESSIONS,
)
from segan.visualize import to_uint8

__all__ = [
    "AFFECTNET_HEADER",
    "CELEBAMASK_PARTS",
    "CELEBA_ATTRIBUTES",
    "CELEBA_SPLITS",
    "KDEF_ANGLES",
    "OPENFACE_FRAME_PATTERN",
    "OPENFACE_KINDS",
    "RAFD_ANGLES",
    "RAFD_GAZES",
    "TEST_IDENTITIES",
    "write_affectnet",
    "write_affectnet_repackaged",
    "write_celebamask_hq",
    "write_kdef",
    "write_openface",
    "write_openface_for_manifest",
    "write_openface_videos",
    "write_rafd",
]

# SynthFaces' test identity split: the writers' faces never overlap training identities.
TEST_IDENTITIES = identity_range("test")
JPEG_QUALITY = 95
_MAX_BATCH_PIXELS = 64 * 256 * 256  # faces rendered per call: 64 at 256 px, 4 at 1024 px

# --- CelebAMask-HQ ----------------------------------------------------------------------------
CELEBAMASK_PARTS: tuple[str, ...] = FACE_PARTS[1:]
CELEBA_SPLITS: dict[str, tuple[int, int]] = {  # official CelebA split by 0-based image index
    "train": (0, 162_771),
    "val": (162_771, 182_638),
    "test": (182_638, 202_599),
}
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)
MASK_MODES = ("L", "RGB")

# --- AffectNet --------------------------------------------------------------------------------
AFFECTNET_HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
    "expression,valence,arousal"
)
_NON_EXPRESSION_CODE = {name: code for code, name in AFFECTNET_NON_EXPRESSION_CODES.items()}
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

# --- RaFD and KDEF ----------------------------------------------------------------------------
RAFD_ANGLES: tuple[int, ...] = (0, 45, 90, 135, 180)
RAFD_GAZES: tuple[str, ...] = ("frontal", "left", "right")
RAFD_EMOTIONS: tuple[str, ...] = tuple(sorted(RAFD_EXPRESSIONS))
RAFD_ASPECT = (681, 1024)  # width, height of the real photographs
RAFD_BACKGROUND = (236, 236, 232)
KDEF_ANGLES: tuple[str, ...] = ("FL", "HL", "S", "HR", "FR")
KDEF_SESSIONS: tuple[str, ...] = ("A", "B")
KDEF_CODES: tuple[str, ...] = tuple(KDEF_EXPRESSIONS)
KDEF_ASPECT = (562, 762)
KDEF_BACKGROUND = (128, 132, 138)
KDEF_IDS_PER_GENDER = 35

# --- OpenFace ---------------------------------------------------------------------------------
OPENFACE_KINDS: tuple[str, ...] = ("FaceLandmarkImg", "FeatureExtraction")
_OPENFACE_FPS = 30.0
OPENFACE_FRAME_PATTERN = "{video}/frame_{frame:05d}.jpg"  # ffmpeg's video/frame_%05d.jpg


class _Face(NamedTuple):
    """One rendered face as numpy: image (H, W, 3) uint8, mask (H, W) int64, landmarks (68, 2)."""

    image: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray


# --- argument checks --------------------------------------------------------------------------
def _check_count(name: str, value: int, high: int | None = None) -> int:
    """A positive int (at most `high`), or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}, got {value}")
    return value


def _check_resolution(name: str, value: int) -> int:
    """A resolution the renderer supports, or a ValueError naming the argument."""
    try:
        return check_resolution(value)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def _check_seed(seed: int) -> int:
    """A non-negative int seed."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return seed


def _check_choices(name: str, values: Sequence[Any], allowed: Sequence[Any]) -> tuple[Any, ...]:
    """A non-empty tuple of distinct values drawn from `allowed`."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a sequence of values from {list(allowed)}")
    out = tuple(values)
    if not out:
        raise ValueError(f"{name} must not be empty")
    bad = [v for v in out if v not in allowed or isinstance(v, bool)]
    if bad:
        raise ValueError(f"{name} has unknown values {bad}; use values from {list(allowed)}")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has duplicates: {list(out)}")
    return out


# --- deterministic choices --------------------------------------------------------------------
def _rng(seed: int, salt: str) -> np.random.Generator:
    """A generator for one writer: the same seed gives other identities in other writers."""
    return np.random.default_rng([_check_seed(seed), zlib.crc32(salt.encode())])


def _pick_identities(rng: np.random.Generator, n: int) -> list[int]:
    """`n` distinct consecutive ids from the SynthFaces test range, starting at a drawn offset."""
    start = int(rng.integers(0, len(TEST_IDENTITIES) - n + 1))
    return [TEST_IDENTITIES[start + k] for k in range(n)]


def _balanced(rng: np.random.Generator, n: int, choices: Sequence[Any]) -> list[Any]:
    """`n` items cycling through `choices` (counts differ by at most one), shuffled."""
    order = rng.permutation(n)
    return [choices[int(k) % len(choices)] for k in order]


def _intensity(rng: np.random.Generator, low: float, high: float) -> float:
    """An expression intensity on the 0..5 scale, rounded to 2 decimals."""
    return round(float(rng.uniform(low, high)), 2)


def _expression_aus(expression: str, intensity: float) -> list[float]:
    """The 17 AU intensities of an expression prototype at `intensity` (exact float32 values)."""
    return [float(v) for v in expression_aus(EXPRESSION_INDEX[expression], intensity)]


def _face_record(identity: int, expression: str, intensity: float) -> dict[str, Any]:
    """The manifest fields every writer shares (neutral faces get intensity 0)."""
    intensity = 0.0 if expression == "neutral" else intensity
    return {
        "identity": identity,
        "expression": expression,
        "intensity": intensity,
        "aus": _expression_aus(expression, intensity),
    }


# --- rendering and image files ----------------------------------------------------------------
def _render_faces(records: Sequence[Mapping[str, Any]], resolution: int) -> Iterator[_Face]:
    """Render each record's identity and AUs, in memory-bounded batches, as numpy faces."""
    ids = torch.tensor([r["identity"] for r in records], dtype=torch.int64)
    aus = torch.tensor([r["aus"] for r in records], dtype=torch.float32).reshape(-1, NUM_AUS)
    batch = max(1, _MAX_BATCH_PIXELS // (resolution * resolution))
    for start in range(0, len(records), batch):
        out = render(ids[start : start + batch], aus[start : start + batch], resolution)
        images = to_uint8(out["image"])
        for k in range(images.shape[0]):
            yield _Face(images[k], out["mask"][k].numpy(), out["landmarks"][k].numpy())


def _save_jpeg(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 picture as a JPEG (quality 95), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="JPEG", quality=JPEG_QUALITY)


def _points(landmarks: np.ndarray, dx: float = 0.0, dy: float = 0.0) -> list[list[float]]:
    """Landmarks as a JSON-friendly list of [x, y], shifted by (dx, dy)."""
    return [[float(x) + dx, float(y) + dy] for x, y in landmarks]


def _portrait(
    face: _Face, aspect: tuple[int, int], top_fraction: float, colour: tuple[int, int, int]
) -> tuple[np.ndarray, int]:
    """A studio portrait: the face on a flat backdrop, high in a frame of the dataset's aspect.

    Background pixels of the render take the backdrop colour; the bottom row (torso and
    backdrop) is extended down to the frame's foot. Returns the picture and the face's y offset.
    """
    size = face.image.shape[1]
    height = round(size * aspect[1] / aspect[0])
    top = round(top_fraction * size)
    backdrop = np.array(colour, dtype=np.uint8)
    cut = np.where(face.mask[..., None] == PART_INDEX["background"], backdrop, face.image)
    canvas = np.empty((height, size, 3), dtype=np.uint8)
    canvas[:top] = backdrop
    canvas[top : top + size] = cut[: height - top]
    canvas[top + size :] = cut[-1]
    return canvas, top


# --- CelebAMask-HQ ----------------------------------------------------------------------------
def _celeba_split_counts(n: int) -> dict[str, int]:
    """About 80/10/10 train/val/test, with at least one of each once n >= 3."""
    held = round(0.1 * n)
    if n >= 3:
        held = max(1, held)
    return {"train": n - 2 * held, "val": held, "test": held}


def _celeba_origins(rng: np.random.Generator, n: int) -> list[tuple[int, str]]:
    """(orig_idx, split) for each CelebA-HQ image: distinct indices from each official split."""
    picks: list[tuple[int, str]] = []
    for split, count in _celeba_split_counts(n).items():
        lo, hi = CELEBA_SPLITS[split]
        chosen = rng.choice(hi - lo, size=count, replace=False)
        picks += [(lo + int(k), split) for k in chosen]
    return [picks[int(k)] for k in rng.permutation(n)]


def _celeba_attributes(record: Mapping[str, Any], parts: set[str]) -> list[int]:
    """The 40 CelebA attributes (1/-1), set where the face shows them, otherwise -1."""
    on = {
        "Smiling": record["expression"] == "happy",
        "Eyeglasses": "eye_g" in parts,
        "Wearing_Hat": "hat" in parts,
        "Bald": "hair" not in parts and "hat" not in parts,
        "Wearing_Earrings": "ear_r" in parts,
        "Wearing_Necklace": "neck_l" in parts,
        "Mouth_Slightly_Open": "mouth" in parts,
        "No_Beard": True,
    }
    return [1 if on.get(name, False) else -1 for name in CELEBA_ATTRIBUTES]


def _write_part_masks(root: Path, index: int, mask: np.ndarray, mode: str) -> dict[str, str]:
    """One binary PNG (0/255) per part present in `mask`; returns {part: relative path}."""
    folder = f"CelebAMask-HQ-mask-anno/{index // 2000}"
    (root / folder).mkdir(parents=True, exist_ok=True)
    written = {}
    for part in CELEBAMASK_PARTS:
        binary = np.where(mask == PART_INDEX[part], 255, 0).astype(np.uint8)
        if not binary.any():
            continue
        rel = f"{folder}/{index:05d}_{part}.png"
        picture = Image.fromarray(binary, mode="L")
        picture = picture.convert("RGB") if mode == "RGB" else picture
        picture.save(root / rel, format="PNG")
        written[part] = rel
    return written


def _write_celeba_texts(root: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """The CelebA-HQ-to-CelebA mapping and the 40-attribute annotation files."""
    mapping = [f"{'idx':<12}{'orig_idx':<12}orig_file"]
    mapping += [f"{r['index']:<12}{r['orig_idx']:<12}{r['orig_file']}" for r in records]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(mapping) + "\n")
    attributes = [str(len(records)), " ".join(CELEBA_ATTRIBUTES)]
    for r in records:
        values = " ".join(f"{r['attributes'][name]:2d}" for name in CELEBA_ATTRIBUTES)
        attributes.append(f"{r['index']}.jpg {values}")
    (root / "CelebAMask-HQ-attribute-anno.txt").write_text("\n".join(attributes) + "\n")


def write_celebamask_hq(
    root: str | Path,
    n: int,
    image_resolution: int = 1024,
    mask_resolution: int = 512,
    seed: int = 0,
    mask_mode: str = "L",
) -> list[dict[str, Any]]:
    """Write `n` faces in the CelebAMask-HQ layout (images, per-part masks, mapping, attributes).

    Images are `CelebA-HQ-img/{i}.jpg`; masks are rendered again at `mask_resolution` (so they
    align with the image) and written as `CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png`
    for the parts present only. `mask_mode` "L" writes 8-bit grayscale PNGs, "RGB" three equal
    channels. Expressions are balanced, intensities 1..4; each image maps to a distinct CelebA
    index in the official train, val or test range (`split` in the manifest).
    """
    n = _check_count("n", n)
    image_resolution = _check_resolution("image_resolution", image_resolution)
    mask_resolution = _check_resolution("mask_resolution", mask_resolution)
    if mask_mode not in MASK_MODES:
        raise ValueError(f"mask_mode must be one of {MASK_MODES}, got {mask_mode!r}")
    root = Path(root)
    rng = _rng(seed, "celebamask_hq")
    identities = _pick_identities(rng, n)
    expressions = _balanced(rng, n, EXPRESSIONS)
    records = []
    for i, (orig_idx, split) in enumerate(_celeba_origins(rng, n)):
        record = _face_record(identities[i], expressions[i], _intensity(rng, 1.0, 4.0))
        record.update(index=i, path=f"CelebA-HQ-img/{i}.jpg", orig_idx=orig_idx, split=split)
        record["orig_file"] = f"{orig_idx + 1:06d}.jpg"
        records.append(record)
    for record, face in zip(records, _render_faces(records, image_resolution), strict=True):
        _save_jpeg(root / record["path"], face.image)
        record["landmarks"] = _points(face.landmarks)
    for record, face in zip(records, _render_faces(records, mask_resolution), strict=True):
        record["mask_paths"] = _write_part_masks(root, record["index"], face.mask, mask_mode)
        record["parts"] = list(record["mask_paths"])
        values = _celeba_attributes(record, set(record["parts"]))
        record["attributes"] = dict(zip(CELEBA_ATTRIBUTES, values, strict=True))
    _write_celeba_texts(root, records)
    return records


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
    record = _face_record(0, expression, _intensity(rng, 1.0, 5.0))
    valence, arousal = _valence_arousal(rng, [expression], record["intensity"])
    record.update(code=EXPRESSION_INDEX[expression], valence=valence, arousal=arousal)
    return record


def _affectnet_extra_row(rng: np.random.Generator, code: int) -> dict[str, Any]:
    """A row with a non-expression code: 8 None (a blend of two expressions), 9 Uncertain
    (a faint expression), 10 Non-Face (background only); 9 and 10 get valence/arousal -2."""
    record: dict[str, Any] = {"identity": 0, "code": code}
    record["expression"] = AFFECTNET_NON_EXPRESSION_CODES[code]
    first, second = (str(e) for e in rng.choice(EXPRESSIONS[1:], size=2, replace=False))
    intensity = _intensity(rng, 2.0, 4.0) if code == 8 else _intensity(rng, 0.3, 1.0)
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
    rows = [_affectnet_expression_row(rng, e) for e in _balanced(rng, n, EXPRESSIONS)]
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


def _background_patch(face: _Face) -> np.ndarray:
    """The image corner (a quarter of the side) with the most background pixels."""
    size = face.image.shape[0]
    side = max(8, size // 4)
    corners = [(0, 0), (0, size - side), (size - side, 0), (size - side, size - side)]
    y, x = max(
        corners, key=lambda c: (face.mask[c[0] : c[0] + side, c[1] : c[1] + side] == 0).sum()
    )
    return face.image[y : y + side, x : x + side]


def _affectnet_picture(rng: np.random.Generator, record: dict[str, Any], face: _Face) -> np.ndarray:
    """The face pasted into a larger edge-extended canvas; sets the row's box and landmarks.

    Non-Face rows instead show a background corner of the render, enlarged, with face box and
    all 136 landmark values -1."""
    top, bottom, left, right = _margins(rng, face.image.shape[0])
    if record["code"] == _NON_EXPRESSION_CODE["no-face"]:
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
    n = _check_count("n", n)
    resolution = _check_resolution("resolution", resolution)
    headers = _affectnet_headers(header)
    root = Path(root)
    rng = _rng(seed, "affectnet")
    rows = _affectnet_rows(rng, n, bool(extra_codes))
    held = max(1, round(0.1 * len(rows))) if len(rows) >= 2 else 0
    subdirs = max(1, math.ceil(len(rows) / 4))
    for k, (row, identity) in enumerate(zip(rows, _pick_identities(rng, len(rows)), strict=True)):
        name = hashlib.sha224(f"segan-affectnet/{seed}/{k}".encode()).hexdigest()
        subdir = int(rng.integers(1, subdirs + 1))
        row.update(identity=identity, split="validation" if k < held else "training")
        row["path"] = f"Manually_Annotated_Images/{subdir}/{name}.jpg"
    for row, face in zip(rows, _render_faces(rows, resolution), strict=True):
        _save_jpeg(root / row["path"], _affectnet_picture(rng, row, face))
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


def _repackaged_picture(record: dict[str, Any], face: _Face) -> np.ndarray:
    """The face crop of a re-packaged row; sets its landmarks (picture pixels). Non-Face rows
    show a background corner, enlarged, with landmarks all -1."""
    if record["code"] == _NON_EXPRESSION_CODE["no-face"]:
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
    n = _check_count("n", n)
    resolution = _check_resolution("resolution", resolution)
    if exp_as not in ("str", "int"):
        raise ValueError(f"exp_as must be 'str' or 'int', got {exp_as!r}")
    root = Path(root)
    rng = _rng(seed, "affectnet_repackaged")
    rows = _affectnet_rows(rng, n, bool(extra_codes))
    held = max(1, round(0.1 * len(rows))) if len(rows) >= 2 else 0
    numbers = sorted(int(k) for k in rng.choice(10 * len(rows), len(rows), replace=False))
    identities = _pick_identities(rng, len(rows))
    for k, (row, number, identity) in enumerate(zip(rows, numbers, identities, strict=True)):
        split = "validation" if k < held else "training"
        folder = "val_set" if split == "validation" else "train_set"
        row.update(identity=identity, split=split, number=number, folder=folder)
        row["path"] = f"{folder}/images/{number}.jpg"
    for row, face in zip(rows, _render_faces(rows, resolution), strict=True):
        _save_jpeg(root / row["path"], _repackaged_picture(row, face))
        _write_repackaged_annotations(root / row["folder"] / "annotations", row, exp_as)
    return rows


# --- RaFD -------------------------------------------------------------------------------------
def _check_subject_numbers(subjects: int | Sequence[int]) -> tuple[int, ...]:
    """RaFD subject numbers: a count (numbered 1..count) or distinct numbers in 1..99."""
    if isinstance(subjects, int) and not isinstance(subjects, bool):
        return tuple(range(1, _check_count("subjects", subjects, high=99) + 1))
    numbers = _check_choices("subjects", subjects, range(1, 100))
    if not all(isinstance(s, int) for s in numbers):
        raise ValueError(f"subjects must be ints in 1..99, got {list(numbers)}")
    return numbers


def _rafd_subject(rng: np.random.Generator, number: int, identity: int) -> dict[str, Any]:
    """A model's fixed traits; RaFD's Moroccan-Dutch models are all male."""
    gender = "female" if rng.random() < 0.5 else "male"
    moroccan = gender == "male" and rng.random() < 0.4
    ethnicity = "Moroccan" if moroccan else "Caucasian"
    return {"subject": number, "identity": identity, "gender": gender, "ethnicity": ethnicity}


def write_rafd(
    root: str | Path,
    subjects: int | Sequence[int],
    resolution: int = 256,
    seed: int = 0,
    angles: Sequence[int] = (90,),
    gazes: Sequence[str] = RAFD_GAZES,
    emotions: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Write RaFD-named portraits in one folder, for loaders of the real RaFD.

    Names are `Rafd{angle:03d}_{subject:02d}_{ethnicity}_{gender}_{emotion}_{gaze}.jpg`.
    `subjects` is a count (numbered 01..) or subject numbers; each is one identity showing every
    emotion (RaFD names, intensity 3..5). Pictures are `resolution` wide in RaFD's 681:1024
    portrait aspect, the face high on a flat light backdrop. SynthFaces cannot turn the head or
    the eyes: every angle and gaze reuses the frontal render; only the name differs.
    """
    numbers = _check_subject_numbers(subjects)
    resolution = _check_resolution("resolution", resolution)
    angles = _check_choices("angles", angles, RAFD_ANGLES)
    gazes = _check_choices("gazes", gazes, RAFD_GAZES)
    emotions = _check_choices(
        "emotions", RAFD_EMOTIONS if emotions is None else emotions, RAFD_EMOTIONS
    )
    rng = _rng(seed, "rafd")
    people = [
        _rafd_subject(rng, s, i)
        for s, i in zip(numbers, _pick_identities(rng, len(numbers)), strict=True)
    ]
    shots = []
    for person in people:
        for emotion in emotions:
            shot = _face_record(
                person["identity"], RAFD_EXPRESSIONS[emotion], _intensity(rng, 3.0, 5.0)
            )
            shots.append({**person, **shot, "emotion": emotion})
    manifest = []
    for shot, face in zip(shots, _render_faces(shots, resolution), strict=True):
        picture, top = _portrait(face, RAFD_ASPECT, 0.12, RAFD_BACKGROUND)
        landmarks = _points(face.landmarks, dy=top)
        for angle in angles:
            for gaze in gazes:
                name = (
                    f"Rafd{angle:03d}_{shot['subject']:02d}_{shot['ethnicity']}_"
                    f"{shot['gender']}_{shot['emotion']}_{gaze}.jpg"
                )
                _save_jpeg(Path(root) / name, picture)
                manifest.append(
                    {**shot, "path": name, "angle": angle, "gaze": gaze, "landmarks": landmarks}
                )
    return manifest


# --- KDEF -------------------------------------------------------------------------------------
_KDEF_SUBJECT = re.compile(r"([FM])(\d{2})")


def _check_kdef_subjects(subjects: int | Sequence[str]) -> tuple[str, ...]:
    """KDEF subjects as codes like "F01"/"M35": a count (F01, M01, F02, ...) or explicit codes."""
    if isinstance(subjects, int) and not isinstance(subjects, bool):
        count = _check_count("subjects", subjects, high=2 * KDEF_IDS_PER_GENDER)
        return tuple(f"{'FM'[k % 2]}{k // 2 + 1:02d}" for k in range(count))
    allowed = [f"{g}{i:02d}" for g in "FM" for i in range(1, KDEF_IDS_PER_GENDER + 1)]
    return _check_choices("subjects", subjects, allowed)


def write_kdef(
    root: str | Path,
    subjects: int | Sequence[str],
    resolution: int = 256,
    seed: int = 0,
    angles: Sequence[str] = ("S",),
    sessions: Sequence[str] = ("A",),
    emotions: Sequence[str] | None = None,
    placeholders: int = 0,
) -> list[dict[str, Any]]:
    """Write KDEF-named portraits, for loaders of the real KDEF.

    Paths are `KDEF/{session}{gender}{id:02d}/{session}{gender}{id:02d}{expr}{angle}.JPG`.
    `subjects` is a count (F01, M01, F02, ... up to 70) or codes such as "F07". Each subject is
    one identity; each session (A, B) is a separate shot of every emotion (KDEF codes, intensity
    3..5). Pictures are `resolution` wide in KDEF's 562:762 aspect on a flat grey backdrop.
    SynthFaces cannot turn the head: every camera angle reuses the straight render.
    `placeholders` pictures, drawn at random, are then overwritten with all-black pictures of
    the same size, as the release has where a shot is missing (`blank` in the manifest).
    """
    codes = _check_kdef_subjects(subjects)
    resolution = _check_resolution("resolution", resolution)
    angles = _check_choices("angles", angles, KDEF_ANGLES)
    sessions = _check_choices("sessions", sessions, KDEF_SESSIONS)
    emotions = _check_choices("emotions", KDEF_CODES if emotions is None else emotions, KDEF_CODES)
    total = len(codes) * len(sessions) * len(emotions) * len(angles)
    if isinstance(placeholders, bool) or not isinstance(placeholders, int):
        raise ValueError(f"placeholders must be an int in 0..{total}, got {placeholders!r}")
    if not 0 <= placeholders <= total:
        raise ValueError(f"placeholders must be an int in 0..{total}, got {placeholders!r}")
    rng = _rng(seed, "kdef")
    shots = []
    for code, identity in zip(codes, _pick_identities(rng, len(codes)), strict=True):
        for session in sessions:
            for emotion in emotions:
                shot = _face_record(identity, KDEF_EXPRESSIONS[emotion], _intensity(rng, 3.0, 5.0))
                shot.update(subject=code, gender=code[0], session=session, emotion=emotion)
                shots.append(shot)
    manifest = []
    for shot, face in zip(shots, _render_faces(shots, resolution), strict=True):
        picture, top = _portrait(face, KDEF_ASPECT, 0.1, KDEF_BACKGROUND)
        folder = f"{shot['session']}{shot['subject']}"
        for angle in angles:
            path = f"KDEF/{folder}/{folder}{shot['emotion']}{angle}.JPG"
            _save_jpeg(Path(root) / path, picture)
            manifest.append(
                {**shot, "path": path, "angle": angle, "landmarks": _points(face.landmarks, dy=top)}
            )
    _kdef_placeholders(Path(root), manifest, rng, placeholders)
    return manifest


def _kdef_placeholders(
    root: Path, manifest: list[dict[str, Any]], rng: np.random.Generator, count: int
) -> None:
    """Overwrite `count` drawn pictures with all-black ones of the same size; mark `blank`."""
    chosen = {int(k) for k in rng.choice(len(manifest), size=count, replace=False)}
    for k, entry in enumerate(manifest):
        entry["blank"] = k in chosen
        if entry["blank"]:
            with Image.open(root / entry["path"]) as picture:
                width, height = picture.size
            _save_jpeg(root / entry["path"], np.zeros((height, width, 3), np.uint8))


# --- OpenFace ---------------------------------------------------------------------------------
def _openface_sample(item: Any, k: int) -> dict[str, Any]:
    """A sample as {"stem", "aus", "failed"} from a (stem, aus) pair or a mapping."""
    if isinstance(item, Mapping):
        stem, aus, failed = item.get("stem"), item.get("aus"), bool(item.get("failed", False))
    elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
        (stem, aus), failed = item, False
    else:
        raise ValueError(f"samples[{k}] must be a (stem, aus) pair or a mapping with stem and aus")
    if not isinstance(stem, str) or not stem or "/" in stem or "\\" in stem:
        raise ValueError(f"samples[{k}] stem must be a non-empty file stem, got {stem!r}")
    values = (
        [float(v) for v in aus] if isinstance(aus, Sequence | torch.Tensor | np.ndarray) else []
    )
    if len(values) != NUM_AUS or not all(0.0 <= v <= AU_MAX_INTENSITY for v in values):
        raise ValueError(f"samples[{k}] aus must be {NUM_AUS} intensities in [0, 5], got {aus!r}")
    return {"stem": stem, "aus": values, "failed": failed}


def _openface_values(rng: np.random.Generator, sample: dict[str, Any]) -> dict[str, Any]:
    """What OpenFace reports: intensities to 2 decimals, presence = intensity >= 1 (AU28 0)."""
    if sample["failed"]:
        return {"confidence": 0.0, "success": 0, "au_r": [0.0] * NUM_AUS, "au_c": [0] * 18}
    au_r = [round(v, 2) for v in sample["aus"]]
    by_id = dict(zip(AU_IDS, au_r, strict=True))
    au_c = [int(by_id.get(int(col[2:4]), 0.0) >= 1.0) for col in OPENFACE_AU_PRESENCE_COLUMNS]
    confidence = round(float(rng.uniform(0.96, 0.99)), 2)
    return {"confidence": confidence, "success": 1, "au_r": au_r, "au_c": au_c}


def _openface_fields(record: Mapping[str, Any]) -> list[str]:
    """The AU columns of one row as OpenFace formats them."""
    return [f"{v:.2f}" for v in record["au_r"]] + [f"{float(v):.2f}" for v in record["au_c"]]


def _openface_header(leading: Sequence[str]) -> str:
    """OpenFace's header: column names joined by ", " (so every name after the first
    starts with a space when split on commas)."""
    return ", ".join([*leading, *OPENFACE_AU_COLUMNS, *OPENFACE_AU_PRESENCE_COLUMNS])


def write_openface(
    root: str | Path,
    samples: Sequence[Any],
    kind: str = "FaceLandmarkImg",
    failed_fraction: float = 0.0,
    seed: int = 0,
    name: str = "sequence",
    sidecar: bool = True,
) -> list[dict[str, Any]]:
    """Write OpenFace 2.x AU CSVs (`-aus` output) for samples given as (stem, 17 AUs).

    kind "FaceLandmarkImg": one `{stem}.csv` per image, columns `face, confidence, AU.._r,
    AU.._c`, one row (face 0). kind "FeatureExtraction": one `{name}.csv` with columns `frame,
    face_id, timestamp, confidence, success, AU.._r, AU.._c`, frame k+1 = samples[k] at 30 fps,
    and, with `sidecar`, a `{name}_frames.csv` (`frame,stem`) naming each frame's image
    (OpenFace itself writes no such list; `sidecar=False` writes what OpenFace writes).
    round(failed_fraction * N) samples, plus those given with failed=True, are failed tracks:
    confidence 0, success 0 and all AUs 0 (FaceLandmarkImg has no success column).
    """
    if kind not in OPENFACE_KINDS:
        raise ValueError(f"kind must be one of {OPENFACE_KINDS}, got {kind!r}")
    if isinstance(samples, str | bytes) or not isinstance(samples, Sequence) or not samples:
        raise ValueError("samples must be a non-empty sequence of (stem, aus) samples")
    if not isinstance(failed_fraction, int | float) or not 0.0 <= failed_fraction <= 1.0:
        raise ValueError(f"failed_fraction must lie in [0, 1], got {failed_fraction!r}")
    if not name or "/" in name:
        raise ValueError(f"name must be a file stem, got {name!r}")
    items = [_openface_sample(item, k) for k, item in enumerate(samples)]
    stems = [s["stem"] for s in items]
    if kind == "FaceLandmarkImg" and len(set(stems)) != len(stems):
        raise ValueError("samples have duplicate stems; FaceLandmarkImg writes one CSV per stem")
    rng = _rng(seed, "openface")
    for k in rng.choice(len(items), size=round(failed_fraction * len(items)), replace=False):
        items[int(k)]["failed"] = True
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    records = [{**s, **_openface_values(rng, s)} for s in items]
    if kind == "FaceLandmarkImg":
        return [_write_landmark_img(root, r) for r in records]
    return _write_feature_extraction(root, records, name, sidecar)


def _write_landmark_img(root: Path, record: dict[str, Any]) -> dict[str, Any]:
    """One FaceLandmarkImg CSV for one image."""
    path = f"{record['stem']}.csv"
    row = ", ".join(["0", f"{record['confidence']:.2f}", *_openface_fields(record)])
    header = _openface_header(["face", "confidence"])
    (root / path).write_text(f"{header}\n{row}\n")
    return {**record, "path": path, "face": 0}


def _write_feature_extraction(
    root: Path, records: list[dict[str, Any]], name: str, sidecar: bool = True
) -> list[dict[str, Any]]:
    """One FeatureExtraction CSV for the whole sequence, and the frame -> stem sidecar."""
    lines = [_openface_header(["frame", "face_id", "timestamp", "confidence", "success"])]
    frames = ["frame,stem"]
    out = []
    for k, record in enumerate(records):
        timestamp = k / _OPENFACE_FPS
        head = [str(k + 1), "0", f"{timestamp:.3f}", f"{record['confidence']:.2f}"]
        lines.append(", ".join([*head, str(record["success"]), *_openface_fields(record)]))
        frames.append(f"{k + 1},{record['stem']}")
        out.append(
            {**record, "path": f"{name}.csv", "frame": k + 1, "timestamp": round(timestamp, 3)}
        )
    (root / f"{name}.csv").write_text("\n".join(lines) + "\n")
    if sidecar:
        (root / f"{name}_frames.csv").write_text("\n".join(frames) + "\n")
    return out


def write_openface_for_manifest(
    root: str | Path,
    manifest: Sequence[Mapping[str, Any]],
    kind: str = "FaceLandmarkImg",
    failed_fraction: float = 0.0,
    seed: int = 0,
    name: str = "sequence",
) -> list[dict[str, Any]]:
    """OpenFace CSVs for the images another writer wrote, keyed by image file stem.

    Rows whose picture shows no face (AffectNet code 10) are written as failed tracks.
    """
    samples = [
        {
            "stem": Path(entry["path"]).stem,
            "aus": entry["aus"],
            "failed": entry.get("code") == _NON_EXPRESSION_CODE["no-face"],
        }
        for entry in manifest
    ]
    return write_openface(root, samples, kind, failed_fraction, seed, name)


def _check_frame_pattern(pattern: str) -> None:
    """A pattern that gives each frame of a video its own relative picture path."""
    try:
        first, second = (pattern.format(video="v", frame=k, index=k - 1) for k in (1, 2))
    except (KeyError, IndexError, ValueError, AttributeError) as err:
        raise ValueError(f"frame_pattern {pattern!r} cannot be filled ({err})") from None
    if first == second or Path(first).is_absolute():
        raise ValueError(
            f"frame_pattern {pattern!r} must name frames apart ({{frame}} or {{index}}) and be "
            f"relative to frames_root"
        )


def write_openface_videos(
    csv_root: str | Path,
    frames_root: str | Path,
    videos: int = 2,
    frames: int = 3,
    resolution: int = 64,
    frame_pattern: str = OPENFACE_FRAME_PATTERN,
    expression: str = "happy",
    seed: int = 0,
    failed_fraction: float = 0.0,
) -> list[dict[str, Any]]:
    """Write videos as OpenFace FeatureExtraction leaves them: frames extracted by a numbering
    pattern, one `{video}.csv` per video (rows by frame, `frame` from 1) and no frame list.

    Video v is `video{v:02d}`: one identity whose `expression` builds up over `frames` frames
    (drawn intensities 1..5, rising, so no two videos share their AUs). Frame k (from 1) is
    written at `frames_root / frame_pattern.format(video=name, frame=k, index=k - 1)` (the
    default, `{video}/frame_{frame:05d}.jpg`, is what `ffmpeg -i video.mp4
    video/frame_%05d.jpg` writes, so every video has the same file names), and its CSV at
    `csv_root / f"{name}.csv"`. Manifest entries hold `video`, `frame`, `path`
    (relative to frames_root), `csv` (relative to csv_root) and the OpenFace values.
    """
    videos = _check_count("videos", videos, high=100)
    frames = _check_count("frames", frames)
    resolution = _check_resolution("resolution", resolution)
    _check_choices("expression", [expression], EXPRESSIONS)
    _check_frame_pattern(frame_pattern)
    rng = _rng(seed, "openface_videos")
    identities = _pick_identities(rng, videos)
    manifest = []
    for v, identity in enumerate(identities):
        name = f"video{v:02d}"
        steps = sorted(_intensity(rng, 1.0, AU_MAX_INTENSITY) for _ in range(frames))
        shots = [_face_record(identity, expression, i) for i in steps]
        paths = [
            frame_pattern.format(video=name, frame=k, index=k - 1) for k in range(1, frames + 1)
        ]
        for path, face in zip(paths, _render_faces(shots, resolution), strict=True):
            _save_jpeg(Path(frames_root) / path, face.image)
        samples = [(Path(path).stem, shot["aus"]) for path, shot in zip(paths, shots, strict=True)]
        rows = write_openface(
            csv_root, samples, "FeatureExtraction", failed_fraction, seed + v, name, sidecar=False
        )
        for row, path, shot in zip(rows, paths, shots, strict=True):
            row.update(shot, video=name, csv=row["path"], path=path)
            manifest.append(row)
    return manifest
