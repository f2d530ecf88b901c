"""Colour speckles: how much of an edit's change is a period-2 checkerboard.

A generator whose x2 upsamplings compute their four output phases unequally prints a regular
grid of dots on what it paints (docs/real-faces.md); on photos these read as colour speckles.
The 2x2 kernel [[1, -1], [-1, 1]] / 4 answers a checkerboard of amplitude a with a, and a
constant or any linear ramp with 0, so its mean absolute response to the change (edit minus
input, at the resolution the model painted it) measures the pattern in grey levels, apart from
the smooth change an expression makes. Real detail that an edit moves (teeth, lip edges) also
answers a little, so the figure is read against other editors', not against zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["checkerboard"]


def checkerboard(source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
    """(N,) mean |change * [[1, -1], [-1, 1]] / 4| in grey levels (0..255) for (N, 3, H, W)
    images in [-1, 1], over every 2x2 window and channel."""
    if source.shape != edited.shape or source.dim() != 4 or min(source.shape[-2:]) < 2:
        raise ValueError(
            f"source and edited must be (N, C, H, W) of one shape, at least 2x2, got "
            f"{tuple(source.shape)} and {tuple(edited.shape)}"
        )
    change = (edited.double() - source.double()) * 127.5
    channels = change.shape[1]
    kernel = change.new_tensor([[1.0, -1.0], [-1.0, 1.0]]).div(4).expand(channels, 1, 2, 2)
    return F.conv2d(change, kernel, groups=channels).abs().mean((1, 2, 3))
