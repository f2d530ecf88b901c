"""Did the edit change only what it should? Mean absolute change outside the allowed region.

Bodur et al.'s headline claim is that seghgan edits the parts an expression moves and leaves the
rest alone. Leakage measures exactly that: the mean absolute change (0..255 grey levels) between
the input and the edit over the pixels outside the region the target expression may touch. On
SynthFaces the region is exact (`segan.synth.dataset.au_region` of the AUs that differ); on
real data it comes from a parser's part masks (`region_from_parts`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from segan.labels import PART_INDEX

__all__ = ["leakage", "region_from_parts"]


def leakage(source: torch.Tensor, edited: torch.Tensor, allowed: torch.Tensor) -> dict:
    """Mean |edited - source| in grey levels outside `allowed` (N, H, W) bool, per image then
    averaged; also the change inside, and the share of all change that lies outside."""
    if source.shape != edited.shape or source.dim() != 4:
        raise ValueError(
            f"source and edited must be (N, 3, H, W) of one shape, got {tuple(source.shape)} "
            f"and {tuple(edited.shape)}"
        )
    n, _, h, w = source.shape
    if allowed.shape != (n, h, w):
        raise ValueError(f"allowed must be ({n}, {h}, {w}) bool, got {tuple(allowed.shape)}")
    change = (edited.double() - source.double()).abs().mean(1) * 127.5  # (N, H, W) grey levels
    inside = allowed.bool()
    outside = ~inside
    n_out = outside.sum((1, 2)).clamp(min=1)
    n_in = inside.sum((1, 2)).clamp(min=1)
    out_mean = (change * outside).sum((1, 2)) / n_out
    in_mean = (change * inside).sum((1, 2)) / n_in
    total = change.sum((1, 2)).clamp(min=1e-12)
    share = (change * outside).sum((1, 2)) / total
    return {
        "leakage": float(out_mean.mean()),
        "change_inside": float(in_mean.mean()),
        "outside_share": 100 * float(share.mean()),
    }


def region_from_parts(
    masks: torch.Tensor, parts: Sequence[str], dilate_px: int = 0
) -> torch.Tensor:
    """(N, H, W) bool: pixels whose class (segan order) is one of `parts`, optionally dilated."""
    unknown = [p for p in parts if p not in PART_INDEX]
    if unknown:
        raise ValueError(f"unknown parts {unknown}; known: {list(PART_INDEX)}")
    ids = torch.tensor([PART_INDEX[p] for p in parts], device=masks.device)
    region = torch.isin(masks.long(), ids)
    if dilate_px > 0:
        k = 2 * dilate_px + 1
        region = torch.nn.functional.max_pool2d(region[:, None].float(), k, 1, dilate_px)[:, 0] > 0
    return region
