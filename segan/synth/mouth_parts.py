"""Painter of the mouth: both lips, the lip seam, and the opening with teeth and tongue."""

from __future__ import annotations

import torch

from segan.synth.canvas import Canvas, bcast, inside
from segan.synth.geometry import Geometry, lip_curves
from segan.synth.identity import Identity
from segan.synth.parts import (
    CODE,
    color_of,
    constant_color,
    crease_profile,
    wrinkle_lines,
    wrinkle_lines_visible,
)


def draw_mouth(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Lips, the mouth opening, teeth and tongue."""
    wl, wr = g.mw[:, 0], g.mw[:, 1]
    top = g.my + g.mc.amin(1) - g.gu - g.tu - 0.02
    bot = g.my + g.mc.amax(1).clamp(min=0) + g.gl + g.tl + 0.02
    w = cv.window(g.mx - wl - 0.02, g.mx + wr + 0.02, top, bot)
    dx = w.u - bcast(g.mx)
    side = (dx > 0).float()
    half = bcast(wl) + (bcast(wr) - bcast(wl)) * side
    s = dx / half
    line, uo, ui, li, lo = lip_curves(g, s, side, bcast)
    corner = (s.abs() - 1.0) * half
    lips_px = w.px
    upper = inside(torch.maximum(torch.maximum(uo - w.v, w.v - line), corner), lips_px)
    lower = inside(torch.maximum(torch.maximum(line - w.v, w.v - lo), corner), lips_px)
    opening = inside(torch.maximum(torch.maximum(ui - w.v, w.v - li), corner), lips_px)
    lip = color_of(p.colors["lip"])
    grain = (1.0 + 0.05 * w.texture(0))[:, None]
    bulge_u = ((w.v - uo) / (line - uo).clamp(min=1e-4)).clamp(0, 1)
    bulge_l = ((lo - w.v) / (lo - line).clamp(min=1e-4)).clamp(0, 1)
    w.add_height(0.018 * (upper * torch.sqrt(bulge_u) + lower * torch.sqrt(bulge_l)))
    w.paint(upper, lip * 0.88 * grain, CODE["upper_lip"])
    w.paint(lower, lip * grain, CODE["lower_lip"])
    # The lip line (closed lips): a dark seam along the line.
    open_amt = bcast(g.gu + g.gl)
    seam = (
        crease_profile(w.v - line, 0.0045, w.px)
        * (1 - (open_amt / 0.01).clamp(max=1))
        * (s.abs() < 1).float()
    )
    w.multiply(1.0 - 0.55 * seam)
    # Inside the mouth: a dark cavity with teeth and a tongue.
    cavity = constant_color(cv, 0.16, 0.04, 0.05)
    teeth = constant_color(cv, 0.93, 0.90, 0.83)
    tongue = constant_color(cv, 0.68, 0.28, 0.30)
    tooth_freq = 6.2832 / 0.22 / bcast(g.mw.mean(1))
    gaps = torch.zeros_like(s)
    if wrinkle_lines_visible(tooth_freq, w.px):
        gaps = wrinkle_lines(s * half, tooth_freq, w.px).square_().square_()
    upper_teeth = inside(torch.maximum(w.v - ui - 0.022, (s.abs() - 0.78) * half), w.px)
    lower_teeth = inside(torch.maximum(li - 0.014 - w.v, (s.abs() - 0.62) * half), w.px)
    lower_teeth = lower_teeth * bcast((g.gl > 0.03).float())
    tongue_d = (dx / (half * 0.55)) ** 2 + ((w.v - li) / (bcast(g.gl) * 0.45 + 1e-3)) ** 2
    tongue_cov = inside(torch.sqrt(tongue_d) - 1.0, torch.full_like(w.px, 0.08))
    color = cavity * (1.0 - 0.4 * s * s)[:, None]
    color = color + (tongue - color) * (tongue_cov * bcast((g.gl > 0.04).float()))[:, None]
    tooth = teeth * (1.0 - 0.35 * gaps)[:, None]
    color = color + (tooth - color) * torch.maximum(upper_teeth, lower_teeth)[:, None]
    w.paint(opening, color, CODE["mouth"], height=0.0 * opening)
