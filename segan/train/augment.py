"""Random mirror and similarity jitter of image + part-mask batches (parsers' training).

Applied on the device, to whole batches, with torch's global generator, so a resumed run
draws the same transforms (the trainer restores that generator). A mirrored mask swaps the
left and right classes (l_brow <-> r_brow, ...); mask pixels that a jitter brings in from
outside the frame are unknown (no loss), and the image there is the frame reflected.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segan.labels import FACE_PARTS, UNKNOWN_CLASS


def mirror_classes() -> torch.Tensor:
    """A lookup table over class ids (and the unknown id) mapping each class to its mirror
    image's class: "l_X" <-> "r_X", every other class to itself."""
    table = torch.arange(max(len(FACE_PARTS), UNKNOWN_CLASS + 1))
    index = {name: i for i, name in enumerate(FACE_PARTS)}
    for name, i in index.items():
        if name.startswith("l_") and (twin := "r_" + name[2:]) in index:
            table[i], table[index[twin]] = index[twin], i
    return table


_MIRROR = mirror_classes()


def augment_parts(
    image: torch.Tensor,
    mask: torch.Tensor,
    flip: float = 0.0,
    jitter: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, H, W) images and (N, H, W) class maps, each face mirrored with probability
    `flip` and moved by a random similarity: scaled by a factor in [1 - jitter, 1 + jitter],
    shifted by up to `jitter` of the frame each way and rotated by up to `jitter` radians."""
    n = image.shape[0]
    if flip > 0:
        mirrored = torch.rand(n, device=image.device) < flip
        if bool(mirrored.any()):
            image = torch.where(mirrored[:, None, None, None], image.flip(-1), image)
            swapped = _MIRROR.to(mask.device)[mask.long()].to(mask.dtype).flip(-1)
            mask = torch.where(mirrored[:, None, None], swapped, mask)
    if jitter <= 0:
        return image, mask
    u = torch.rand(n, 4, device=image.device) * 2 - 1  # scale, angle, shift x, shift y
    scale = 1 + jitter * u[:, 0]
    angle = jitter * u[:, 1]
    # affine_grid maps output coordinates to input ones: the inverse of the face's motion
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin, -2 * jitter * u[:, 2]], 1),
            torch.stack([sin, cos, -2 * jitter * u[:, 3]], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta.float(), list(image.shape), align_corners=False)
    moved = F.grid_sample(
        image.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False
    ).to(image.dtype)
    inside = F.grid_sample(
        torch.ones_like(image[:, :1]).float(), grid, mode="nearest", align_corners=False
    )[:, 0]
    classes = F.grid_sample(mask[:, None].float(), grid, mode="nearest", align_corners=False)[
        :, 0
    ].round()
    classes = torch.where(inside > 0.5, classes, torch.full_like(classes, UNKNOWN_CLASS))
    return moved, classes.to(mask.dtype)
