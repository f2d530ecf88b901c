"""Noise textures for skin, hair and backgrounds: a fixed bank, cropped per identity.

The bank is generated once per (resolution, device) from a fixed seed on the CPU, so it is the
same everywhere; each identity picks a bank entry and an offset from its own parameters.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

BANK_SIZE = 8
# Channels: 0 fine grain (pores), 1 blotches, 2 vertical hair strands, 3 low-frequency clouds.
CHANNELS = 4


def _octaves(gen: torch.Generator, k: int, size: int, cells: tuple[int, ...]) -> torch.Tensor:
    out = torch.zeros(k, 1, size, size)
    for i, c in enumerate(cells):
        grid = torch.randn(k, 1, c, c, generator=gen)
        out += F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False) / (
            1.6**i
        )
    return out[:, 0] / out.std()


@functools.lru_cache(maxsize=8)
def texture_bank(resolution: int, device: str) -> torch.Tensor:
    """(BANK_SIZE, CHANNELS, 1.5 R, 1.5 R) zero-mean, unit-std noise fields."""
    size = resolution + resolution // 2
    gen = torch.Generator().manual_seed(20211208)
    fine = torch.randn(BANK_SIZE, 1, size, size, generator=gen)
    fine = F.avg_pool2d(F.pad(fine, (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, 0]
    fine = fine / fine.std()
    blotch = _octaves(gen, BANK_SIZE, size, (6, 12, 24))
    rows = max(resolution // 16, 4)
    strands = torch.randn(BANK_SIZE, 1, rows, size, generator=gen)
    strands = F.interpolate(strands, size=(size, size), mode="bilinear", align_corners=False)
    wave = _octaves(gen, BANK_SIZE, size, (4,))
    # Let strands sway a little: shift columns by a slow wave.
    strands = strands[:, 0] + 0.35 * torch.randn(BANK_SIZE, size, size, generator=gen)
    strands = strands / strands.std() + 0.3 * wave
    clouds = _octaves(gen, BANK_SIZE, size, (2, 3, 5))
    bank = torch.stack([fine, blotch, strands, clouds], 1)
    return bank.to(device)


def textures_for(
    resolution: int, index: torch.Tensor, off_x: torch.Tensor, off_y: torch.Tensor
) -> torch.Tensor:
    """Per-sample crops (N, CHANNELS, R, R) chosen by uniforms in [0, 1) (N,) each."""
    device = index.device
    bank = texture_bank(resolution, str(device))
    room = bank.shape[-1] - resolution
    k = (index * BANK_SIZE).long().clamp(0, BANK_SIZE - 1).tolist()
    ox = (off_x * room).long().tolist()
    oy = (off_y * room).long().tolist()
    crops = [
        bank[ki, :, y : y + resolution, x : x + resolution]
        for ki, x, y in zip(k, ox, oy, strict=True)
    ]
    return torch.stack(crops, 0)
