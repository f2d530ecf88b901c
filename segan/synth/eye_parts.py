"""Painters of the eye region: the eyes with their lids and skin details, the brows, and
glasses."""

from __future__ import annotations

import torch

from segan.synth.canvas import Canvas, Window, bcast, inside
from segan.synth.geometry import Geometry, brow_curve, lid_curves
from segan.synth.identity import Identity
from segan.synth.parts import (
    CODE,
    bump,
    color_of,
    constant_color,
    crease_profile,
    gauss,
    on_face,
)


def draw_eyes(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Both eyes: lid crease, lashes, sclera, iris, pupil; catch-lights are added after shading."""
    for k, name in ((0, "eye_img_left"), (1, "eye_img_right")):
        outward = -1.0 if k == 0 else 1.0  # s increases toward the outer corner on the right
        ex, ey, ew = g.ex[:, k], g.ey[:, k], g.ew[:, k]
        w = cv.window(ex - 1.9 * ew, ex + 1.9 * ew, ey - 0.075, ey + 0.06)
        s = (w.u - bcast(ex)) / bcast(ew)
        up, lo = lid_curves(g, s, torch.tensor(outward), _index(k))
        so = s * outward
        # Skin details around the eye: upper lid crease, lower lid fold, crow's feet (AU6).
        crease_line = up - bcast(g.crease[:, k])
        inside_width = bump((s / 1.2) ** 2)
        dark = 0.28 * crease_profile(w.v - crease_line, 0.005, w.px) * inside_width
        dark = dark + 0.10 * bump(((w.v - crease_line - 0.008) / 0.02) ** 2) * bump((s / 1.3) ** 2)
        lower_fold = lo + 0.012
        dark = dark + (0.12 + 0.25 * bcast(g.crow)) * crease_profile(
            w.v - lower_fold, 0.004, w.px
        ) * bump((s / 1.05) ** 2)
        fan_dx = (so - 1.15).clamp(min=0) * bcast(ew)
        fan = torch.cos((w.v - bcast(ey)) / (fan_dx + 0.012) * 9.0).clamp(min=0)
        fan = fan.square() * fan.square().square()  # ^6 by squaring: pow() is slow
        fan = fan * bump(((fan_dx - 0.025) / 0.03) ** 2) * (so > 1.1).float()
        fan = fan * bump(((w.v - bcast(ey)) / 0.045) ** 2)
        dark = dark + 0.4 * bcast(g.crow) * fan
        on = on_face(w)
        dark = dark.clamp(max=0.8) * on
        w.multiply(1.0 - dark)
        under = bump(((w.v - lower_fold - 0.012) / 0.02) ** 2) * bump((s / 1.3) ** 2)
        w.add_height(-0.006 * dark + 0.008 * bcast(g.crow) * under * on)
        # Lashes: a dark band along the upper lid, winged at the outer corner.
        lash_t = bcast(0.004 + 0.006 * p.lash) * (0.7 + 0.5 * (so + 1).clamp(0, 2) * 0.5)
        lash_sdf = torch.maximum(
            torch.maximum(up - lash_t - w.v, w.v - up - 0.002), (s.abs() - 1.05) * bcast(ew)
        )
        lash_cov = inside(lash_sdf, w.px)
        w.paint(lash_cov, constant_color(cv, 0.05, 0.035, 0.03), CODE[name])
        # The opening: sclera, iris, pupil, lid shadow.
        open_sdf = torch.maximum(torch.maximum(up - w.v, w.v - lo), (s.abs() - 1.0) * bcast(ew))
        opening = inside(open_sdf, w.px)
        sclera = constant_color(cv, 0.94, 0.91, 0.87)
        color = sclera * (1.0 - 0.25 * s * s)[:, None]
        caruncle = gauss(((so + 0.92) / 0.1) ** 2)[:, None]
        color = color + (constant_color(cv, 0.80, 0.45, 0.45) - color) * caruncle * 0.7
        ix, iy = bcast(ex) + 0.0, bcast(ey) + 0.002
        d = torch.sqrt((w.u - ix) ** 2 + (w.v - iy) ** 2)
        ri = bcast(g.ri)
        iris = inside(d - ri, w.px)
        rr = (d / ri).clamp(max=1.0)
        iris_col = (
            color_of(p.colors["iris"])
            * (1.15 - 0.55 * rr.square().square() + 0.12 * w.texture(0).clamp(-2, 2))[:, None]
        )
        color = color + (iris_col - color) * iris[:, None]
        pupil = inside(d - ri * 0.42, w.px)
        color = color * (1.0 - 0.93 * pupil)[:, None]
        lid_shadow = 1.0 - 0.45 * torch.exp(-((w.v - up).clamp(min=0) / 0.007))
        color = color * lid_shadow[:, None]
        w.paint(opening, color, CODE[name], height=0.01 * opening)
        # Catch-light toward the light source, added after shading.
        lx, ly = _light_xy(p)
        gx, gy = ix - 0.35 * ri * bcast(lx), iy - 0.35 * ri * bcast(ly) - 0.1 * ri
        glint = inside(torch.sqrt((w.u - gx) ** 2 + (w.v - gy) ** 2) - 0.24 * ri, w.px) * opening
        cv.post.append((w, 0.75 * glint))


def _index(k: int):
    return lambda t: t[:, k, None, None] if t.dim() == 2 else t[:, None, None]


def _light_xy(p: Identity) -> tuple[torch.Tensor, torch.Tensor]:
    ce = torch.cos(p.light_elevation)
    return torch.sin(p.light_azimuth) * ce, -torch.sin(p.light_elevation)


def draw_brows(cv: Canvas, p: Identity, g: Geometry) -> None:
    for k, name in ((0, "brow_img_left"), (1, "brow_img_right")):
        b = _index(k)
        x_in, x_out = g.bx_in[:, k], g.bx_out[:, k]
        lo_u, hi_u = torch.minimum(x_in, x_out), torch.maximum(x_in, x_out)
        y_top = torch.minimum(g.by_in[:, k], g.by_out[:, k]) - g.barch[:, k] - g.bthick[:, k]
        y_bot = torch.maximum(g.by_in[:, k], g.by_out[:, k]) + g.bthick[:, k]
        w = cv.window(lo_u - 0.01, hi_u + 0.01, y_top - 0.01, y_bot + 0.01)
        span = b(x_out - x_in)
        t = (w.u - b(x_in)) / span
        _, yc = brow_curve(g, t, b)
        half = b(g.bthick) * 0.5 * (1.0 - 0.5 * t.clamp(0, 1)) * torch.sqrt((t * 6.0).clamp(0, 1))
        length = span.abs()
        sdf = torch.maximum((w.v - yc).abs() - half, torch.maximum(-t, t - 1.0) * length)
        cov = inside(sdf, w.px * 1.3)
        hairs = w.texture(2) * 0.5 + w.texture(0) * 0.5
        density = (0.80 + 0.15 * hairs).clamp(0.5, 1.0)
        color = color_of(p.colors["brow"]) * (0.9 + 0.2 * hairs)[:, None]
        w.paint(cov * density, color, None)
        _code_only(w, cov, CODE[name])


def _code_only(w: Window, cov: torch.Tensor, code: int) -> None:
    if w.empty:
        return
    codes = w.canvas.code[:, :, w.y0 : w.y1, w.x0 : w.x1]
    torch.maximum(codes, cov[:, None].round() * float(code), out=codes)


def draw_glasses(cv: Canvas, p: Identity, g: Geometry) -> None:
    ew = g.ew.amax(1) / (1 + 0.05) * 1.0
    hw, hh = ew * 1.45, ew * 1.05
    cy = (g.ey[:, 0] + g.ey[:, 1]) * 0.5 + 0.008
    w = cv.window(g.ear_x[:, 0], g.ear_x[:, 1], cy - hh - 0.03, cy + hh + 0.03)
    rnd = bcast(p.glasses_round)
    lens_sdf = None
    for k in (0, 1):
        du = (w.u - bcast(g.ex[:, k])).abs() - bcast(hw) * 0.72
        dv = (w.v - bcast(cy)).abs() - bcast(hh) * 0.72
        rect = torch.sqrt(du.clamp(min=0) ** 2 + dv.clamp(min=0) ** 2) + torch.maximum(
            du, dv
        ).clamp(max=0)
        rect = rect - bcast(hw) * 0.28
        ell = torch.sqrt(
            ((w.u - bcast(g.ex[:, k])) / bcast(hw)) ** 2 + ((w.v - bcast(cy)) / bcast(hh)) ** 2
        )
        ell = (ell - 1.0) * bcast(hh)
        sdf_k = rect + (ell - rect) * rnd
        lens_sdf = sdf_k if lens_sdf is None else torch.minimum(lens_sdf, sdf_k)
    t = 0.006
    frame = lens_sdf.abs() - t
    mid = bcast((g.ex[:, 0] + g.ex[:, 1]) * 0.5)
    bridge = torch.maximum(
        (w.v - bcast(cy) + bcast(hh) * 0.35).abs() - t * 0.8,
        (w.u - mid).abs() - bcast(g.ex[:, 1] - g.ex[:, 0]) * 0.5 + bcast(hw) * 0.9,
    )
    arm_v = bcast(cy) - bcast(hh) * 0.55
    outer = (w.u - mid).abs() - bcast(g.ex[:, 1] - g.ex[:, 0]) * 0.5 - bcast(hw) * 0.95
    arms = torch.maximum((w.v - arm_v).abs() - t * 0.7, -outer)
    arms = torch.maximum(arms, (w.u - mid).abs() - bcast((g.ear_x[:, 1] - g.ear_x[:, 0]) * 0.5))
    frame_sdf = torch.minimum(torch.minimum(frame, bridge), arms)
    lens = inside(lens_sdf, w.px)
    frame_cov = inside(frame_sdf, w.px)
    tint = bcast(0.10 + p.glasses_tint)
    w.paint(lens * tint, constant_color(cv, 0.35, 0.38, 0.42), None)
    _code_only(w, lens, CODE["glasses"])
    w.paint(frame_cov, color_of(p.colors["glasses"]), CODE["glasses"], height=0.05 + 0 * frame_cov)
    # A reflection streak on the lenses, added after shading.
    streak = torch.cos((w.u + w.v) * 40.0).clamp(min=0).square_().square_().square_() * lens * 0.18
    cv.post.append((w, streak))
