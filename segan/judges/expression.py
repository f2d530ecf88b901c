"""The expression judge: fer's mini-Xception (`segan.judges.mini_xception`) with fer's own face
preprocessing, reading faces in photos and aligned face crops.

The network gives 7 FER2013 classes in fer's order; `JUDGE_CLASSES` names them the segan way.
Contempt is not among them, so the judge cannot confirm a contempt edit.

How fer turns a photo into the network's input, and so how `ExpressionJudge.read_photo` does:

1. grey = OpenCV's BGR/RGB-to-grey of the 8-bit picture;
2. faces = OpenCV's frontal-face Haar cascade (`haarcascade_frontalface_default.xml`),
   scale factor 1.1, 5 neighbours, faces of at least 50x50 px;
3. the grey picture is padded by 40 px on every side with the mean of its bottom two rows;
4. each box is made square (the shorter side grows, centred), widened by 10 px on every side,
   cut from the padded picture (the cut stops at the padding's edge), resized to 64x64 with
   bilinear interpolation on 8-bit values, and scaled as x / 255 * 2 - 1.

Aligned face crops (FFHQ-style, as segan's editors produce them) take a fixed face region
instead of the cascade: `ALIGNED_FACE_REGION`, where the cascade puts fer's region on FFHQ crops
at 256 px. On 128 px crops it agrees with fer's reading of the 256 px copy at least as often as
the cascade run on the 128 px crop does, and closer in probabilities; it never misses a face
and does not move when an edit changes the face's outline, so an edit is read through the same
pixels as its original (figures in `benchmarks/results/judges.md`). `crop="haar"` runs the
cascade on each crop instead, falling back to the fixed region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from segan.assets import locate
from segan.judges.mini_xception import FER_CLASSES, MiniXception, load_mini_xception
from segan.labels import EXPRESSIONS
from segan.photos.faces import face_cascade

__all__ = [
    "ALIGNED_FACE_REGION",
    "FER_TO_SEGAN",
    "JUDGE_CLASSES",
    "SEGAN_INDEX",
    "ExpressionJudge",
    "ExpressionReading",
    "aligned_crop",
    "fer_face_crop",
    "fer_region",
    "haar_faces",
    "load_expression_judge",
    "to_gray_uint8",
    "to_segan_order",
]

FER_TO_SEGAN: dict[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}
# The judge's classes in its output order, named the segan way.
JUDGE_CLASSES: tuple[str, ...] = tuple(FER_TO_SEGAN[name] for name in FER_CLASSES)
# SEGAN_INDEX[k] is the index in segan.labels.EXPRESSIONS of the judge's class k.
SEGAN_INDEX: tuple[int, ...] = tuple(EXPRESSIONS.index(name) for name in JUDGE_CLASSES)

INPUT_SIZE = 64
# fer's face finding and cropping (fer.FER defaults; the cascade is OpenCV's frontal face).
HAAR_SCALE_FACTOR = 1.1
HAAR_MIN_NEIGHBOURS = 5
HAAR_MIN_SIZE = 50
FER_PADDING = 40
FER_OFFSETS = (10, 10)
# The face region fer's network sees on an FFHQ-aligned crop, as fractions of the crop's side
# (left, top, right, bottom): the cascade's box on such crops widened by fer's offsets, the
# median over FFHQ ids 0-549 at 256 px (benchmarks/judges.py measures it).
ALIGNED_FACE_REGION: tuple[float, float, float, float] = (0.1250, 0.1719, 0.8789, 0.9258)


# --- fer's preprocessing ---------------------------------------------------------------------


def to_gray_uint8(image: Any) -> np.ndarray:
    """One picture as (H, W) uint8 grey, the way fer sees it.

    Takes an (H, W, 3|4) uint8 RGB(A) array, an (H, W) uint8 grey array, a PIL image, a file
    path, or a (3, H, W) tensor in [-1, 1]. Colour goes to grey with OpenCV's weights.
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise ValueError(f"{path} is not a picture OpenCV can read")
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) image tensor, got {tuple(image.shape)}")
        image = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
        image = image.to(torch.uint8).permute(1, 2, 0).numpy()
    if not isinstance(image, np.ndarray):  # PIL
        image = np.asarray(image.convert("RGB"))
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected (H, W), (H, W, 3) or (H, W, 4) pixels, got {image.shape}")


def haar_faces(gray: np.ndarray, min_size: int = HAAR_MIN_SIZE) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) the way fer finds them, largest first."""
    found = face_cascade().detectMultiScale(
        gray,
        scaleFactor=HAAR_SCALE_FACTOR,
        minNeighbors=HAAR_MIN_NEIGHBOURS,
        flags=cv2.CASCADE_SCALE_IMAGE,
        minSize=(min_size, min_size),
    )
    boxes = [tuple(int(v) for v in box) for box in (found if len(found) else [])]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def _square(box: Sequence[int]) -> tuple[int, int, int, int]:
    x, y, w, h = (int(v) for v in box)
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    return x, y, w, h


def fer_region(box: Sequence[int]) -> tuple[int, int, int, int]:
    """The pixels (x1, y1, x2, y2) fer cuts for a face box: squared, widened by the offsets."""
    x, y, w, h = _square(box)
    dx, dy = FER_OFFSETS
    return x - dx, y - dy, x + w + dx, y + h + dy


def _cut(gray: np.ndarray, region: Sequence[int]) -> np.ndarray:
    """Cut `region` (x1, y1, x2, y2) out of `gray` the way fer does: outside the picture lies a
    40 px band of the bottom two rows' mean grey, and the cut stops where that band ends."""
    x1, y1, x2, y2 = (int(v) for v in region)
    fill = round(float(gray[-2:].mean()))
    h, w = gray.shape
    p = FER_PADDING
    # the cut in padded coordinates, clipped to the padded picture
    px1, py1 = max(x1 + p, 0), max(y1 + p, 0)
    px2, py2 = min(x2 + p, w + 2 * p), min(y2 + p, h + 2 * p)
    if px2 <= px1 or py2 <= py1:
        raise ValueError(f"face region {tuple(region)} lies outside the {w}x{h} picture")
    out = np.full((py2 - py1, px2 - px1), fill, np.uint8)
    # the part that lies inside the picture itself
    ix1, iy1 = max(px1 - p, 0), max(py1 - p, 0)
    ix2, iy2 = min(px2 - p, w), min(py2 - p, h)
    if ix2 > ix1 and iy2 > iy1:
        out[iy1 + p - py1 : iy2 + p - py1, ix1 + p - px1 : ix2 + p - px1] = gray[iy1:iy2, ix1:ix2]
    return out


def fer_face_crop(gray: np.ndarray, box: Sequence[int]) -> np.ndarray:
    """fer's 64x64 uint8 network input for face `box` (x, y, w, h) of the grey picture."""
    window = _cut(gray, fer_region(box))
    return cv2.resize(window, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)


def aligned_crop(gray: np.ndarray, region: Sequence[float] = ALIGNED_FACE_REGION) -> np.ndarray:
    """The 64x64 uint8 network input of an aligned face crop: the fixed `region` (fractions of
    the side: left, top, right, bottom), cut as fer cuts and resized as fer resizes."""
    h, w = gray.shape
    left, top, right, bottom = region
    box = (round(left * w), round(top * h), round(right * w), round(bottom * h))
    window = _cut(gray, box)
    return cv2.resize(window, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)


def _scaled(faces: Sequence[np.ndarray]) -> torch.Tensor:
    stack = np.stack(faces).astype(np.float32)
    return torch.from_numpy(stack / 255.0 * 2.0 - 1.0)[:, None]


# --- the judge -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpressionReading:
    """The judge's reading of one face in a photo."""

    box: tuple[int, int, int, int]  # (x, y, w, h) as the cascade found it, photo pixels
    probabilities: dict[str, float]  # segan expression name -> probability (7 names)

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)

    @property
    def probability(self) -> float:
        return self.probabilities[self.label]


class ExpressionJudge:
    """Reads expressions of real faces with fer's mini-Xception.

    `read_photo` finds faces as fer does; `probabilities` and `__call__` read aligned face
    crops (N, 3, H, W) in [-1, 1] through the fixed `region` (or the cascade, `crop="haar"`,
    falling back to the region where it finds no face).
    """

    def __init__(
        self,
        model: MiniXception,
        crop: str = "fixed",
        region: Sequence[float] = ALIGNED_FACE_REGION,
        device: str | torch.device = "cpu",
    ):
        if crop not in ("fixed", "haar"):
            raise ValueError(f"crop must be 'fixed' or 'haar', got {crop!r}")
        left, top, right, bottom = (float(v) for v in region)
        if not (right > left and bottom > top):
            raise ValueError(f"face region {tuple(region)} is empty")
        self.model = model.eval().to(device)
        self.crop, self.region, self.device = crop, (left, top, right, bottom), torch.device(device)

    @torch.no_grad()
    def classify(self, faces: torch.Tensor) -> torch.Tensor:
        """(N, 7) probabilities in the judge's order for network inputs (N, 1, 64, 64)."""
        return F.softmax(self.model(faces.to(self.device).float()), dim=1).cpu()

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """The network inputs (N, 1, 64, 64) in [-1, 1] of aligned face crops."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (N, 3, H, W) face crops, got {tuple(images.shape)}")
        faces = []
        for image in images:
            gray = to_gray_uint8(image)
            boxes = haar_faces(gray, _haar_min_size(gray)) if self.crop == "haar" else []
            faces.append(
                fer_face_crop(gray, boxes[0]) if boxes else aligned_crop(gray, self.region)
            )
        return _scaled(faces)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 7) probabilities in the judge's order (`JUDGE_CLASSES`) for aligned crops."""
        if images.shape[0] == 0:
            return torch.zeros(0, len(JUDGE_CLASSES))
        return self.classify(self.inputs(images))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 8) probabilities in segan's expression order for aligned crops; contempt, which
        the judge cannot read, is 0."""
        return to_segan_order(self.probabilities(images))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(N,) segan expression indices the judge reads on aligned crops (never contempt)."""
        return self(images).argmax(1)

    def read_photo(self, image: Any) -> list[ExpressionReading]:
        """Every face fer would find in a photo, largest first, with the judge's reading."""
        gray = to_gray_uint8(image)
        boxes = haar_faces(gray)
        if not boxes:
            return []
        probs = self.classify(_scaled([fer_face_crop(gray, box) for box in boxes]))
        return [
            ExpressionReading(
                box, {name: float(p) for name, p in zip(JUDGE_CLASSES, row, strict=True)}
            )
            for box, row in zip(boxes, probs, strict=True)
        ]


def _haar_min_size(gray: np.ndarray) -> int:
    """fer's 50 px smallest face, scaled down for crops too small to hold one."""
    return min(HAAR_MIN_SIZE, max(20, min(gray.shape) // 3))


def to_segan_order(probs: torch.Tensor) -> torch.Tensor:
    """(N, 7) judge probabilities -> (N, 8) in segan's EXPRESSIONS order (contempt 0)."""
    out = torch.zeros(probs.shape[0], len(EXPRESSIONS), dtype=probs.dtype)
    out[:, list(SEGAN_INDEX)] = probs
    return out


def load_expression_judge(
    path: str | Path | None = None,
    crop: str = "fixed",
    device: str | torch.device = "cpu",
    download: bool = True,
) -> ExpressionJudge:
    """The expression judge from fer's `emotion_model.hdf5`, found by `segan.assets.locate`
    (a given path, `SEGAN_FER_EMOTION`, an installed carrier, the cache, then the publisher
    unless `download` is False)."""
    file = locate("fer_emotion", path, download=download)
    return ExpressionJudge(load_mini_xception(file), crop=crop, device=device)
