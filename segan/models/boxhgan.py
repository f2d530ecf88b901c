"""BoxHGAN, the landmark-box hierarchy (the Cascade EF-GAN style baseline SegHGAN improves on):
the same global + local structure, but each region is a landmark bounding box: crop, edit at a
fixed size, resize and paste back. The boxes come from landmarks and are not differentiable;
without landmarks they come from the average aligned face (segan.labels.MEAN_LANDMARKS).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from segan.labels import EXPRESSIONS, MEAN_LANDMARKS
from segan.models import bisenet, unet  # noqa: F401  (registers the parsers)
from segan.models.base import (
    EditOutput,
    tile,
)
from segan.models.hierarchical import (
    REGION_LANDMARKS,
    Hierarchy,
    local_attention_of,
)


def landmark_boxes(
    landmarks: torch.Tensor, regions: Sequence[str], margin: float, image_size: int
) -> torch.Tensor:
    """(N, R, 4) float boxes x0, y0, x1, y1 around each region's landmarks, grown by `margin`
    of the box size (at least 4 pixels each side) and clipped to the image."""
    boxes = []
    for r in regions:
        pts = landmarks[:, REGION_LANDMARKS[r]]
        lo, hi = pts.amin(1), pts.amax(1)
        pad = ((hi - lo) * margin).clamp(min=4.0)
        boxes.append(torch.cat([lo - pad, hi + pad], 1))
    return torch.stack(boxes, 1).clamp(0.0, image_size - 1.0)


def _default_landmarks(n: int, image_size: int, device) -> torch.Tensor:
    """Landmarks of an average aligned face (segan.labels.MEAN_LANDMARKS) in pixels of an
    `image_size` crop, for boxes when none are given: (n, 68, 2)."""
    mean = torch.tensor(MEAN_LANDMARKS, dtype=torch.float32) * image_size - 0.5
    return mean.to(device)[None].expand(n, -1, -1)


class BoxHGAN(Hierarchy):
    """Landmark-box hierarchy (Cascade EF-GAN style): each region is cropped by a box around
    its landmarks, edited at a fixed size by its local generator, resized and pasted back over
    the global generator's output. The boxes are not differentiable."""

    architecture = "boxhgan"
    needs_landmarks = True
    paper = (
        "Wu, Zhang, Lu, Chen, Cascade EF-GAN: Progressive Facial Expression Editing with Local "
        "Focuses, CVPR 2020 (segan's landmark-box baseline of the hierarchy)"
    )

    def __init__(
        self,
        labels: Sequence[str] = EXPRESSIONS,
        image_size: int = 128,
        regions: Sequence[str] = ("eyes", "brows", "nose", "mouth"),
        crop_size: int = 32,
        margin: float = 0.25,
        global_conv_dim: int = 64,
        global_repeat: int = 4,
        local_conv_dim: int = 16,
        local_down: int = 1,
        local_repeat: int = 2,
        refiner: bool = False,
        global_attention: bool = True,
        local_attention: bool = False,
        upsample: str = "transposed",
    ):
        super().__init__()
        unknown = [r for r in regions if r not in REGION_LANDMARKS]
        if unknown:
            raise ValueError(f"unknown box regions {unknown}; known: {sorted(REGION_LANDMARKS)}")
        if crop_size % (2**local_down):
            raise ValueError(f"crop_size {crop_size} must be divisible by 2**local_down")
        self.crop_size, self.margin = int(crop_size), float(margin)
        self._build(list(regions))
        self._mean_landmarks: torch.Tensor | None = None

    def forward(
        self,
        x: torch.Tensor,
        condition: torch.Tensor,
        landmarks: torch.Tensor | None = None,
        explain: bool = False,
    ):
        out = self.explain(x, condition, landmarks)
        return out if explain else out.image

    def boxes_for(self, x: torch.Tensor, landmarks: torch.Tensor | None) -> torch.Tensor:
        """(N, R, 4) pixel boxes from landmarks (N, 68, 2), or from the mean aligned face."""
        if landmarks is None:
            if self._mean_landmarks is None or self._mean_landmarks.device != x.device:
                self._mean_landmarks = _default_landmarks(1, self.image_size, x.device)[0]
            landmarks = self._mean_landmarks[None].expand(x.shape[0], -1, -1)
        if landmarks.shape[1:] != (68, 2) or landmarks.shape[0] != x.shape[0]:
            raise ValueError(f"landmarks must have shape (N, 68, 2), got {tuple(landmarks.shape)}")
        boxes = landmark_boxes(landmarks.to(x.dtype), self.region_names, self.margin, x.shape[-1])
        return boxes.round()

    def explain(
        self, x: torch.Tensor, condition: torch.Tensor, landmarks: torch.Tensor | None = None
    ) -> EditOutput:
        self._check(x, condition)
        n, size = x.shape[0], x.shape[-1]
        boxes = self.boxes_for(x, landmarks)
        global_out = self.global_g.explain(x, condition)
        out = global_out.image
        masks, outs = [], []
        ones = torch.ones(n, 1, size, size, device=x.device, dtype=x.dtype)
        label = tile(condition, (self.crop_size, self.crop_size))
        for r, name in enumerate(self.region_names):
            box = boxes[:, r]
            crop = _crop(torch.cat([x, ones], 1), box, self.crop_size)
            edited, attention = self.local_g[name](torch.cat([crop, label], 1))
            outs.append((edited, attention))
            pasted, inside = _paste(edited, box, size)
            out = torch.where(inside, pasted, out)
            masks.append(inside.to(x.dtype))
        weights = torch.cat(masks, 1)
        out = self._refine(out, weights)
        local_attention = local_attention_of(outs)
        extras = {"global": global_out.image}
        if local_attention is not None:  # at the crop size
            extras["local_attention"] = local_attention
        return EditOutput(
            image=out,
            region_masks=weights,
            region_names=self.region_names,
            boxes=boxes,
            attention=global_out.attention,
            color=global_out.color,
            extras=extras,
        )


def _affine_for_box(box: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 2, 3) affine maps from a box's normalised coordinates to the image's (align_corners
    False convention: pixel i spans [i, i+1))."""
    x0, y0, x1, y1 = box.unbind(1)
    # Box covers pixels x0..x1 inclusive: edges at x0 and x1 + 1.
    cx = (x0 + x1 + 1.0) / size - 1.0
    cy = (y0 + y1 + 1.0) / size - 1.0
    sx = (x1 + 1.0 - x0) / size
    sy = (y1 + 1.0 - y0) / size
    zero = torch.zeros_like(cx)
    return torch.stack([torch.stack([sx, zero, cx], 1), torch.stack([zero, sy, cy], 1)], 1)


def _crop(image: torch.Tensor, box: torch.Tensor, crop_size: int) -> torch.Tensor:
    """Resample the box of every image to crop_size x crop_size (bilinear)."""
    theta = _affine_for_box(box, image.shape[-1])
    grid = F.affine_grid(theta, [image.shape[0], 1, crop_size, crop_size], align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", align_corners=False)


def _paste(crop: torch.Tensor, box: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize a crop back into its box of a size x size canvas: (pasted image, inside mask)."""
    n = crop.shape[0]
    ys = torch.arange(size, device=crop.device, dtype=crop.dtype)
    x0, y0, x1, y1 = (box[:, i, None] for i in range(4))
    # Pixel centres of the canvas in the crop's normalised coordinates.
    u = (ys[None, :] + 0.5 - x0) / (x1 + 1.0 - x0) * 2.0 - 1.0  # (N, W)
    v = (ys[None, :] + 0.5 - y0) / (y1 + 1.0 - y0) * 2.0 - 1.0  # (N, H)
    grid = torch.stack(
        [u[:, None, :].expand(n, size, size), v[:, :, None].expand(n, size, size)], -1
    )
    pasted = F.grid_sample(crop, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return pasted, box_inside(box, size)


def box_inside(box: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 1, size, size) bool: the pixels of each (N, 4) box x0, y0, x1, y1 (inclusive)."""
    ys = torch.arange(size, device=box.device, dtype=box.dtype)
    x0, y0, x1, y1 = (box[:, i, None] for i in range(4))
    inside_x = (ys[None, :] >= x0) & (ys[None, :] <= x1)
    inside_y = (ys[None, :] >= y0) & (ys[None, :] <= y1)
    return (inside_y[:, :, None] & inside_x[:, None, :])[:, None]
