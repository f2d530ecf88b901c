"""Colour speckles: the period-2 pattern in an edit's change that is locked to the pixel grid.

A generator whose x2 upsamplings compute their four output phases (even/odd row x even/odd
column) unequally prints a regular grid of dots on what it paints (docs/real-faces.md); on
photos these read as colour speckles. Such a pattern has the same phase everywhere, so it
survives averaging the change (edit minus input, at the resolution the model painted it) over
each of the four phases, while real detail an edit moves (teeth, lip edges, skin texture) has
no fixed phase and averages away. Second differences ([1, -2, 1] / 4 down, across, and
both) pass a period-2 pattern whole and give 0 on any smooth (locally linear) change; their
mean with every other row and/or column negated keeps what is locked to the grid. The three
components (along rows, along columns, diagonal) measure the pattern in grey levels: a
checkerboard of amplitude a over the whole picture gives a, over a tenth of it a / 10.
"""

from __future__ import annotations

import torch

__all__ = ["checkerboard"]


def _second_difference(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(x[k-1] - 2 x[k] + x[k+1]) / 4 along `dim` (valid part): a period-2 pattern of
    amplitude a answers with -a times its sign, constants and linear ramps with 0."""
    n = x.shape[dim]
    return (x.narrow(dim, 0, n - 2) - 2 * x.narrow(dim, 1, n - 2) + x.narrow(dim, 2, n - 2)) / 4


def _coherent(response: torch.Tensor, rows: bool, cols: bool) -> torch.Tensor:
    """The mean of `response` (N, C, H, W) with every other row and/or column negated: what
    keeps one sign along the grid survives, what has no fixed phase averages away."""
    h, w = response.shape[-2:]
    sign = torch.ones(h, w, dtype=response.dtype, device=response.device)
    if rows:
        sign[1::2] *= -1
    if cols:
        sign[:, 1::2] *= -1
    return (response * sign).mean((2, 3))


def checkerboard(source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
    """(N,) amplitude in grey levels (0..255) of the grid-locked period-2 pattern in the
    change between (N, C, H, W) images in [-1, 1]: the root sum of squares of its row, column
    and diagonal components, averaged over channels."""
    if source.shape != edited.shape or source.dim() != 4 or min(source.shape[-2:]) < 3:
        raise ValueError(
            f"source and edited must be (N, C, H, W) of one shape, at least 3x3, got "
            f"{tuple(source.shape)} and {tuple(edited.shape)}"
        )
    change = (edited.double() - source.double()) * 127.5
    down = _second_difference(change, 2)[..., :, 1:-1]
    across = _second_difference(change, 3)[..., 1:-1, :]
    both = _second_difference(_second_difference(change, 2), 3)
    rows = _coherent(down, rows=True, cols=False)
    cols = _coherent(across, rows=False, cols=True)
    diagonal = _coherent(both, rows=True, cols=True)
    return (rows**2 + cols**2 + diagonal**2).sqrt().mean(1)
