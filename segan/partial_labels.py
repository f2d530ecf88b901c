"""What a mesh mask says of the pixels it leaves unknown: partial labels outside the face.

A mesh mask (`segan.photos.parts`) labels the face oval's pixels and leaves every other pixel
unknown (255). Those pixels are not wholly unknown: outside the oval a pixel is not one of the
parts the mesh draws inside it (brows, eyes, nose, lips, mouth opening), and at the picture's
frame of an FFHQ-aligned face it is background, hair, clothes, neck or a hat, not skin either.
`mark_outside` writes those two facts into a mask as two more label values, each standing for
a set of classes the true class lies in (`ALLOWED`); `partial_nll` is the loss that asks a
parser to put its probability inside the set, and `outside_scores` measures on held-out faces
how much of a parser's reading breaks them (a part drawn outside the face, skin at the frame).

Geometry, in fractions of the mask's side: a pixel is outside the face when it lies more than
`OUTSIDE_MARGIN` from every labelled pixel (the mesh's oval is a few pixels off the true edge);
the frame is the band `FRAME_BAND` wide along the picture's four edges. The frame rule holds for
FFHQ's alignment (the face in the middle, the crop four times the eye-to-mouth span), with
exceptions a loss tolerates: a bald crown at the top edge, another person's face.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segan.labels import NUM_PARTS, PART_INDEX, UNKNOWN_CLASS

__all__ = [
    "ALLOWED",
    "AT_FRAME",
    "FRAME_BAND",
    "INNER_PARTS",
    "OUTSIDE_FACE",
    "OUTSIDE_MARGIN",
    "allowed_classes",
    "hard_labels",
    "mark_outside",
    "outside_scores",
]

OUTSIDE_FACE = 254  # outside the face oval: any class but the inner parts
AT_FRAME = 253  # outside the face, at the frame: any class but the inner parts and skin
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
FRAME_BAND = 1 / 20


def _allowed(*excluded: str) -> tuple[bool, ...]:
    return tuple(name not in excluded for name in PART_INDEX)


# label value -> which of the NUM_PARTS classes the pixel's true class may be
ALLOWED: dict[int, tuple[bool, ...]] = {
    OUTSIDE_FACE: _allowed(*INNER_PARTS),
    AT_FRAME: _allowed(*INNER_PARTS, "skin"),
}


def allowed_classes(device: torch.device | str = "cpu") -> dict[int, torch.Tensor]:
    """`ALLOWED` as (NUM_PARTS,) bool tensors."""
    return {value: torch.tensor(row, device=device) for value, row in ALLOWED.items()}


def _pixels(fraction: float, size: int) -> int:
    return max(1, round(fraction * size))


def mark_outside(
    mask: torch.Tensor, margin: float = OUTSIDE_MARGIN, band: float = FRAME_BAND
) -> torch.Tensor:
    """(N, H, W) class maps with the unknown pixels of each face that has labelled pixels
    rewritten: more than `margin` (of the side) from every labelled pixel -> `OUTSIDE_FACE`, and
    of those, within `band` of an edge -> `AT_FRAME`. Faces with no labelled pixel, and faces
    with no unknown pixel (SynthFaces' full masks), are returned as they are."""
    if mask.dim() != 3:
        raise ValueError(f"expected (N, H, W) class maps, got shape {tuple(mask.shape)}")
    h, w = mask.shape[1:]
    known = (mask < NUM_PARTS).float()[:, None]
    r = _pixels(margin, min(h, w))
    near = F.max_pool2d(known, 2 * r + 1, stride=1, padding=r)[:, 0] > 0
    has_face = known.flatten(1).any(1)[:, None, None]
    outside = (mask == UNKNOWN_CLASS) & ~near & has_face
    b = _pixels(band, min(h, w))
    frame = torch.ones(h, w, dtype=torch.bool, device=mask.device)
    frame[b:-b, b:-b] = False
    out = torch.where(outside, torch.full_like(mask, OUTSIDE_FACE), mask)
    return torch.where(outside & frame, torch.full_like(mask, AT_FRAME), out)


def hard_labels(mask: torch.Tensor) -> torch.Tensor:
    """The mask with its partial labels made unknown again (for losses and scores that take
    one class or none per pixel)."""
    return torch.where(mask >= NUM_PARTS, torch.full_like(mask, UNKNOWN_CLASS), mask)


def outside_scores(pred: torch.Tensor, marked: torch.Tensor) -> dict[str, tuple[int, int]]:
    """(broken, total) pixel counts of a parser's (N, H, W) reading against a `mark_outside`
    mask: "part_outside", inner parts read outside the face; "skin_at_frame", skin read at the
    frame outside the face. Sum them over a test set, then divide."""
    inner = torch.tensor([PART_INDEX[name] for name in INNER_PARTS], device=pred.device)
    outside = marked >= AT_FRAME
    outside &= marked != UNKNOWN_CLASS
    frame = marked == AT_FRAME
    return {
        "part_outside": (int((torch.isin(pred, inner) & outside).sum()), int(outside.sum())),
        "skin_at_frame": (int(((pred == PART_INDEX["skin"]) & frame).sum()), int(frame.sum())),
    }
