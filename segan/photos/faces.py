"""Faces in photos: find the face, cut the square crop the models expect, and paste an edit back.

Detection is OpenCV's frontal-face Haar cascade (shipped in opencv-python-headless, so it works
offline); the largest face wins, or the caller gives a box. The crop is a square around the
detected box, `scale` times its side (2.2 by default: a Haar box spans brows to mouth, and 2.2x
frames the whole head as SynthFaces and CelebA-HQ do), padded by edge replication where it
leaves the photo. Paste-back adds the *change* the edit made (edited crop minus the crop given
to the model), resized to the crop's size in the photo and faded to zero over a seam band at the
crop's border: the photo's own detail survives, an identity edit leaves every pixel as it was,
and pixels outside the crop are never touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

__all__ = [
    "DEFAULT_SCALE",
    "CropBox",
    "FaceCrop",
    "NoFaceError",
    "centre_square",
    "crop_face",
    "crop_image",
    "crop_mask",
    "detect_faces",
    "face_cascade",
    "find_face",
    "paste_back",
    "seam_weights",
    "square_box",
]

DEFAULT_SCALE = 2.2
DETECT_MAX_SIDE = 640  # photos are shrunk to this for detection (boxes are scaled back)
DETECT_SIDES = (DETECT_MAX_SIDE, 512, 400)  # then to these while no face is found
_CASCADE = "haarcascade_frontalface_default.xml"


class NoFaceError(ValueError):
    """No face was found where one was needed."""


@dataclass(frozen=True)
class CropBox:
    """A square region of a photo in pixels: left and top corner (may be negative or run past
    the photo's edge, which is filled by edge replication) and its side."""

    left: int
    top: int
    side: int

    def __post_init__(self) -> None:
        if self.side <= 0:
            raise ValueError(f"crop side must be positive, got {self.side}")

    def to_crop(self, points: np.ndarray, resolution: int) -> np.ndarray:
        """Photo pixel coordinates (..., 2) -> coordinates in the `resolution` crop."""
        return (np.asarray(points, np.float64) - (self.left, self.top)) * resolution / self.side


@dataclass
class FaceCrop:
    """A face cut from a photo: the (R, R, 3) uint8 `crop`, where it came from (`box`), and the
    face box (x, y, w, h) it was built around."""

    crop: np.ndarray
    box: CropBox
    face: tuple[int, int, int, int]


def centre_square(width: int, height: int) -> CropBox:
    """The largest square centred in a width x height picture (for pictures already cropped)."""
    side = min(width, height)
    return CropBox((width - side) // 2, (height - side) // 2, side)


def square_box(
    face: tuple[float, float, float, float], scale: float = DEFAULT_SCALE, shift: float = 0.0
) -> CropBox:
    """The square of side `scale * max(w, h)` centred on face box (x, y, w, h), moved down by
    `shift` times its side (negative moves it up)."""
    x, y, w, h = (float(v) for v in face)
    if w <= 0 or h <= 0:
        raise ValueError(f"face box must have positive width and height, got {face}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    side = max(1, round(scale * max(w, h)))
    cx, cy = x + w / 2, y + h / 2 + shift * side
    return CropBox(math.floor(cx - side / 2 + 0.5), math.floor(cy - side / 2 + 0.5), side)


def _window(array: np.ndarray, box: CropBox, border: int, fill: int = 0) -> np.ndarray:
    """The box's pixels; outside the array, edge-replicated (`border` cv2.BORDER_REPLICATE) or
    constant `fill`."""
    h, w = array.shape[:2]
    x0, y0, x1, y1 = box.left, box.top, box.left + box.side, box.top + box.side
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx0 >= cx1 or cy0 >= cy1:
        raise ValueError(f"crop {box} lies entirely outside the {w}x{h} picture")
    inner = np.ascontiguousarray(array[cy0:cy1, cx0:cx1])
    pads = (cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1)
    if not any(pads):
        return inner
    return cv2.copyMakeBorder(inner, *pads, border, value=fill)


def crop_image(rgb: np.ndarray, box: CropBox, resolution: int) -> np.ndarray:
    """Cut `box` from (H, W, 3) uint8 and resize it to (resolution, resolution, 3): area
    averaging when shrinking (no aliasing), bicubic when enlarging."""
    window = _window(rgb, box, cv2.BORDER_REPLICATE)
    if box.side == resolution:
        return window
    inter = cv2.INTER_AREA if box.side > resolution else cv2.INTER_CUBIC
    return cv2.resize(window, (resolution, resolution), interpolation=inter)


def crop_mask(mask: np.ndarray, box: CropBox, resolution: int, scale: float = 1.0) -> np.ndarray:
    """Cut `box` (in photo pixels) from a class mask stored at `scale` times the photo's size,
    resized with nearest neighbour to (resolution, resolution); outside the mask is background."""
    if scale != 1.0:
        box = CropBox(
            math.floor(box.left * scale + 0.5),
            math.floor(box.top * scale + 0.5),
            max(1, round(box.side * scale)),
        )
    window = _window(mask, box, cv2.BORDER_CONSTANT, fill=0)
    if box.side == resolution:
        return window
    return cv2.resize(window, (resolution, resolution), interpolation=cv2.INTER_NEAREST_EXACT)


@lru_cache(maxsize=1)
def face_cascade() -> cv2.CascadeClassifier:
    """OpenCV's frontal-face Haar cascade (opened once)."""
    path = cv2.data.haarcascades + _CASCADE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's face cascade {path} could not be loaded")
    return cascade


def detect_faces(rgb: np.ndarray, min_fraction: float = 0.1) -> list[tuple[int, int, int, int]]:
    """Frontal faces in (H, W, 3) uint8 as (x, y, w, h) boxes, largest first. Faces smaller
    than `min_fraction` of the picture's shorter side are ignored."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 pixels, got {rgb.dtype} {rgb.shape}")
    full = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = full.shape
    boxes: list[tuple[int, int, int, int]] = []
    # the cascade's scale steps miss some faces at one size and find them at another: try
    # smaller copies until one finds a face (most photos stop at the first)
    sides = sorted({min(side, max(h, w)) for side in DETECT_SIDES}, reverse=True)
    for side in sides:
        shrink = side / max(h, w)
        gray = full
        if shrink < 1.0:
            gray = cv2.resize(full, (round(w * shrink), round(h * shrink)), cv2.INTER_AREA)
        # a face filling the frame touches the border, where the cascade cannot fire: pad it
        pad = max(gray.shape) // 4
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        gray = cv2.equalizeHist(gray)
        smallest = max(20, round(min_fraction * min(h, w) * shrink))
        found, votes = face_cascade().detectMultiScale2(gray, 1.1, 5, minSize=(smallest, smallest))
        # a box far fewer neighbouring windows voted for than the best is a false alarm
        # (clothing, a flag): keep those with at least a third of the best one's votes
        best = max(votes, default=0)
        boxes = [
            (
                round((x - pad) / shrink),
                round((y - pad) / shrink),
                round(s / shrink),
                round(t / shrink),
            )
            for (x, y, s, t), n in zip(found if len(found) else [], votes, strict=True)
            if n * 3 >= best
        ]
        if boxes:
            break
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def parse_box(text: str | None) -> tuple[int, int, int, int] | None:
    """A face box typed as "x, y, w, h" (pixels; commas, spaces or both); None when blank.
    ValueError quoting the text when it is not four whole numbers."""
    if text is None or not text.strip():
        return None
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        box = tuple(int(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4:
        raise ValueError(f"a face box is x,y,w,h in whole pixels, got {text!r}")
    return box  # type: ignore[return-value]


def find_face(
    rgb: np.ndarray, box: tuple[int, int, int, int] | None = None
) -> tuple[int, int, int, int]:
    """The face box to crop around: the caller's `box` (checked), or the largest detected face."""
    h, w = rgb.shape[:2]
    if box is not None:
        x, y, bw, bh = (round(float(v)) for v in box)
        if bw <= 0 or bh <= 0 or x >= w or y >= h or x + bw <= 0 or y + bh <= 0:
            raise ValueError(f"face box {tuple(box)} does not overlap the {w}x{h} picture")
        return x, y, bw, bh
    faces = detect_faces(rgb)
    if not faces:
        raise NoFaceError(
            f"no face found in the {w}x{h} picture; give the face box (x, y, w, h) by hand"
        )
    return faces[0]


def crop_face(
    rgb: np.ndarray,
    resolution: int,
    box: tuple[int, int, int, int] | None = None,
    scale: float = DEFAULT_SCALE,
) -> FaceCrop:
    """Find the face (or use `box`) and cut the model's square crop around it."""
    face = find_face(rgb, box)
    crop_box = square_box(face, scale)
    return FaceCrop(crop_image(rgb, crop_box, resolution), crop_box, face)


def seam_weights(side: int, feather: float = 0.1) -> np.ndarray:
    """(side, side) float weights: 1 inside, falling linearly to 0 over a band of `feather`
    times the side at the square's edges (the seam)."""
    if not 0.0 <= feather <= 0.5:
        raise ValueError(f"feather must lie in [0, 0.5], got {feather}")
    band = feather * side
    pos = np.arange(side, dtype=np.float64) + 0.5
    edge = np.minimum(pos, side - pos)
    ramp = np.ones(side) if band == 0 else np.clip(edge / band, 0.0, 1.0)
    return np.minimum.outer(ramp, ramp)


def paste_back(
    rgb: np.ndarray,
    crop: np.ndarray,
    edited: np.ndarray,
    box: CropBox,
    feather: float = 0.1,
    mode: str = "residual",
) -> np.ndarray:
    """The photo with an edit of its crop pasted back, as a new (H, W, 3) uint8 array.

    mode "residual" adds (edited - crop), resized to the box; "replace" blends the resized
    edited crop over the photo. Either way the weight falls to 0 across the seam band, and
    pixels outside the box are copied unchanged.
    """
    if mode not in ("residual", "replace"):
        raise ValueError(f"mode must be 'residual' or 'replace', got {mode!r}")
    if crop.shape != edited.shape or crop.ndim != 3 or crop.shape[0] != crop.shape[1]:
        raise ValueError(
            f"crop and edited must be the same square (R, R, 3) shape, got {crop.shape} and "
            f"{edited.shape}"
        )
    h, w = rgb.shape[:2]
    x0, y0 = max(box.left, 0), max(box.top, 0)
    x1, y1 = min(box.left + box.side, w), min(box.top + box.side, h)
    if x0 >= x1 or y0 >= y1:
        raise ValueError(f"crop {box} lies entirely outside the {w}x{h} picture")
    size = (box.side, box.side)
    if mode == "residual":
        change = cv2.resize(
            edited.astype(np.float32) - crop.astype(np.float32),
            size,
            interpolation=cv2.INTER_LINEAR,
        )
    else:
        change = cv2.resize(edited, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    sy, sx = slice(y0 - box.top, y1 - box.top), slice(x0 - box.left, x1 - box.left)
    weight = seam_weights(box.side, feather)[sy, sx, None].astype(np.float32)
    region = rgb[y0:y1, x0:x1].astype(np.float32)
    if mode == "residual":
        blended = region + weight * change[sy, sx]
    else:
        blended = region + weight * (change[sy, sx] - region)
    out = rgb.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
