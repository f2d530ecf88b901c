"""Face-part masks drawn from the face mesh, in segan's 19-class order, with unknown pixels.

The mesh outlines the face oval, brows, eyes, nose, lips and the mouth opening, so those nine
classes (`MESH_PARTS`) are drawn; every pixel outside the face oval is `UNKNOWN` (hair,
background, ears, neck, clothes and hats are classes the mesh cannot give), and a parser's loss
ignores it rather than calling it background. Inside the oval, pixels no other part covers are
skin. Glasses are not seen by the mesh: their pixels are labelled as what lies under them.
Polygons are filled with sub-pixel precision (1/16 px) in the order skin, nose, brows, eyes,
lips, mouth opening, each over the previous.
"""

from __future__ import annotations

import cv2
import numpy as np

from segan.labels import PART_INDEX
from segan.labels import UNKNOWN_CLASS as UNKNOWN
from segan.photos import mesh as m

__all__ = ["MESH_PARTS", "UNKNOWN", "mesh_part_mask", "part_polygons"]

MESH_PARTS: tuple[str, ...] = (
    "skin",
    "l_brow",
    "r_brow",
    "l_eye",
    "r_eye",
    "nose",
    "mouth",
    "u_lip",
    "l_lip",
)
_SHIFT = 4  # fillPoly's fractional bits


def part_polygons(mesh_xy: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(part name, (K, 2) polygon) in drawing order, from (478, 2) mesh points."""
    xy = np.asarray(mesh_xy, np.float64)
    if xy.shape != (m.NUM_VERTICES, 2):
        raise ValueError(f"expected ({m.NUM_VERTICES}, 2) mesh points, got {xy.shape}")
    nose = xy[list(m.NOSE)]
    hull = cv2.convexHull(nose.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    return [
        ("skin", xy[list(m.FACE_OVAL)]),
        ("nose", hull),
        ("l_brow", xy[list(m.L_BROW)]),
        ("r_brow", xy[list(m.R_BROW)]),
        ("l_eye", xy[list(m.L_EYE)]),
        ("r_eye", xy[list(m.R_EYE)]),
        ("u_lip", xy[list(m.UPPER_LIP)]),
        ("l_lip", xy[list(m.LOWER_LIP)]),
        ("mouth", xy[list(m.INNER_MOUTH)]),
    ]


def mesh_part_mask(mesh_xy: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 class map (segan classes, `UNKNOWN` outside the face) of a face whose mesh
    points (478, 2) are in the picture's pixel coordinates; `size` is H = W or (H, W)."""
    h, w = (size, size) if isinstance(size, int) else size
    out = np.full((h, w), UNKNOWN, np.uint8)
    scale = float(1 << _SHIFT)
    for name, polygon in part_polygons(mesh_xy):
        points = np.rint(polygon * scale).astype(np.int32).reshape(1, -1, 2)
        cv2.fillPoly(out, points, int(PART_INDEX[name]), lineType=cv2.LINE_8, shift=_SHIFT)
    return out
