"""Shading of a painted canvas: normals estimated from the height field, Lambert + Blinn-Phong.

The normal estimate comes from central differences of the composited height field, so every
bump (nose, cheeks raised by AU6, a chin boss) shades itself and shading changes only where
the height changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segan.synth.canvas import Canvas
from segan.synth.identity import Identity


def light_direction(p: Identity) -> torch.Tensor:
    """Unit light vectors (N, 3) in image axes (x right, y down, z toward the viewer)."""
    ce = torch.cos(p.light_elevation)
    lx = torch.sin(p.light_azimuth) * ce
    ly = -torch.sin(p.light_elevation)
    lz = torch.cos(p.light_azimuth) * ce
    return torch.stack([lx, ly, lz], 1)


def shade(
    cv: Canvas, p: Identity, ks: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """The lit image (N, 3, H, W) in [-1, 1] from the canvas' albedo and height.

    `ks` is the specular strength per pixel, (N, 1, H, W); `out`, if given, receives the
    image. A faint sensor grain modulates the light. The 3-channel work is fused into few
    passes: memory bandwidth is the cost here.
    """
    h = F.pad(cv.height, (1, 1, 1, 1), mode="replicate")
    k = (0.5 / cv.px)[:, None]  # central difference over two pixels, in canonical units
    gx = (h[:, :, 1:-1, 2:] - h[:, :, 1:-1, :-2]).mul_(k)
    gy = (h[:, :, 2:, 1:-1] - h[:, :, :-2, 1:-1]).mul_(k)
    inv = torch.addcmul(torch.addcmul(torch.ones_like(gx), gx, gx), gy, gy).rsqrt_()
    light = light_direction(p)
    half = light + torch.tensor([0.0, 0.0, 1.0], device=light.device)
    half = half / half.norm(dim=1, keepdim=True)

    def facing(vec: torch.Tensor) -> torch.Tensor:
        x, y, z = (vec[:, j, None, None, None] for j in range(3))
        return torch.addcmul(z - gx * x, gy, -y).mul_(inv).clamp_(min=0.0)

    ndl = facing(light)
    amb = p.ambient[:, None, None, None]
    diffuse = (1.04 - amb) / light[:, 2, None, None, None].clamp(min=0.35)
    grain = cv.tex[:, None, 0].mul(0.02).add_(1.0)
    lit = ndl.mul_(diffuse).add_(amb).mul_(grain)
    spec = facing(half)
    for _ in range(4):  # ^16
        spec.mul_(spec)
    out = torch.addcmul(spec.mul_(ks), cv.rgb, lit, out=out)
    for w, add in cv.post:
        out[:, :, w.y0 : w.y1, w.x0 : w.x1] += add[:, None]
    tint = p.colors["light"][:, :, None, None]
    minus_one = torch.full((1, 1, 1, 1), -1.0, device=out.device)
    return torch.addcmul(minus_one, out, 2.0 * tint, out=out).clamp_(-1.0, 1.0)
