"""Painters of the face's skin and the nose: the head's relief, blush, creases and wrinkles
(the action units' marks on the skin), then the nose with its nostrils and AU9 wrinkles."""

from __future__ import annotations

import torch

from segan.synth.canvas import Canvas, Window, bcast, inside
from segan.synth.geometry import Geometry, outline_radius
from segan.synth.identity import Identity
from segan.synth.parts import (
    CODE,
    bump,
    color_of,
    constant_color,
    crease_profile,
    on_face,
    wrinkle_lines,
    wrinkle_lines_visible,
)


def _skin(w: Window, p: Identity) -> torch.Tensor:
    """Skin albedo with its blotch and pore texture over a window, (N, 3, h, w)."""
    tone = 1.0 + 0.035 * w.texture(1) + 0.025 * w.texture(0)
    return color_of(p.colors["skin"]) * tone[:, None]


def draw_face(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Skin of the head with its shading relief, blush, creases and wrinkles."""
    w = cv.window(g.fx - g.a - 0.02, g.fx + g.a + 0.02, -g.bt - 0.02, g.bb + 0.02)
    grid = w.coarse()
    r = w.upsample(outline_radius(g, grid.u, grid.v, bcast), grid)
    # Distance ~ (r - 1) * a: exact on the sides, within 1.5x elsewhere (only the AA width).
    cov = (r * (-bcast(g.a) / w.px)).add_(0.5 + bcast(g.a) / w.px).clamp_(0.0, 1.0)
    height = (1.0 - r * r).clamp_(min=0.0).sqrt_().mul_(0.30)
    w.paint(cov, _skin(w, p), CODE["face"], height=height)
    # Kept for the skin details painted next (and the eyes'), which must stay on the face.
    cv.face_cov = torch.zeros_like(cv.height[:, 0])
    cv.face_cov[:, w.y0 : w.y1, w.x0 : w.x1] = cov
    _face_relief(cv, p, g)
    _forehead_wrinkles(cv, g)
    _cheeks_and_folds(cv, p, g)
    _chin(cv, g)


def _face_relief(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Brow ridge and eye sockets as height, so the normals shade them."""
    for k in (0, 1):
        ex, ey = g.ex[:, k], g.ey[:, k]
        w = cv.window(ex - 0.14, ex + 0.14, ey - 0.12, ey + 0.08)
        du = (w.u - bcast(ex)) / 0.13
        socket = bump(du * du + ((w.v - bcast(ey) + 0.005) / 0.07) ** 2)
        ridge = bump(du * du + ((w.v - bcast(ey) + 0.075) / 0.04) ** 2)
        on = on_face(w)
        w.add_height((0.012 * ridge - 0.018 * socket) * on)
        w.multiply(1.0 - 0.10 * socket * on)


def _forehead_wrinkles(cv: Canvas, g: Geometry) -> None:
    """AU1 (central) and AU2 (lateral) horizontal lines; AU4 vertical glabella furrows."""
    by = torch.minimum(g.by_in.amin(1), g.by_out.amin(1))
    mid = (g.bx_in[:, 0] + g.bx_in[:, 1]) * 0.5
    lines_show = wrinkle_lines_visible(220.0, cv.px)
    if lines_show:
        w = cv.window(g.fx - 0.32, g.fx + 0.32, by - 0.17, g.ey[:, 0] + 0.01)
    else:  # the lines would be finer than the pixels: only the glabella is drawn
        w = cv.window(mid - 0.06, mid + 0.06, by - 0.035, g.ey[:, 0] + 0.01)
    if w.empty:
        return
    du = w.u - bcast(mid)
    dark = torch.zeros_like(du)
    if lines_show:
        top = bcast(by) - w.v  # distance above the brows
        band = ((top - 0.03) / 0.11).clamp(0, 1)
        band = band * (1 - band) * 4.0
        inner = bump((du / 0.14) ** 2) * bcast(g.fore_inner)
        outer = bump(((du.abs() - 0.19) / 0.12) ** 2) * bcast(g.fore_outer)
        dark = 0.32 * wrinkle_lines(top, 220.0, w.px) * band * (inner + outer).clamp(max=1.0)
    # Glabella: two short vertical furrows between the brows.
    gl_v = bump(((w.v - bcast(by) - 0.015) / 0.045) ** 2)
    furrow = crease_profile(du.abs() - 0.016, 0.0045, w.px) * gl_v * bcast(g.glabella)
    dark = dark + 0.45 * furrow
    dark = dark * on_face(w)
    w.multiply(1.0 - dark)
    w.add_height(-0.01 * dark)


def _cheeks_and_folds(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Cheek bulges (AU6, AU12) and nasolabial folds (AU12, AU10, AU9, AU6, AU14)."""
    for k in (0, 1):
        side = -1.0 if k == 0 else 1.0
        cx, cy = g.cx[:, k], g.cy[:, k]
        corner_x = g.mx + side * g.mw[:, k]
        corner_y = g.my + g.mc[:, k]
        wing_x = g.nx_tip + side * g.nw * 1.05
        wing_y = g.n_tip - 0.005
        u0 = torch.minimum(cx - 0.11, torch.minimum(corner_x, wing_x) - 0.04)
        u1 = torch.maximum(cx + 0.11, torch.maximum(corner_x, wing_x) + 0.04)
        w = cv.window(
            u0 - 0.03, u1 + 0.03, torch.minimum(cy - 0.12, wing_y - 0.03), corner_y + 0.06
        )
        if w.empty:
            continue
        d2 = ((w.u - bcast(cx)) / 0.13) ** 2 + ((w.v - bcast(cy)) / 0.11) ** 2
        on = on_face(w)
        apex = bump(d2) * on
        w.add_height(bcast(g.cheek[:, k]) * apex)
        # Raised cheeks catch the light and flush: a warm highlight on the apple of the cheek.
        glow = bcast(g.cheek[:, k] - 0.006) * 6.0 + bcast(0.04 + 0.05 * p.blush)
        w.multiply(1.0 + constant_color(cv, 0.9, 0.05, -0.05) * (glow * apex)[:, None])
        # Fold: from the nose wing, curving out to just beyond the mouth corner.
        t = ((w.v - bcast(wing_y)) / bcast(corner_y + 0.02 - wing_y)).clamp(0, 1)
        fx_ = bcast(wing_x) + (bcast(corner_x + side * 0.022) - bcast(wing_x)) * t
        fx_ = fx_ + side * 0.02 * t * (1 - t)
        env = (t * (1 - t) * 4).clamp(max=1) * (w.v < bcast(corner_y + 0.03)).float()
        crease = crease_profile(w.u - fx_, 0.006, w.px) * env
        shadow = bump(((w.u - fx_ + side * 0.008) / 0.035) ** 2) * env
        dark = bcast(g.fold[:, k]) * (0.40 * crease + 0.12 * shadow)
        if k == 0:  # the one-sided dimple of AU14, just beyond the image-left corner
            dd = ((w.u - bcast(corner_x - 0.02)) / 0.012) ** 2 + (
                (w.v - bcast(corner_y)) / 0.028
            ) ** 2
            dark = dark + 0.45 * bcast(g.dimple) * bump(dd)
        dark = dark.clamp(max=0.8) * on
        w.multiply(1.0 - dark)
        w.add_height(-0.012 * dark)


def _chin(cv: Canvas, g: Geometry) -> None:
    """Chin boss (AU17): a raised, dimpled chin and a deeper crease under the lower lip."""
    w = cv.window(g.mx - 0.16, g.mx + 0.16, g.my + 0.02, g.bb + 0.01)
    du = (w.u - bcast(g.mx)) / 0.15
    dv = (w.v - bcast(g.chin_y)) / 0.085
    boss = bump(du * du + dv * dv)
    pits = (0.5 + 0.5 * w.texture(0).clamp(-2, 2) * 0.5) * boss
    on = on_face(w)
    boss = boss * on
    w.add_height((0.012 + 0.03 * bcast(g.chin_boss)) * boss)
    sulcus_v = bcast(g.my + g.gl + g.tl + 0.022)
    sulcus = crease_profile(w.v - sulcus_v, 0.006, w.px) * bump(du * du * 3.0)
    dark = bcast(g.chin_boss) * (0.35 * sulcus + 0.12 * pits) + 0.08 * sulcus
    w.multiply(1.0 - dark * on)


def draw_nose(cv: Canvas, p: Identity, g: Geometry) -> None:
    bottom = g.n_tip + 0.03
    w = cv.window(g.nx_tip - g.nw - 0.05, g.nx_tip + g.nw + 0.05, g.n_top - 0.045, bottom + 0.03)
    span = bcast(g.n_tip - g.n_top)
    t = ((w.v - bcast(g.n_top)) / span).clamp(0, 1.3)
    axis = bcast(g.nx_top) + (bcast(g.nx_tip) - bcast(g.nx_top)) * t.clamp(max=1)
    du = w.u - axis
    tt = t.clamp(max=1.0)
    half = bcast(g.nbridge) + (bcast(g.nw) - bcast(g.nbridge)) * tt.square().square()
    # Round the bottom (tip and wings) with an ellipse below the tip line.
    below = ((w.v - bcast(g.n_tip - 0.012)) / 0.042).clamp(0, 1)
    half = half * torch.sqrt(1.0 - below * below)
    sdf = torch.maximum(du.abs() - half, bcast(g.n_top) - w.v)
    sdf = torch.maximum(sdf, w.v - bcast(g.n_tip + 0.03))
    cov = inside(sdf, w.px)
    tip = bump((du / 0.05) ** 2 + ((w.v - bcast(g.n_tip)) / 0.04) ** 2)
    color = _skin(w, p) * (1.0 + constant_color(cv, 0.06, -0.01, -0.02) * tip[:, None])
    # Nostrils: dark ovals either side of the columella, raised by AU9.
    dark = torch.zeros_like(du)
    for side in (-1.0, 1.0):
        nx = bcast(g.nx_tip) + side * bcast(g.nw) * 0.45
        d2 = ((w.u - nx) / (bcast(g.nw) * 0.30)) ** 2 + ((w.v - bcast(g.nostril_y)) / 0.0085) ** 2
        dark = dark + inside((torch.sqrt(d2) - 1.0) * 0.0085, w.px) * 0.78
    color = color * (1.0 - dark)[:, None]
    ridge = bump((du / (bcast(g.nbridge) * 1.4 + (half - bcast(g.nbridge)).clamp(min=0))) ** 2)
    ramp = ((w.v - bcast(g.n_top) + 0.04) / 0.04).clamp(0.0, 1.0)
    height_add = 0.06 * (0.25 + 0.75 * tt) * ridge * (1.0 - below) * ramp * ramp + 0.03 * tip
    w.add_height(height_add)
    w.paint(cov, color, CODE["nose"], height=None)
    # AU9 wrinkles across the bridge.
    if wrinkle_lines_visible(260.0, w.px):
        rows = wrinkle_lines(w.v - bcast(g.n_top), 260.0, w.px)
        zone = bump(((w.v - bcast(g.n_top + 0.045)) / 0.05) ** 2) * bump((du / 0.07) ** 2)
        w.multiply(1.0 - 0.35 * bcast(g.nose_wrinkle) * rows * zone)
