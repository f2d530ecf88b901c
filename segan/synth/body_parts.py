"""Painters of the parts around the face: cloth, neck, necklace, ears and earrings."""

from __future__ import annotations

import torch

from segan.synth.canvas import Canvas, Coarse, bcast, ellipse_sdf, inside
from segan.synth.geometry import Geometry
from segan.synth.identity import Identity
from segan.synth.parts import CODE, color_of, gauss


def draw_cloth(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Shoulders in a plain or striped garment with a round neckline."""
    sh = p.shoulder_y
    w = cv.window(-1.6, 1.6, sh - 0.1, 1.6)
    if w.empty:
        return
    grid = w.coarse()
    fields = w.upsample(_cloth_fields(grid, p, g), grid)
    cov = inside(fields[:, 0], w.px)
    base, second = color_of(p.colors["cloth"]), color_of(p.colors["cloth2"])
    color = torch.lerp(base, second, fields[:, 1:2]).mul_((0.92 + 0.06 * w.texture(0))[:, None])
    w.paint(cov, color, CODE["cloth"], height=fields[:, 2].add_(0.05 * w.texture(1)))


def _cloth_fields(w: Coarse, p: Identity, g: Geometry) -> torch.Tensor:
    """(N, 3, h, w): garment signed distance, stripe weight and fold height."""
    sh = bcast(p.shoulder_y)
    du = w.u - bcast(g.fx * 0.5)
    shoulder = sh + 0.32 * du * du
    # Round neckline cut out of the garment.
    nl = bcast(p.neckline)
    neck_cut = torch.sqrt((du / (nl * 1.15)) ** 2 + ((w.v - sh + 0.04) / (nl * 0.9)) ** 2)
    sdf = torch.maximum(shoulder - w.v, (1.0 - neck_cut) * nl * 0.8)
    stripes = torch.sin(w.v * 55.0 + du * 8.0).mul_(3.0).clamp_(-1, 1).mul_(0.5).add_(0.5)
    stripes = stripes.mul_(bcast(p.cloth_stripes))
    folds = 0.14 - 0.06 * (du * 0.9).clamp(-1, 1) ** 2
    return torch.stack([sdf, stripes, folds], 1)


def _neck_half(g: Geometry, p: Identity, v: torch.Tensor) -> torch.Tensor:
    flare = ((v - 0.62) / 0.3).clamp(0, 1)
    return bcast(p.neck_w * g.a) * (1.0 + 0.35 * flare * flare)


def draw_neck(cv: Canvas, p: Identity, g: Geometry) -> None:
    """The neck, shaded as a cylinder, with the jaw's shadow under the chin."""
    w = cv.window(g.fx - 0.45, g.fx + 0.45, 0.1, 1.3)
    if w.empty:
        return
    grid = w.coarse()
    fields = w.upsample(_neck_fields(grid, p, g), grid)
    color = color_of(p.colors["skin"] * 0.93) * fields[:, 1:2]
    w.paint(inside(fields[:, 0], w.px), color, CODE["neck"], height=fields[:, 2])


def _neck_fields(w: Coarse, p: Identity, g: Geometry) -> torch.Tensor:
    """(N, 3, h, w): neck signed distance, jaw-shadow factor and cylinder height."""
    du = w.u - bcast(g.fx * 0.6)
    half = _neck_half(g, p, w.v)
    sdf = torch.maximum(du.abs() - half, 0.15 - w.v)
    X = ((w.u - bcast(g.fx)) / bcast(g.a)).clamp(-0.98, 0.98)
    jaw = bcast(g.bb) * torch.sqrt(1.0 - X * X)
    below = (w.v - jaw).clamp(min=0)
    shadow = 1.0 - 0.5 * (1.0 - below * (1.0 / 0.09)).clamp_(min=0.0).square_()
    xr = (du / half).clamp(-1, 1)
    return torch.stack([sdf, shadow, 0.12 * torch.sqrt(1.0 - xr * xr)], 1)


def draw_necklace(cv: Canvas, p: Identity, g: Geometry) -> None:
    base_v = p.shoulder_y - 0.06
    w = cv.window(g.fx - 0.35, g.fx + 0.35, base_v - 0.15, base_v + 0.12)
    du = w.u - bcast(g.fx * 0.6)
    line = bcast(base_v) - 0.10 + 1.1 * du * du
    half = _neck_half(g, p, w.v) * 1.12
    kind = bcast(p.necklace_kind)
    beads = (torch.cos(du * 160.0) * 0.5 + 0.5) * (kind == 2).float()
    thick = 0.006 + 0.004 * beads
    sdf = torch.maximum((w.v - line).abs() - thick, du.abs() - half)
    cov = inside(sdf, w.px)
    w.paint(cov, color_of(p.colors["necklace"]), CODE["necklace"], height=0.2 + 0 * sdf)


def draw_ears(cv: Canvas, p: Identity, g: Geometry) -> None:
    for k, name in ((0, "ear_img_left"), (1, "ear_img_right")):
        ex, ey, ew, eh = g.ear_x[:, k], g.ear_y[:, k], g.ear_w[:, k], g.ear_h[:, k]
        w = cv.window(ex - ew - 0.02, ex + ew + 0.02, ey - eh - 0.02, ey + eh + 0.02)
        du = (w.u - bcast(ex)) / bcast(ew)
        dv = (w.v - bcast(ey)) / bcast(eh)
        # Lobe narrower than the helix.
        du = du * (1.0 + 0.25 * dv.clamp(min=0))
        r = torch.sqrt(du * du + dv * dv)
        cov = inside(ellipse_sdf(du * bcast(ew), dv * bcast(eh), bcast(ew), bcast(eh)), w.px)
        side = -1.0 if k == 0 else 1.0
        concha = gauss(((du + side * 0.15) / 0.45) ** 2 + ((dv + 0.05) / 0.55) ** 2)
        color = color_of(p.colors["skin"] * 0.97) * (1.0 - 0.35 * concha)[:, None]
        w.paint(cov, color, CODE[name], height=0.06 * (1 - r.clamp(max=1)) - 0.03 * concha)


def draw_earrings(cv: Canvas, p: Identity, g: Geometry) -> None:
    hoop = bcast(p.earring_hoop)
    for k in (0, 1):
        cx = g.ear_x[:, k]
        cy = g.ear_y[:, k] + g.ear_h[:, k] * 0.85
        w = cv.window(cx - 0.05, cx + 0.05, cy - 0.02, cy + 0.08)
        du = w.u - bcast(cx)
        stud = torch.sqrt(du * du + (w.v - bcast(cy)) ** 2) - 0.011
        ring = (torch.sqrt(du * du + (w.v - bcast(cy) - 0.03) ** 2) - 0.03).abs() - 0.0045
        sdf = stud * (1 - hoop) + ring * hoop
        cov = inside(sdf, w.px)
        w.paint(cov, color_of(p.colors["earring"]), CODE["earrings"], height=0.25 + 0 * sdf)
