"""The 68 iBUG landmarks of SynthFaces faces, from the same curves the rasteriser draws.

iBUG order: 0-16 jaw (image left to right), 17-21 and 22-26 brows, 27-30 nose bridge, 31-35
nostril base, 36-41 and 42-47 eyes (image-left eye first, each from its image-left corner,
clockwise), 48-59 outer lips, 60-67 inner lips. Coordinates are pixels, with pixel centres at
integer positions (the centre of the top-left pixel is (0, 0)).
"""

from __future__ import annotations

import math

import torch

from segan.synth.canvas import pose_to_image
from segan.synth.geometry import Geometry, brow_curve, lid_curves, lip_curves, outline_radius
from segan.synth.identity import Identity


def _const(n: int, values: list[float], device) -> torch.Tensor:
    return torch.tensor(values, device=device, dtype=torch.float32)[None, :].expand(n, -1)


def canonical_landmarks(g: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, v), each (N, 68), in the canonical face frame."""
    n, dev = g.a.shape[0], g.a.device
    us: list[torch.Tensor] = []
    vs: list[torch.Tensor] = []

    def col(t):
        return t[:, None]

    # Jaw: rays from the face centre, from image-left at eye height round the chin; each
    # point is moved along its ray until it lies on the outline (fixed-point iteration).
    phi = torch.tensor([math.pi + 0.38 - k * (math.pi + 0.76) / 16 for k in range(17)], device=dev)[
        None, :
    ]
    dx, dy = torch.cos(phi), torch.sin(phi)
    lower = (dy > 0).float()
    ext_v = col(g.bt) + lower * (col(g.bb) - col(g.bt))
    rho = torch.ones(n, 17, device=dev)
    for _ in range(4):
        ju = col(g.fx) + col(g.a) * rho * dx
        jv = rho * dy * ext_v
        rho = rho / outline_radius(g, ju, jv, col)
    us.append(col(g.fx) + col(g.a) * rho * dx)
    vs.append(rho * dy * ext_v)

    # Brows: image-left brow outer -> inner, image-right brow inner -> outer.
    for k, ts in ((0, [1.0, 0.75, 0.5, 0.25, 0.0]), (1, [0.0, 0.25, 0.5, 0.75, 1.0])):
        t = _const(n, ts, dev)
        x, y = brow_curve(g, t, lambda f, k=k: f[:, k, None])
        us.append(x)
        vs.append(y - g.bthick[:, k, None] * 0.25)

    # Nose bridge and base.
    t = _const(n, [0.0, 1 / 3, 2 / 3, 1.0], dev)
    top = col(g.ey.mean(1))
    vs.append(top + (col(g.n_tip) - top) * t)
    us.append(col(g.nx_top) + (col(g.nx_tip) - col(g.nx_top)) * t)
    base_dx = _const(n, [-0.75, -0.4, 0.0, 0.4, 0.75], dev)
    base_dy = _const(n, [0.006, 0.012, 0.018, 0.012, 0.006], dev)
    us.append(col(g.nx_tip) + base_dx * col(g.nw))
    vs.append(col(g.nostril_y) + base_dy)

    # Eyes: corner, two upper, corner, two lower, starting at the image-left corner.
    s_up = [-1.0, -0.35, 0.35, 1.0]
    s_lo = [0.35, -0.35]
    for k, outward in ((0, -1.0), (1, 1.0)):
        b = lambda f, k=k: f[:, k, None]  # noqa: E731
        su = _const(n, s_up, dev)
        up, _ = lid_curves(g, su, torch.tensor(outward, device=dev), b)
        sl = _const(n, s_lo, dev)
        _, lo = lid_curves(g, sl, torch.tensor(outward, device=dev), b)
        us.append(b(g.ex) + torch.cat([su, sl], 1) * b(g.ew))
        vs.append(torch.cat([up, lo], 1))

    # Lips, all from one evaluation of the lip curves: the outer contour from the image-left
    # corner clockwise, then the inner contour; corners lie on the lip line.
    s_vals = [-1.0, -0.62, -0.28, 0.0, 0.28, 0.62, 1.0]  # upper outer (corners on the line)
    s_vals += [0.62, 0.28, 0.0, -0.28, -0.62]  # lower outer
    s_vals += [-0.88, -0.4, 0.0, 0.4, 0.88]  # inner upper (corners on the line)
    s_vals += [0.4, 0.0, -0.4]  # inner lower
    s = _const(n, s_vals, dev)
    side = (s > 0).float()
    half = col(g.mw[:, 0]) + (col(g.mw[:, 1]) - col(g.mw[:, 0])) * side
    line, uo, ui, li, lo = lip_curves(g, s, side, col)
    curve = torch.tensor([1] * 7 + [4] * 5 + [2] * 5 + [3] * 3, device=dev)
    curve[[0, 6, 12, 16]] = 0
    ys = torch.stack([line, uo, ui, li, lo], 2).gather(2, curve[None, :, None].expand(n, -1, 1))
    us.append(col(g.mx) + s * half)
    vs.append(ys[..., 0])
    return torch.cat(us, 1), torch.cat(vs, 1)


def landmarks_pixels(g: Geometry, p: Identity, resolution: int) -> torch.Tensor:
    """(N, 68, 2) landmark pixel coordinates (x, y) at the given resolution."""
    u, v = canonical_landmarks(g)
    x, y = pose_to_image(u, v, p.roll, p.scale, p.shift_x, p.shift_y)
    half = resolution * 0.5
    return torch.stack([(x + 1.0) * half - 0.5, (y + 1.0) * half - 0.5], 2)
