"""Counter-based random numbers for SynthFaces: a pure function of (identity, stream).

A hash instead of a stateful generator makes every identity's parameters independent of the
batch it is rendered in and identical on every device (integer arithmetic is exact on CPU and
CUDA alike).
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """Chris Wellons' 'lowbias32' integer hash on int64 tensors holding 32-bit values."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    x = x ^ (x >> 16)
    return x


def hash_uniform(keys: torch.Tensor, streams: torch.Tensor, salt: int = 0) -> torch.Tensor:
    """Uniform floats in [0, 1) for every (key, stream) pair, broadcast together.

    `keys` and `streams` are integer tensors; the result has their broadcast shape and is a pure
    function of the three inputs.
    """
    k = keys.to(torch.int64)
    s = streams.to(device=k.device, dtype=torch.int64)
    x = _mix32(k ^ ((k >> 32) * 0x27D4EB2F) ^ (salt * 0x165667B1))
    x = _mix32(x + (s + 1) * 0x9E3779B9)
    x = _mix32(x ^ (s * 0x85EBCA77))
    # 24 high bits -> exactly representable float32 in [0, 1).
    return (x >> 8).to(torch.float32) * (1.0 / 16777216.0)


def hash_int(keys: torch.Tensor, streams: torch.Tensor | int, salt: int = 0) -> torch.Tensor:
    """32-bit unsigned hash values (as int64) for every (key, stream) pair."""
    k = keys.to(torch.int64)
    s = torch.as_tensor(streams, dtype=torch.int64, device=k.device)
    x = _mix32(k ^ ((k >> 32) * 0x27D4EB2F) ^ (salt * 0x165667B1))
    x = _mix32(x + (s + 1) * 0x9E3779B9)
    return _mix32(x ^ (s * 0x85EBCA77) ^ 0x5BD1E995)
