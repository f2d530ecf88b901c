"""FFHQ-style alignment of real photos: the oriented square FFHQ cuts, the crop, and paste-back.

FFHQ (Karras et al. 2019, NVlabs/ffhq-dataset) aligns every face from its 68 iBUG landmarks:
the eye centres (means of the six points around each eye) and the mouth corners (points 48 and
54) fix an oriented square, the `quad`. With e = right eye - left eye (image terms) and
m = mouth centre - eye centre, the square's horizontal half-axis x points along e - rot90(m),
its half-side is max(2 |e|, 1.8 |m|), the vertical half-axis y is x turned 90 degrees, and its
centre is eye centre + 0.1 m. The square is resampled to the output size (FFHQ renders it at
4x and shrinks it; `crop` renders it at up to 4x and shrinks it by area averaging), and where
it leaves the photo the photo is mirrored and faded into a blur and its median colour, as FFHQ
pads.

`Alignment` holds the quad in photo pixel coordinates (pixel centres at integers) in FFHQ's
corner order (top-left, bottom-left, bottom-right, top-right of the output). `paste` adds an
edit's change back through the inverse transform: an edit that changes nothing leaves every
pixel of the photo as it was, and pixels outside the square are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from segan.photos.faces import seam_weights

__all__ = [
    "Alignment",
    "eyes_and_mouth",
    "ffhq_alignment",
]

MAX_SUPERSAMPLE = 4
PAD_FRACTION = 0.3  # FFHQ's padding reaches 0.3 of the square's side beyond the photo
BLUR_FRACTION = 0.02  # and blurs it with a sigma of 0.02 of the side


def eyes_and_mouth(landmarks: np.ndarray) -> np.ndarray:
    """(4, 2): image-left eye centre, image-right eye centre, image-left and image-right mouth
    corners, from 68 iBUG points (FFHQ's choice: eye-contour means, points 48 and 54)."""
    points = np.asarray(landmarks, np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"expected (68, 2) iBUG landmarks, got {points.shape}")
    return np.stack([points[36:42].mean(0), points[42:48].mean(0), points[48], points[54]])


def ffhq_alignment(points: np.ndarray) -> Alignment:
    """FFHQ's oriented square from (4, 2) eye centres and mouth corners (`eyes_and_mouth`) or
    from (68, 2) iBUG landmarks."""
    points = np.asarray(points, np.float64)
    if points.shape == (68, 2):
        points = eyes_and_mouth(points)
    if points.shape != (4, 2) or not np.isfinite(points).all():
        raise ValueError(f"expected (4, 2) finite eye and mouth points, got {points.shape}")
    eye_left, eye_right, mouth_left, mouth_right = points
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) / 2 - eye_avg
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    norm = np.hypot(*x)
    half = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    if norm < 1e-6 or half < 1e-6:
        raise ValueError("the eye and mouth points coincide: no face to align")
    x = x / norm * half
    y = np.array([-x[1], x[0]])  # x turned 90 degrees: points down the face
    c = eye_avg + eye_to_mouth * 0.1
    return Alignment(np.stack([c - x - y, c - x + y, c + x + y, c + x - y]))


@dataclass(frozen=True)
class Alignment:
    """An oriented square of a photo (see the module docstring)."""

    quad: np.ndarray  # (4, 2): top-left, bottom-left, bottom-right, top-right of the output

    def __post_init__(self) -> None:
        quad = np.asarray(self.quad, np.float64)
        if quad.shape != (4, 2) or not np.isfinite(quad).all():
            raise ValueError(f"an alignment square has 4 finite (x, y) corners, got {quad.shape}")
        object.__setattr__(self, "quad", quad)

    @property
    def side(self) -> float:
        """The square's side in photo pixels."""
        return float(np.hypot(*(self.quad[3] - self.quad[0])))

    def matrix(self, size: int) -> np.ndarray:
        """(2, 3) affine map from crop pixel (column, row) to photo pixel (x, y) coordinates
        for a `size` x `size` crop (pixel centres at integers in both)."""
        ex = (self.quad[3] - self.quad[0]) / size
        ey = (self.quad[1] - self.quad[0]) / size
        return np.column_stack([ex, ey, self.quad[0] + 0.5 * (ex + ey)])

    def inverse(self, size: int) -> np.ndarray:
        """(2, 3) affine map from photo pixel to crop pixel coordinates."""
        return cv2.invertAffineTransform(self.matrix(size))

    def to_crop(self, points: np.ndarray, size: int) -> np.ndarray:
        """Photo pixel coordinates (..., 2) -> `size` crop coordinates."""
        m = self.inverse(size)
        return np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]

    def to_photo(self, points: np.ndarray, size: int) -> np.ndarray:
        """`size` crop coordinates (..., 2) -> photo pixel coordinates."""
        m = self.matrix(size)
        return np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]

    def inside(self, width: int, height: int) -> bool:
        """Whether the whole square lies inside a width x height photo."""
        q = self.quad
        return bool(q[:, 0].min() >= -0.5 and q[:, 1].min() >= -0.5) and bool(
            q[:, 0].max() <= width - 0.5 and q[:, 1].max() <= height - 0.5
        )

    def crop(self, rgb: np.ndarray, size: int) -> np.ndarray:
        """The square resampled to (size, size, 3) uint8, FFHQ's padding where it leaves the
        photo."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 photo, got {rgb.dtype} {rgb.shape}")
        if size < 8:
            raise ValueError(f"crop size must be at least 8, got {size}")
        k = int(np.clip(np.floor(self.side / size), 1, MAX_SUPERSAMPLE))
        big = size * k
        m = self.matrix(big)
        h, w = rgb.shape[:2]
        out = cv2.warpAffine(
            rgb,
            m,
            (big, big),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        if not self.inside(w, h):
            out = self._pad(out, m, rgb)
        if k > 1:
            out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
        return out

    def _pad(self, out: np.ndarray, m: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """Fade the mirrored parts of a crop into a blur and the photo's median colour with
        their distance beyond the photo's edge (FFHQ's padding)."""
        big = out.shape[0]
        h, w = rgb.shape[:2]
        jj, ii = np.meshgrid(np.arange(big), np.arange(big))
        x = m[0, 0] * jj + m[0, 1] * ii + m[0, 2]
        y = m[1, 0] * jj + m[1, 1] * ii + m[1, 2]
        outside = np.maximum.reduce([-x, x - (w - 1), -y, y - (h - 1)])  # < 0 inside
        pad = PAD_FRACTION * self.side
        t = outside / pad
        to_blur = np.clip(3 * t + 1, 0, 1)[..., None]
        to_median = np.clip(t, 0, 1)[..., None]
        sigma = BLUR_FRACTION * big
        work = out.astype(np.float32)
        blur = cv2.GaussianBlur(work, (0, 0), sigma)
        median = np.median(rgb.reshape(-1, 3), axis=0).astype(np.float32)
        work += (blur - work) * to_blur
        work += (median - work) * to_median
        return np.clip(np.rint(work), 0, 255).astype(np.uint8)

    def paste(
        self,
        rgb: np.ndarray,
        crop: np.ndarray,
        edited: np.ndarray,
        feather: float = 0.1,
    ) -> np.ndarray:
        """The photo with the edit's change (edited - crop) added back through the inverse
        transform, faded to zero over a seam band of `feather` times the side at the square's
        border; a new (H, W, 3) uint8 array."""
        if crop.shape != edited.shape or crop.ndim != 3 or crop.shape[0] != crop.shape[1]:
            raise ValueError(
                f"crop and edited must be the same square (R, R, 3) shape, got {crop.shape} and "
                f"{edited.shape}"
            )
        size = crop.shape[0]
        h, w = rgb.shape[:2]
        lo = np.floor(self.quad.min(0)).astype(int)
        hi = np.ceil(self.quad.max(0)).astype(int) + 1
        x0, y0 = max(lo[0], 0), max(lo[1], 0)
        x1, y1 = min(hi[0], w), min(hi[1], h)
        if x0 >= x1 or y0 >= y1:
            raise ValueError(f"the aligned square {self.quad.tolist()} misses the {w}x{h} photo")
        to_crop = self.inverse(size)
        to_crop[:, 2] += to_crop[:, :2] @ np.array([x0, y0], np.float64)  # box-local pixels
        box = (x1 - x0, y1 - y0)
        change = edited.astype(np.float32) - crop.astype(np.float32)
        weight = seam_weights(size, feather).astype(np.float32)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        change = cv2.warpAffine(change, to_crop, box, flags=flags, borderValue=0)
        weight = cv2.warpAffine(weight, to_crop, box, flags=flags, borderValue=0)
        region = rgb[y0:y1, x0:x1].astype(np.float32) + weight[..., None] * change
        out = rgb.copy()
        out[y0:y1, x0:x1] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
        return out
