"""Faces in real photos: where they are, their landmarks, and FFHQ's alignment square.

`FaceFinder` pairs a full-picture detector (RetinaFace: boxes and five points, any face size)
with the Face Landmarker (478 mesh points and blendshapes). The Landmarker's own detector only
finds faces that fill a good part of the picture, so it runs on a square crop around each
detected face (twice the box's side, at `LANDMARK_SIDE` pixels) and its points are mapped back.
A face the Landmarker cannot fit (a profile, a hand over the mouth) keeps the detector's five
points, which are enough for the alignment. Without a detector the Landmarker runs on the whole
picture; without a Landmarker the detector's points align the face.

A picture without a face, or whose largest face is smaller than `min_face` pixels, raises
`NoFaceError` with a message that says which; several faces give the largest first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segan.assets import AssetUnavailableError
from segan.photos.align import Alignment, eyes_and_mouth, ffhq_alignment
from segan.photos.faces import CropBox, NoFaceError, crop_image
from segan.photos.ibug import ibug68
from segan.photos.landmarks import FaceMesh, MeshLandmarker, check_rgb
from segan.photos.retinaface import MIN_SIZES, WORKING_SIDE, RetinaFaceDetector

__all__ = ["LANDMARK_SIDE", "MIN_FACE", "Face", "FaceFinder"]

LANDMARK_SIDE = 256  # the Landmarker sees each face in a square of this many pixels
CONTEXT = 2.0  # ... this many times the detected box's side
MIN_FACE = 24  # faces whose box is smaller (pixels) are too small to edit


@dataclass
class Face:
    """One face: its box (x, y, w, h) in photo pixels, the detector's score and five points
    (eyes, nose, mouth corners; None without a detector), and the mesh (None when the
    Landmarker was not run or could not fit the face)."""

    box: tuple[float, float, float, float]
    score: float
    points5: np.ndarray | None = None
    mesh: FaceMesh | None = None

    @property
    def size(self) -> float:
        return max(self.box[2], self.box[3])

    def landmarks(self) -> np.ndarray | None:
        """(68, 2) iBUG points from the mesh (None without one)."""
        return None if self.mesh is None else ibug68(self.mesh.xy)

    def eyes_and_mouth(self) -> np.ndarray:
        """(4, 2) eye centres and mouth corners, image-left first: from the mesh's iBUG points
        (FFHQ's definition) or else the detector's points."""
        if self.mesh is not None:
            return eyes_and_mouth(self.landmarks())
        if self.points5 is None:
            raise ValueError("this face has neither a mesh nor detector points to align by")
        return np.asarray(self.points5, np.float64)[[0, 1, 3, 4]]

    def alignment(self) -> Alignment:
        """FFHQ's alignment square of this face."""
        return ffhq_alignment(self.eyes_and_mouth())


class FaceFinder:
    """A detector and a Landmarker over photos (either may be None, not both)."""

    def __init__(self, detector=None, landmarker: MeshLandmarker | None = None, min_face=MIN_FACE):
        if detector is None and landmarker is None:
            raise ValueError("a face finder needs a detector, a landmarker or both")
        self.detector, self.landmarker, self.min_face = detector, landmarker, float(min_face)

    @classmethod
    def from_files(
        cls,
        detector: str | None = None,
        landmarker: str | None = None,
        need: tuple[str, ...] = ("detector", "landmarker"),
    ) -> FaceFinder:
        """Open the RetinaFace detector and the Landmarker from their files (found by
        `segan.assets` when not given); the ones in `need` must be found, others are used
        when they are."""

        opened = {}
        for what, opener, path in (
            ("detector", RetinaFaceDetector.from_file, detector),
            ("landmarker", MeshLandmarker.from_file, landmarker),
        ):
            try:
                opened[what] = opener(path)
            except AssetUnavailableError:
                if what in need:
                    raise
                opened[what] = None
        return cls(opened["detector"], opened["landmarker"])

    def find(self, rgb: np.ndarray, meshes: str = "largest") -> list[Face]:
        """Every face in an (H, W, 3) uint8 photo, largest first; `meshes` says which get the
        Landmarker: "largest", "all" or "none"."""
        rgb = check_rgb(rgb)
        if meshes not in ("largest", "all", "none"):
            raise ValueError(f"meshes must be 'largest', 'all' or 'none', got {meshes!r}")
        if self.detector is None:
            found = self.landmarker.detect(rgb) if meshes != "none" else []
            return [Face(mesh.box(), 1.0, None, mesh) for mesh in found]
        faces = [Face(d.box, d.score, d.points) for d in self.detector.detect(rgb)]
        if self.landmarker is not None and meshes != "none":
            for face in faces if meshes == "all" else faces[:1]:
                face.mesh = self._mesh(rgb, face)
        return faces

    def _mesh(self, rgb: np.ndarray, face: Face) -> FaceMesh | None:
        """The Landmarker's mesh of one detected face, in photo pixels (None if it finds none)."""
        x, y, w, h = face.box
        side = max(1, round(CONTEXT * max(w, h)))
        square = CropBox(round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side)
        crop = crop_image(rgb, square, LANDMARK_SIDE)
        found = self.landmarker.detect(crop)
        if not found:
            return None
        centre = np.array([crop.shape[1] / 2, crop.shape[0] / 2])
        mesh = min(found, key=lambda f: np.linalg.norm(f.xy.mean(0) - centre))
        scale = side / crop.shape[0]
        # crop pixel centres sit at (i + 0.5) * scale - 0.5 photo pixels from the square's corner
        return mesh.moved((square.left + 0.5 * scale - 0.5, square.top + 0.5 * scale - 0.5), scale)

    def at(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> Face:
        """The face in a given box (x, y, w, h): its mesh, else the detector's points for the
        face it finds there; NoFaceError when neither reads one."""
        rgb = check_rgb(rgb)
        face = Face(tuple(float(v) for v in box), 1.0)
        if self.landmarker is not None:
            face.mesh = self._mesh(rgb, face)
        if face.mesh is None and self.detector is not None:
            x, y, w, h = face.box
            inside = [
                d
                for d in self.detector.detect(rgb)
                if x <= d.box[0] + d.box[2] / 2 <= x + w and y <= d.box[1] + d.box[3] / 2 <= y + h
            ]
            if inside:
                face.points5, face.score = inside[0].points, inside[0].score
        if face.mesh is None and face.points5 is None:
            raise NoFaceError(f"no face landmarks could be read inside the box {box}")
        return face

    def largest(self, rgb: np.ndarray) -> Face:
        """The largest face (with its mesh when the Landmarker can fit it); NoFaceError when
        there is none or it is too small to edit."""
        faces = self.find(rgb)
        h, w = rgb.shape[:2]
        if not faces:
            hint = ""
            if self.detector is not None:
                smallest = MIN_SIZES[0][0] * max(1.0, max(h, w) / WORKING_SIDE)
                hint = f" (faces under about {smallest:.0f} px across are not found at this size)"
            raise NoFaceError(f"no face found in the {w}x{h} picture{hint}")
        face = faces[0]
        if face.size < self.min_face:
            raise NoFaceError(
                f"the largest face in the {w}x{h} picture is {face.size:.0f} px across; faces "
                f"under {self.min_face:.0f} px are too small to edit (use a larger photo or crop "
                "closer to the face)"
            )
        return face
