"""Labels for a folder of face photos, computed by the Face Landmarker: `segan annotate`.

For every picture the Landmarker's raw output is kept: the mesh points the labels are drawn
from (`LABEL_VERTICES`: the part outlines and the vertices of the 68 iBUG points) and the 52
blendshape scores. Everything else is derived from them by code, so a better rule never needs
the photos again: the 68 iBUG points (`segan.photos.ibug`), the 17 AU intensities and the
expression (`segan.photos.aus`), and the part masks (`segan.photos.parts`).

The file is a compressed `.npz` (`ANNOTATIONS_FORMAT`): `names` (file names), `sizes` (width,
height), `found`, `points` (N, V, 2) float16 picture pixels (NaN where no face was found),
`blendshapes` (N, 52) float16, `vertices` (V,) and `meta` (JSON: landmarker file and hash,
seconds, counts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segan.labels import EXPRESSIONS
from segan.photos import mesh as m
from segan.photos.aus import aus_from_blendshapes, expression_from_aus
from segan.photos.ibug import IBUG68_VERTICES, ibug68
from segan.photos.images import ImageReadError, read_photo

__all__ = [
    "ANNOTATIONS_FORMAT",
    "LABEL_VERTICES",
    "Annotations",
    "annotate_pictures",
]

ANNOTATIONS_FORMAT = "segan-face-annotations/1"
LABEL_VERTICES: tuple[int, ...] = tuple(
    sorted(
        set(m.FACE_OVAL + m.L_EYE + m.R_EYE + m.L_BROW + m.R_BROW + m.UPPER_LIP + m.LOWER_LIP)
        | set(m.INNER_MOUTH + m.NOSE + m.IRIS_CENTRES)
        | {v for row in IBUG68_VERTICES for v, _ in row}
    )
)


class AnnotationError(ValueError):
    """An annotations file that cannot be used; names the file and what is wrong."""


@dataclass
class Annotations:
    """The Landmarker's output for a list of pictures (see the module docstring)."""

    names: list[str]
    sizes: np.ndarray  # (N, 2) width, height
    points: np.ndarray  # (N, V, 2) float32 picture pixels, NaN where not found
    blendshapes: np.ndarray  # (N, 52) float32, NaN where not found
    meta: dict = field(default_factory=dict)
    vertices: tuple[int, ...] = LABEL_VERTICES  # the mesh vertices `points` holds

    def __post_init__(self) -> None:
        n, v = len(self.names), len(self.vertices)
        if self.sizes.shape != (n, 2) or self.points.shape != (n, v, 2):
            raise AnnotationError(
                f"annotations of {n} pictures need sizes ({n}, 2) and points ({n}, {v}, 2); "
                f"got {self.sizes.shape} and {self.points.shape}"
            )
        missing = sorted(set(LABEL_VERTICES) - set(self.vertices))
        if missing:
            raise AnnotationError(
                f"annotations lack mesh vertices {missing[:8]}{'...' if len(missing) > 8 else ''}"
                " that segan's labels are drawn from; annotate the pictures again"
            )
        self._index = {name: k for k, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    @property
    def found(self) -> np.ndarray:
        return np.isfinite(self.blendshapes[:, 0])

    def index(self, name: str) -> int | None:
        """The row of a picture by file name (None when it was not annotated)."""
        return self._index.get(name)

    def mesh(self, k: int) -> np.ndarray:
        """(478, 2) mesh points of picture k (NaN for the vertices not kept)."""
        full = np.full((m.NUM_VERTICES, 2), np.nan)
        full[list(self.vertices)] = self.points[k]
        return full

    def landmarks(self) -> np.ndarray:
        """(N, 68, 2) iBUG points in picture pixels."""
        full = np.zeros((len(self), m.NUM_VERTICES, 2))
        full[:, list(self.vertices)] = np.nan_to_num(self.points)
        out = ibug68(full)
        out[~self.found] = np.nan
        return out

    def aus(self) -> np.ndarray:
        """(N, 17) AU intensities 0..5 (NaN where not found)."""
        out = aus_from_blendshapes(np.nan_to_num(self.blendshapes))
        out[~self.found] = np.nan
        return out

    def expressions(self) -> np.ndarray:
        """(N,) expression indices (-1 where not found)."""
        out = expression_from_aus(np.nan_to_num(self.aus()))
        out[~self.found] = -1
        return out

    def summary(self) -> dict:
        """Counts: pictures, faces found, expressions, mean AUs."""
        found = self.found
        expressions = self.expressions()[found]
        aus = self.aus()[found]
        return {
            "pictures": len(self),
            "faces_found": int(found.sum()),
            "expressions": {
                name: int((expressions == e).sum()) for e, name in enumerate(EXPRESSIONS)
            },
            "au_mean": [round(float(v), 3) for v in aus.mean(0)] if len(aus) else [],
            "au_share_active": [round(float(v), 4) for v in (aus >= 1.5).mean(0)]
            if len(aus)
            else [],
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            format=np.array(ANNOTATIONS_FORMAT),
            names=np.array(self.names),
            sizes=self.sizes.astype(np.int32),
            points=self.points.astype(np.float16),
            blendshapes=self.blendshapes.astype(np.float16),
            vertices=np.array(self.vertices, np.int32),
            meta=np.array(json.dumps(self.meta)),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Annotations:
        path = Path(path)
        if not path.is_file():
            raise AnnotationError(
                f"annotations file {path} does not exist; make it with "
                "`segan annotate FOLDER OUT.npz`"
            )
        try:
            z = np.load(path, allow_pickle=False)
            fmt = str(z["format"]) if "format" in z else None
        except (OSError, ValueError) as err:
            raise AnnotationError(f"{path} is not an annotations file: {err}") from None
        if fmt != ANNOTATIONS_FORMAT:
            raise AnnotationError(f"{path} is not a {ANNOTATIONS_FORMAT} file (format {fmt!r})")
        missing = [k for k in ("names", "sizes", "points", "blendshapes", "vertices") if k not in z]
        if missing:
            raise AnnotationError(f"{path} lacks {missing}")
        try:
            return cls(
                [str(n) for n in z["names"]],
                z["sizes"].astype(np.int64),
                z["points"].astype(np.float32),
                z["blendshapes"].astype(np.float32),
                json.loads(str(z["meta"])) if "meta" in z else {},
                tuple(int(v) for v in z["vertices"]),
            )
        except AnnotationError as err:
            raise AnnotationError(f"{path}: {err}") from None


def annotate_pictures(
    paths: Iterable[Path],
    detect: Callable[[np.ndarray], list],
    progress: Callable[[int], None] | None = None,
) -> Annotations:
    """Run `detect` (picture -> faces, largest first, as `MeshLandmarker.detect`) over pictures;
    the largest face of each is kept. Pictures that cannot be read count as not found."""

    names, sizes, points, shapes = [], [], [], []
    unreadable = 0
    start = time.perf_counter()
    for k, path in enumerate(paths):
        names.append(Path(path).name)
        point = np.full((len(LABEL_VERTICES), 2), np.nan, np.float32)
        shape = np.full(len(m.BLENDSHAPES), np.nan, np.float32)
        try:
            photo = read_photo(path)
        except ImageReadError:
            unreadable += 1
            sizes.append((0, 0))
        else:
            sizes.append(photo.size)
            faces = detect(photo.rgb)
            if faces:
                point = faces[0].xy[list(LABEL_VERTICES)].astype(np.float32)
                shape = faces[0].blendshapes.astype(np.float32)
        points.append(point)
        shapes.append(shape)
        if progress is not None:
            progress(k + 1)
    if not names:
        raise AnnotationError("no pictures to annotate")
    meta = {"seconds": round(time.perf_counter() - start, 2), "unreadable": unreadable}
    return Annotations(names, np.array(sizes), np.array(points), np.array(shapes), meta)
