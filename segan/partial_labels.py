"""What a mesh mask says of the pixels it leaves unknown: partial labels outside the face.

A mesh mask (`segan.photos.parts`) labels the face oval's pixels and leaves every other pixel
unknown (255). Those pixels are not wholly unknown. Outside the oval a pixel is not one of the
parts the mesh draws inside it (brows, eyes, nose, lips, mouth opening), and it is not skin
either, except just above the oval, where the forehead goes on up to the hairline: beside and
below the face lie hair, ears, neck, clothes and background, each a class of its own.
`mark_outside` writes those facts into a mask as two more label values, each standing for the
set of classes the true class lies in (`ALLOWED`); `partial_nll` is the loss that asks a parser
to put its probability inside the set, and `outside_scores` measures on held-out faces how
much of a parser's reading breaks them (a face part outside the face, skin beside it).

Geometry, in fractions of the mask's side: a pixel is outside the face when it lies more than
`OUTSIDE_MARGIN` from every labelled pixel (the mesh's oval is a few pixels off the true edge);
the forehead band is the `FOREHEAD_BAND` above the topmost labelled pixel of each column. A
bald crown beyond that band is read as not skin, where CelebAMask-HQ would call it skin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segan.labels import NUM_PARTS, PART_INDEX, UNKNOWN_CLASS

__all__ = [
    "ABOVE_FACE",
    "ALLOWED",
    "FOREHEAD_BAND",
    "INNER_PARTS",
    "OUTSIDE_FACE",
    "OUTSIDE_MARGIN",
    "allowed_classes",
    "hard_labels",
    "mark_outside",
    "outside_scores",
]

OUTSIDE_FACE = 254  # beside or below the face: any class but the inner parts and skin
ABOVE_FACE = 253  # in the forehead band above the oval: any class but the inner parts
INNER_PARTS: tuple[str, ...] = (
    "l_brow",
    "r_brow",
    "l_eye",
    "r_eye",
    "nose",
    "mouth",
    "u_lip",
    "l_lip",
)
OUTSIDE_MARGIN = 1 / 32
FOREHEAD_BAND = 1 / 8


def _allowed(*excluded: str) -> tuple[bool, ...]:
    return tuple(name not in excluded for name in PART_INDEX)


# label value -> which of the NUM_PARTS classes the pixel's true class may be
ALLOWED: dict[int, tuple[bool, ...]] = {
    OUTSIDE_FACE: _allowed(*INNER_PARTS, "skin"),
    ABOVE_FACE: _allowed(*INNER_PARTS),
}


def allowed_classes(device: torch.device | str = "cpu") -> dict[int, torch.Tensor]:
    """`ALLOWED` as (NUM_PARTS,) bool tensors."""
    return {value: torch.tensor(row, device=device) for value, row in ALLOWED.items()}


def _pixels(fraction: float, size: int) -> int:
    return max(1, round(fraction * size))


def mark_outside(
    mask: torch.Tensor, margin: float = OUTSIDE_MARGIN, forehead: float = FOREHEAD_BAND
) -> torch.Tensor:
    """(N, H, W) class maps with the unknown pixels of each face that has labelled pixels
    rewritten: more than `margin` (of the side) from every labelled pixel -> `OUTSIDE_FACE`,
    or `ABOVE_FACE` within `forehead` above the topmost labelled pixel of its column. Faces
    with no labelled pixel, and faces with no unknown pixel (SynthFaces' full masks), are
    returned as they are."""
    if mask.dim() != 3:
        raise ValueError(f"expected (N, H, W) class maps, got shape {tuple(mask.shape)}")
    h, w = mask.shape[1:]
    known = mask < NUM_PARTS
    r = _pixels(margin, min(h, w))
    near = F.max_pool2d(known.float()[:, None], 2 * r + 1, stride=1, padding=r)[:, 0] > 0
    has_face = known.flatten(1).any(1)[:, None, None]
    outside = (mask == UNKNOWN_CLASS) & ~near & has_face
    # each column's topmost labelled row (h where the column has none: no band)
    rows = torch.arange(h, device=mask.device)[None, :, None]
    top = torch.where(known, rows, h).amin(1, keepdim=True)
    band = (rows < top) & (rows >= top - _pixels(forehead, h)) & (top < h)
    out = torch.where(outside, torch.full_like(mask, OUTSIDE_FACE), mask)
    return torch.where(outside & band, torch.full_like(mask, ABOVE_FACE), out)


def hard_labels(mask: torch.Tensor) -> torch.Tensor:
    """The mask with its partial labels made unknown again (for losses and scores that take
    one class or none per pixel)."""
    return torch.where(mask >= NUM_PARTS, torch.full_like(mask, UNKNOWN_CLASS), mask)


def outside_scores(pred: torch.Tensor, marked: torch.Tensor) -> dict[str, tuple[int, int]]:
    """(broken, total) pixel counts of a parser's (N, H, W) reading against a `mark_outside`
    mask: "part_outside", inner parts read outside the face (forehead band included);
    "skin_outside", skin read beside or below it. Sum them over a test set, then divide."""
    inner = torch.tensor([PART_INDEX[name] for name in INNER_PARTS], device=pred.device)
    beside = marked == OUTSIDE_FACE
    outside = beside | (marked == ABOVE_FACE)
    return {
        "part_outside": (int((torch.isin(pred, inner) & outside).sum()), int(outside.sum())),
        "skin_outside": (int(((pred == PART_INDEX["skin"]) & beside).sum()), int(beside.sum())),
    }
