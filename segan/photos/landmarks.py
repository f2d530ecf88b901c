"""Face landmarks of real photos: MediaPipe's Face Landmarker (478 mesh points, 52 blendshapes).

`MeshLandmarker` runs the Landmarker's task file (found with `segan.assets.locate`) in image
mode and returns one `FaceMesh` per face, largest first: the mesh in photo pixels and the
blendshape scores. The Landmarker finds faces with its own short-range detector, which misses
faces smaller than about a sixth of the picture; `segan.photos.finder` runs it on a crop around
each face a full-picture detector found instead.
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segan.assets import locate
from segan.photos.mesh import BLENDSHAPES, NUM_VERTICES

__all__ = ["FaceMesh", "MeshLandmarker", "check_rgb"]


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """`rgb` when it is an (H, W, 3) uint8 picture, else a ValueError saying what it is."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", type(rgb).__name__)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB picture, got {shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {rgb.dtype}")
    return rgb


@dataclass
class FaceMesh:
    """One face: `points` (478, 3) with x, y in photo pixels and z (depth, in the same pixel
    scale, smaller is nearer the camera); `blendshapes` (52,) scores in 0..1 in `BLENDSHAPES`
    order."""

    points: np.ndarray
    blendshapes: np.ndarray

    def __post_init__(self) -> None:
        if self.points.shape != (NUM_VERTICES, 3):
            raise ValueError(f"a face mesh has {NUM_VERTICES} points, got {self.points.shape}")
        if self.blendshapes.shape != (len(BLENDSHAPES),):
            raise ValueError(
                f"expected {len(BLENDSHAPES)} blendshapes, got {self.blendshapes.shape}"
            )

    @property
    def xy(self) -> np.ndarray:
        """(478, 2) pixel coordinates."""
        return self.points[:, :2]

    def box(self) -> tuple[float, float, float, float]:
        """The mesh's extent (x, y, w, h) in photo pixels."""
        lo, hi = self.xy.min(0), self.xy.max(0)
        return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))

    def blendshape(self, name: str) -> float:
        return float(self.blendshapes[BLENDSHAPES.index(name)])

    def moved(self, offset: tuple[float, float], scale: float = 1.0) -> FaceMesh:
        """The same face in another frame: points * scale + offset (z scales too)."""
        points = self.points * scale
        points[:, 0] += offset[0]
        points[:, 1] += offset[1]
        return FaceMesh(points, self.blendshapes.copy())


class MeshLandmarker:
    """MediaPipe's Face Landmarker over uint8 RGB pictures (thread-safe; one call at a time)."""

    def __init__(
        self,
        model_path: str | Path,
        max_faces: int = 4,
        min_detection: float = 0.5,
        min_presence: float = 0.5,
    ):
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as err:
            raise ImportError(
                f"the face landmarker needs mediapipe ({err}); pip install mediapipe"
            ) from None
        self.model_path = Path(model_path)
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=max_faces,
            min_face_detection_confidence=min_detection,
            min_face_presence_confidence=min_presence,
            output_face_blendshapes=True,
        )
        try:
            self._task = vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as err:
            raise ValueError(
                f"{self.model_path} is not a Face Landmarker task file: {err}"
            ) from None
        self._mp = mp
        self._lock = threading.Lock()
        # MediaPipe closes through a thread pool that shuts down before `atexit` handlers run:
        # close while threads still work, or its teardown prints errors at exit
        getattr(threading, "_register_atexit", atexit.register)(self.close)

    @classmethod
    def from_file(cls, path: str | Path | None = None, **kwargs) -> MeshLandmarker:
        """Open the Landmarker from `path`, or wherever `segan.assets` finds it."""

        return cls(locate("face_landmarker", path), **kwargs)

    def detect(self, rgb: np.ndarray) -> list[FaceMesh]:
        """The faces in an (H, W, 3) uint8 picture, largest first (empty when there is none)."""
        rgb = np.ascontiguousarray(check_rgb(rgb))
        h, w = rgb.shape[:2]
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        with self._lock:
            if self._task is None:
                raise RuntimeError("the face landmarker was closed")
            result = self._task.detect(image)
        faces = []
        for marks, shapes in zip(result.face_landmarks, result.face_blendshapes, strict=True):
            points = np.array([(p.x * w, p.y * h, p.z * w) for p in marks], np.float64)
            scores = np.zeros(len(BLENDSHAPES), np.float32)
            for c in shapes:
                scores[BLENDSHAPES.index(c.category_name)] = c.score
            faces.append(FaceMesh(points, scores))
        return sorted(faces, key=lambda f: f.box()[2] * f.box()[3], reverse=True)

    def close(self) -> None:
        with self._lock:
            if self._task is not None:
                self._task.close()
                self._task = None
