"""Differentiable augmentation of what a critic sees (DiffAugment: Zhao et al., Differentiable
Augmentation for Data-Efficient GAN Training, NeurIPS 2020).

A critic trained on a few thousand photos memorises them, and a generator then learns to fool
that memory (for a conditional critic, its auxiliary head) instead of painting faces. The
remedy of the paper: every image the critic sees, real or generated, in its own update and in
the generator's, goes through the same family of random transforms, written in torch so that the
generator's gradients pass through them. The transforms keep what an auxiliary head reads
(expression, action units): a colour change or a small shift does not change a smile.

A policy names the transforms, comma-separated, applied in this order:
- `color`: brightness (+U(-0.5, 0.5)), saturation (x U(0, 2) around each pixel's grey) and
  contrast (x U(0.5, 1.5) around the picture's mean), in the [-1, 1] pixel range;
- `translation`: a whole-pixel shift of up to 1/8 of the side in each direction, the uncovered
  border filled with 0 (mid grey);
- `cutout`: a square of half the side, anywhere in the picture, set to 0.
Each picture of a batch draws its own transform from torch's global generator, so a resumed run
that restores that generator draws the same transforms.
"""

from __future__ import annotations

import torch

POLICY_OPS = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """The transforms a policy string names, checked; "" names none."""
    ops = tuple(op.strip() for op in policy.split(",") if op.strip())
    for op in ops:
        if op not in POLICY_OPS:
            raise ValueError(
                f"critic augmentation {op!r} in policy {policy!r} is not one of "
                f"{', '.join(POLICY_OPS)}"
            )
    if len(set(ops)) != len(ops):
        raise ValueError(f"critic augmentation policy {policy!r} names a transform twice")
    return ops


def _uniform(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """One draw per picture, shaped to broadcast over (C, H, W)."""
    u = torch.rand(x.shape[0], 1, 1, 1, dtype=torch.float32).to(x.device, x.dtype)
    return low + (high - low) * u


def color(x: torch.Tensor) -> torch.Tensor:
    x = x + _uniform(x, -0.5, 0.5)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * _uniform(x, 0.0, 2.0) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean


def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """x with picture i moved by (dy[i], dx[i]) whole pixels, 0 where nothing moved in."""
    n, _, h, w = x.shape
    pad = int(max(dy.abs().max(), dx.abs().max(), 0))
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = (torch.arange(h).view(1, h) + pad - dy.view(n, 1)).to(x.device)
    cols = (torch.arange(w).view(1, w) + pad - dx.view(n, 1)).to(x.device)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    picked = padded.permute(0, 2, 3, 1)[batch, rows.view(n, h, 1), cols.view(n, 1, w)]
    return picked.permute(0, 3, 1, 2)


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    reach_y, reach_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-reach_y, reach_y + 1, (n,))
    dx = torch.randint(-reach_x, reach_x + 1, (n,))
    return shift(x, dy, dx)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h - size_y + 1, (n, 1, 1))
    left = torch.randint(0, w - size_x + 1, (n, 1, 1))
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    hole = (ys >= top) & (ys < top + size_y) & (xs >= left) & (xs < left + size_x)
    return x * (~hole).unsqueeze(1).to(x.device, x.dtype)


_OPS = {"color": color, "translation": translation, "cutout": cutout}


def augment(x: torch.Tensor, ops: tuple[str, ...]) -> torch.Tensor:
    """x (N, 3, H, W) in [-1, 1] through the transforms `ops` (see `parse_policy`)."""
    for op in ops:
        x = _OPS[op](x)
    return x
