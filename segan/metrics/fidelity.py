"""Is it still the same picture and the same person? PSNR, SSIM, L1 against the true target,
and a pluggable face-embedding distance (ACD) for real data.

Images are segan tensors (N, 3, H, W) in [-1, 1]; scores are computed on [0, 1]. SSIM is Wang
et al. 2004: an 11x11 Gaussian window (sigma 1.5), C1 = 0.01^2, C2 = 0.03^2, valid positions
only, averaged over channels and positions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from segan.metrics.unavailable import unavailable

__all__ = ["identity_distance", "l1", "psnr", "ssim"]


def _unit(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
        raise ValueError(
            f"expected two (N, 3, H, W) images of one shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    return (a.double().clamp(-1, 1) + 1) / 2, (b.double().clamp(-1, 1) + 1) / 2


def l1(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Mean absolute difference on the [0, 1] scale."""
    x, y = _unit(a, b)
    return {"l1": float((x - y).abs().mean())}


def psnr(a: torch.Tensor, b: torch.Tensor, max_db: float = 100.0) -> dict:
    """Peak signal-to-noise ratio in dB, per image then averaged (identical images: max_db)."""
    x, y = _unit(a, b)
    mse = (x - y).pow(2).mean((1, 2, 3))
    db = torch.where(mse > 0, -10 * torch.log10(mse.clamp(min=1e-30)), torch.full_like(mse, max_db))
    return {"psnr": float(db.clamp(max=max_db).mean())}


def _gaussian(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Structural similarity (Wang et al. 2004), per image then averaged; 1 for equal images."""
    x, y = _unit(a, b)
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {tuple(x.shape[-2:])}")
    g = _gaussian()
    window = (g[:, None] * g[None, :]).expand(3, 1, 11, 11).to(x.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=3)

    mx, my = blur(x), blur(y)
    vx, vy = blur(x * x) - mx**2, blur(y * y) - my**2
    cxy = blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return {"ssim": float(s.mean((1, 2, 3)).mean())}


def identity_distance(
    a: torch.Tensor,
    b: torch.Tensor,
    embed: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """Average content distance (ACD): mean cosine distance between face embeddings of `a` and
    `b` (pairs). `embed` maps (N, 3, H, W) in [-1, 1] to (N, D); without one, unavailable."""
    if embed is None:
        return unavailable(
            "no face-embedding model was given",
            "pass embed=<callable images -> (N, D) embeddings>, e.g. a FaceNet/ArcFace wrapper",
        )
    _unit(a, b)
    with torch.no_grad():
        ea, eb = embed(a).double(), embed(b).double()
    if ea.shape != eb.shape or ea.dim() != 2 or ea.shape[0] != a.shape[0]:
        raise ValueError(f"embed must return (N, D) embeddings, got {tuple(ea.shape)}")
    distance = 1 - F.cosine_similarity(ea, eb, dim=1)
    return {"identity_distance": float(distance.mean())}
