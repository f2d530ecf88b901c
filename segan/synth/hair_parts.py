"""Painters of the hair and the hat: hair behind the head, hair over the forehead and temples,
and the hat, sized by the hair's thickness."""

from __future__ import annotations

import torch

from segan.synth.canvas import Canvas, Coarse, Window, bcast, ellipse_sdf, inside
from segan.synth.geometry import Geometry, outline_radius
from segan.synth.identity import Identity
from segan.synth.parts import CODE, color_of


class _Hair:
    """Per-sample hair shape parameters, reshaped (N, 1, 1) once per painter call."""

    def __init__(self, p: Identity, g: Geometry):
        style, vol, ln = p.hair_style, p.hair_volume, p.hair_length
        thick = 0.025 + 0.085 * vol
        thick = torch.where(style == 5, 0.10 + 0.12 * vol, thick)  # curly
        thick = torch.where(style == 1, torch.full_like(vol, 0.010), thick)  # buzz
        ends = torch.stack(
            [
                torch.full_like(ln, -2.0),  # bald: nothing
                -0.18 + 0 * ln,  # buzz
                -0.02 + 0.10 * ln,  # short: above the ears to mid ear
                0.22 + 0.22 * ln,  # medium: to the jaw
                0.55 + 0.55 * ln,  # long: shoulders and beyond
                0.10 + 0.35 * ln,  # curly
            ],
            1,
        )
        end = ends.gather(1, style.long()[:, None])[:, 0]
        # The skull cap: an ellipse around the head, centred slightly above the face centre.
        vc = torch.full_like(thick, -0.08)
        A, B = g.a + thick, g.bt + thick + vc
        # Per-sample extents, (N,): for windows.
        self.thick, self.end, self.vc, self.A, self.B = thick, end, vc, A, B
        self.side_end = torch.where(style >= 3, end, torch.full_like(end, -0.12))
        b = bcast
        self.fx, self.a, self.inv_a = b(g.fx), b(g.a), b(1.0 / g.a)
        self.vc_, self.inv_A, self.inv_B = b(vc), b(1.0 / A), b(1.0 / B)
        self.min_AB, self.A_, self.end_ = b(torch.minimum(A, B)), b(A), b(end)
        self.curl = b(0.006 + 0.035 * (style == 5).float())
        self.has_hair = b((style > 0).float())
        self.no_locks = b(1e3 * (style < 3).float())
        self.hairline = b(p.hairline)
        self.fringe_line = b(p.hairline + p.fringe_depth)
        self.fringe = b(p.fringe)
        self.part = b(p.hair_part)
        self.part_amp = b(0.035 * torch.sign(p.hair_part))
        self.cover = b(0.07 + 0.07 * p.hair_volume)
        self.eye_v = b(g.ey[:, 0])
        self.side_end_ = b(self.side_end)


def _hair_region(w: Window | Coarse, h: _Hair) -> torch.Tensor:
    """Signed distance of the whole hair mass (skull cap plus hanging length)."""
    du = w.u - h.fx
    X, Y = du * h.inv_A, (w.v - h.vc_) * h.inv_B
    sdf_cap = (X * X + Y * Y).sqrt_().sub_(1.0).mul_(h.min_AB)
    # Hanging length: a band that widens slightly toward the shoulders.
    half = (w.v.clamp(min=0.0) * 0.10 + 1.0).mul_(h.A_)
    sdf = torch.minimum(sdf_cap, torch.maximum(du.abs_() - half, -w.v))
    # Cut at the style's length, with a rounded, ragged tip; curls roughen the outline.
    tex = w.texture(1)
    sdf = torch.maximum(sdf, w.v - h.end_ - 0.03 * tex)
    return sdf.sub_(h.curl * tex)


def _ring_windows(cv: Canvas, u0, u1, v0, v1, v_split, inner_l, inner_r) -> list[Window]:
    """Cover the canonical box [u0,u1] x [v0,v1] except a middle column below `v_split`.

    Returns a top window (pixel rows down to v_split) and, below it, bands of rows each split
    into a left strip (u < inner_l) and a right strip (u > inner_r); all in disjoint pixel
    ranges. Callers use it where the skipped middle is painted over later (face, neck).
    """
    outer = cv.window(u0, u1, v0, v1)
    if outer.empty:
        return []
    top = cv.window(u0, u1, v0, v_split)
    ys = min(max(top.y1, outer.y0), outer.y1)
    windows = [Window(cv, outer.y0, ys, outer.x0, outer.x1)]
    band = max(cv.res // 4, 8)
    edges = [*list(range(ys, outer.y1, band)), outer.y1]
    if len(edges) < 2:
        return windows
    left = cv.column_of(inner_l, edges).amax(0).tolist()
    right = cv.column_of(inner_r, edges).amin(0).tolist()
    for i in range(len(edges) - 1):
        ya, yb = edges[i], edges[i + 1]
        if yb <= ya:
            continue
        xl = min(max(int(max(left[i], left[i + 1])) + 2, outer.x0), outer.x1)
        xr = max(min(int(min(right[i], right[i + 1])) - 1, outer.x1), xl)
        windows += [Window(cv, ya, yb, outer.x0, xl), Window(cv, ya, yb, xr, outer.x1)]
    return windows


def _cap_rows(cv: Canvas, p: Identity, g: Geometry, half_width: torch.Tensor) -> int:
    """First pixel row that may lie below some sample's hairline (a parting lowers a
    hairline by at most 0.035): above it, front hair is the whole hair mass."""
    u0, u1 = g.fx - half_width - 0.05, g.fx + half_width + 0.05
    below = cv.window(u0, u1, p.hairline - 0.045, p.hairline + 0.3)
    return below.y0


def draw_hair_back(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Hair behind the head: the cap around the skull and the length hanging behind."""
    h = _Hair(p, g)
    color_base = color_of(p.colors["hair"])
    windows = _ring_windows(
        cv,
        g.fx - h.A - 0.06,
        g.fx + h.A + 0.12,
        h.vc - h.B - 0.06,
        h.end + 0.06,
        -0.7 * g.bt,
        g.fx - 0.40 * g.a,
        g.fx + 0.40 * g.a,
    )
    # Below the eyes the middle is painted over by the face and then the neck.
    for w in windows:
        if w.empty:
            continue
        grid = w.coarse()
        sdf = w.upsample(_hair_region(grid, h), grid)
        cov = inside(sdf, w.px * 1.5).mul_(h.has_hair)
        strands = w.texture(2)
        shade = (0.55 + 0.06 * strands).clamp_(0.3, 0.9)
        w.paint(cov, color_base * shade[:, None], CODE["hair_back"], height=0.04 + 0.01 * strands)


def draw_hair_front(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Hair over the forehead (hairline, fringe, parting) and side locks over the temples."""
    h = _Hair(p, g)
    windows = _ring_windows(
        cv,
        g.fx - h.A - 0.05,
        g.fx + h.A + 0.05,
        h.vc - h.B - 0.05,
        torch.maximum(h.side_end, g.ey[:, 0]) + 0.05,
        p.hairline + p.fringe_depth + 0.1,
        g.fx - 0.72 * g.a,
        g.fx + 0.72 * g.a,
    )
    if not windows:
        return
    # Rows above every sample's hairline hold only the cap: split them off, they need no
    # hairline or side-lock computation.
    top = windows[0]
    split = min(max(_cap_rows(cv, p, g, h.A), top.y0), top.y1)
    base = p.colors["hair"]
    buzz = (p.hair_style == 1).float()[:, None]
    base = color_of(base + (p.colors["skin"] * 0.55 - base * 0.55) * buzz)
    _paint_hair_front(Window(cv, top.y0, split, top.x0, top.x1), h, g, base, cap_only=True)
    for w in [Window(cv, split, top.y1, top.x0, top.x1), *windows[1:]]:
        _paint_hair_front(w, h, g, base, cap_only=False)


def _paint_hair_front(w: Window, h: _Hair, g: Geometry, base: torch.Tensor, cap_only: bool):
    """Paint front hair in a window; cap_only when the window lies above all hairlines."""
    if w.empty:
        return
    grid = w.coarse()
    fields = w.upsample(_hair_front_fields(grid, h, g, cap_only), grid)
    sdf, height = fields[:, 0], fields[:, 1]
    cov = inside(sdf, w.px * 1.4).mul_(h.has_hair)
    strands = w.texture(2)
    shade = (0.92 + 0.10 * strands + 0.06 * w.texture(1)).clamp_(0.6, 1.2)
    w.paint(cov, base * shade[:, None], CODE["hair_front"], height=height.add_(0.015 * strands))


def _hair_front_fields(w: Coarse, h: _Hair, g: Geometry, cap_only: bool) -> torch.Tensor:
    """(N, 2, h, w): signed distance of the front hair and the height of the hair dome."""
    sdf = _hair_region(w, h)
    du = w.u - h.fx
    if not cap_only:
        X2 = (du * h.inv_a).square_()
        parting = ((w.u - h.part) * 12.0).clamp_(-1.0, 1.0).mul_(h.part_amp)
        hairline = (X2 * 0.10).add_(parting).add_(h.hairline)
        fringe_line = (X2 * 0.06).add_(w.texture(1) * 0.012).add_(h.fringe_line)
        hairline = hairline + (torch.maximum(hairline, fringe_line) - hairline) * h.fringe
        sdf_top = torch.maximum(sdf, w.v - hairline)
        # Side locks for medium, long and curly hair: a band along the face outline over the
        # temples, thinning toward the jaw, then falling to the style's length.
        r_face = outline_radius(g, w.u, w.v, bcast)
        cover = (1.0 - (w.v - h.eye_v) * (1.0 / 0.30)).clamp_(0.0, 1.0).mul_(h.cover)
        sdf_side = torch.maximum(sdf, (1.0 - cover - r_face) * h.a)
        sdf_side = torch.maximum(sdf_side, w.v - h.side_end_)
        # Locks hang beside the face and neck, never in front of the throat.
        sdf_side = torch.maximum(sdf_side, h.a * 0.72 - du.abs())
        sdf = torch.minimum(sdf_top, sdf_side + h.no_locks)
    X2 = (du * h.inv_A).square_() + ((w.v - h.vc_) * h.inv_B).square_()
    height = (1.0 - X2).clamp_(min=0.0).sqrt_().mul_(0.34)
    return torch.stack([sdf, height], 1)


def draw_hat(cv: Canvas, p: Identity, g: Geometry) -> None:
    thick = _Hair(p, g).thick
    brim_v = p.hairline + 0.03
    A = g.a + 0.05 + 0.5 * thick
    top = -g.bt - thick - 0.06
    w = cv.window(g.fx - A - 0.12, g.fx + A + 0.12, top - 0.02, brim_v + 0.05)
    du = w.u - bcast(g.fx)
    cv_ = bcast((brim_v + top) * 0.5)
    hb = bcast((brim_v - top) * 0.5)
    r = torch.sqrt((du / bcast(A)) ** 2 + ((w.v - cv_) / hb) ** 2)
    dome = torch.maximum(ellipse_sdf(du, w.v - cv_, bcast(A), hb), w.v - bcast(brim_v))
    brim = ellipse_sdf(du, w.v - bcast(brim_v), bcast(A + 0.08), torch.full_like(hb, 0.03))
    sdf = torch.minimum(dome, brim)
    cov = inside(sdf, w.px)
    band = ((w.v - bcast(brim_v) + 0.045).abs() < 0.018).float()
    color = color_of(p.colors["hat"]) * (1.0 - 0.35 * band + 0.05 * w.texture(0))[:, None]
    height = 0.30 * torch.sqrt((1.0 - r * r).clamp(min=0.0)) + 0.05
    w.paint(cov, color, CODE["hat"], height=height)
