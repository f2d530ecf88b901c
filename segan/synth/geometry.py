"""Face geometry of SynthFaces: where every part is, after the action units have moved it.

All quantities are in the canonical face frame (u right, v down; the image spans [-1, 1] at zero
pose). Two-sided parts carry a trailing dimension of 2: index 0 is the image-left side (the
subject's right), index 1 the image-right side (the subject's left).

Each action unit moves only the anatomy it names (FACS):
AU1 inner brows up, AU2 outer brows up, AU4 brows down and together with glabella furrows,
AU5 upper lids up, AU6 cheeks up with lower lids and crow's feet, AU7 lids tightened,
AU9 nose wrinkled and wings raised, AU10 upper lip up, AU12 lip corners up and out,
AU14 dimpler (rendered on the subject's right only, the one-sided dimpler of contempt),
AU15 lip corners down, AU17 chin boss up pushing the lower lip, AU20 lips stretched sideways,
AU23 lips tightened and thinned, AU25 lips parted, AU26 jaw dropped, AU45 lids closed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from segan.labels import AU_IDS, AU_MAX_INTENSITY
from segan.synth.identity import Identity

SIDES = torch.tensor([-1.0, 1.0])
# Depth (toward the camera) of each feature, used for the 2.5-D yaw shift.
DEPTH = {"outline": 0.03, "eyes": 0.20, "brows": 0.22, "bridge": 0.27, "tip": 0.36, "mouth": 0.26}
DEPTH.update({"chin": 0.20, "ears": -0.14, "cheeks": 0.18})


@dataclass
class Geometry:
    """Per-sample geometry; (N,) tensors, or (N, 2) for two-sided parts."""

    # pose (yaw handled here as 2.5-D feature shifts)
    sin_yaw: torch.Tensor
    # face outline: centre x, half-width, top and chin extents, jaw squareness
    fx: torch.Tensor
    a: torch.Tensor
    bt: torch.Tensor
    bb: torch.Tensor
    square: torch.Tensor
    # eyes (N, 2): centre, half-width, upper/lower opening, tilt; iris radius (N,)
    ex: torch.Tensor
    ey: torch.Tensor
    ew: torch.Tensor
    hu: torch.Tensor
    hl: torch.Tensor
    tilt: torch.Tensor
    ri: torch.Tensor
    crease: torch.Tensor
    # brows (N, 2): inner/outer ends, arch, thickness
    bx_in: torch.Tensor
    bx_out: torch.Tensor
    by_in: torch.Tensor
    by_out: torch.Tensor
    barch: torch.Tensor
    bthick: torch.Tensor
    # nose
    n_top: torch.Tensor
    n_tip: torch.Tensor
    nx_top: torch.Tensor
    nx_tip: torch.Tensor
    nw: torch.Tensor
    nbridge: torch.Tensor
    nostril_y: torch.Tensor
    # mouth: centre, half-widths (N, 2), corner offsets (N, 2), gaps, lip thickness, bow
    mx: torch.Tensor
    my: torch.Tensor
    mw: torch.Tensor
    mc: torch.Tensor
    gu: torch.Tensor
    gl: torch.Tensor
    tu: torch.Tensor
    tl: torch.Tensor
    bow: torch.Tensor
    # cheeks (N, 2): centre and bulge; nasolabial fold depth (N, 2)
    cx: torch.Tensor
    cy: torch.Tensor
    cheek: torch.Tensor
    fold: torch.Tensor
    # wrinkles and local details (N,)
    fore_inner: torch.Tensor
    fore_outer: torch.Tensor
    glabella: torch.Tensor
    nose_wrinkle: torch.Tensor
    crow: torch.Tensor
    dimple: torch.Tensor
    chin_boss: torch.Tensor
    chin_y: torch.Tensor
    # ears (N, 2)
    ear_x: torch.Tensor
    ear_y: torch.Tensor
    ear_w: torch.Tensor
    ear_h: torch.Tensor

    def to_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def subset(self, idx: torch.Tensor) -> Geometry:
        """The geometry of the samples `idx` only (each field indexed on first use)."""
        return _GeometryRows(self, idx)  # type: ignore[return-value]


class _GeometryRows:
    """Geometry restricted to rows `idx`, indexing each field when a painter first reads it."""

    def __init__(self, source: Geometry, idx: torch.Tensor):
        self._source, self._idx = source, idx

    def __getattr__(self, name: str) -> torch.Tensor:
        value = getattr(self._source, name)[self._idx]
        setattr(self, name, value)
        return value


def _au(i: torch.Tensor, au: int) -> torch.Tensor:
    return i[:, AU_IDS.index(au)]


def build_geometry(p: Identity, aus: torch.Tensor) -> Geometry:
    """Geometry of each sample from its identity parameters and AU intensities (N, 17)."""
    dev = aus.device
    i = aus / AU_MAX_INTENSITY
    i1, i2, i4, i5, i6, i7 = (_au(i, k) for k in (1, 2, 4, 5, 6, 7))
    i9, i10, i12, i14, i15, i17 = (_au(i, k) for k in (9, 10, 12, 14, 15, 17))
    i20, i23, i25, i26, i45 = (_au(i, k) for k in (20, 23, 25, 26, 45))
    sides = SIDES.to(dev)[None, :]  # (1, 2)
    sy = torch.sin(p.yaw)

    def shift(name: str) -> torch.Tensor:
        return DEPTH[name] * sy

    def two(x: torch.Tensor) -> torch.Tensor:
        return x[:, None].expand(-1, 2)

    a = p.face_width
    fx = shift("outline")

    # Eyes.
    ex = shift("eyes")[:, None] + sides * p.eye_sep[:, None]
    ey = two(p.eye_y)
    ew = two(p.eye_w * (1 + 0.05 * i5 - 0.05 * i7 - 0.05 * i6))
    open_u = (1 + 0.85 * i5 - 0.40 * i7 - 0.22 * i6 - 0.12 * i4).clamp(min=0.05) * (1 - i45)
    open_l = (1 + 0.20 * i5 - 0.55 * i7 - 0.62 * i6).clamp(min=0.08) * (1 - i45)
    hu = two(p.eye_h * open_u)
    hl = two(p.eye_h * 0.62 * open_l)
    tilt = two(p.eye_tilt * p.eye_h)
    ri = p.iris_size * p.eye_w * 0.95
    crease = two(0.55 * p.eye_h + 0.012 - 0.006 * i5 + 0.004 * i4)

    # Brows: inner end near the nose, outer end past the eye corner.
    by0 = p.eye_y - p.brow_gap
    bx_in = shift("brows")[:, None] + sides * (p.eye_sep - 0.85 * p.eye_w - 0.020 * i4)[:, None]
    bx_out = shift("brows")[:, None] + sides * (p.eye_sep + p.brow_len * p.eye_w)[:, None]
    by_in = two(by0 + 0.006 - 0.052 * i1 + 0.040 * i4 + 0.014 * i9 - 0.010 * i2)
    by_out = two(by0 + 0.004 - 0.048 * i2 + 0.018 * i4 - 0.012 * i1)
    barch = two(p.brow_arch + 0.010 * i2 - 0.010 * i4 + 0.004 * i1)
    bthick = two(p.brow_thick * (1 + 0.08 * i4))

    # Nose.
    n_top = p.eye_y - 0.01
    n_tip = p.eye_y + p.nose_len - 0.010 * i9 - 0.004 * i10
    nx_top = shift("bridge")
    nx_tip = shift("tip")
    nw = p.nose_w * (1 + 0.14 * i9 + 0.06 * i10)
    nostril_y = n_tip + 0.010

    # Mouth.
    my0 = p.eye_y + p.nose_len + p.mouth_gap  # rest position: the jaw does not follow AU15
    my = my0 - 0.020 * i17 + 0.004 * i15
    mx = shift("mouth")
    w = p.mouth_w * (1 + 0.20 * i12 + 0.30 * i20 - 0.16 * i23 + 0.04 * i15)
    # Subject's right corner (image-left, index 0) carries the one-sided dimpler AU14.
    mw = torch.stack([w * (1 + 0.07 * i14), w], 1)
    c = -0.040 * i12 + 0.036 * i15 + 0.008 * i20 - 0.006 * i10 + 0.014 * i17
    mc = torch.stack([c - 0.044 * i14, c], 1)
    gu = 0.006 * i25 + 0.022 * i10 + 0.009 * i12 + 0.008 * i26
    gl = 0.020 * i25 + 0.080 * i26 + 0.010 * i12 + 0.008 * i20
    gl = (gl - 0.004 * i17).clamp(min=0)
    tu = p.lip_upper * (1 - 0.45 * i23 - 0.15 * i12 - 0.15 * i20 + 0.10 * i10)
    tl = p.lip_lower * (1 - 0.42 * i23 - 0.12 * i20 - 0.10 * i12 + 0.10 * i17)
    bow = p.lip_bow

    # Jaw: the chin follows the jaw drop.
    bb = my0 + p.chin_drop + 0.080 * i26
    chin_y = my0 + 0.55 * p.chin_drop + 0.075 * i26 - 0.006 * i17

    # Cheeks and nasolabial folds.
    cx = shift("cheeks")[:, None] + sides * (p.eye_sep + 0.015)[:, None]
    cy = two(p.eye_y + 0.15 - 0.022 * i6 - 0.010 * i12)
    cheek = two(0.006 + 0.012 * i6 + 0.006 * i12)
    f = (0.9 * i12 + 0.6 * i10 + 0.35 * i6 + 0.3 * i9).clamp(max=1.0)
    fold = two(0.15 + 0.95 * f)
    fold = fold + torch.stack([0.6 * i14, 0 * i14], 1)

    # Ears, behind the face outline.
    ear_x = (fx - DEPTH["ears"] * sy + 0.0)[:, None] + sides * (a - 0.012)[:, None]
    ear_y = two(p.ear_y)
    ear_w = two(0.048 * p.ear_size)
    ear_h = two(0.095 * p.ear_size)

    return Geometry(
        sin_yaw=sy,
        fx=fx,
        a=a,
        bt=p.face_top,
        bb=bb,
        square=p.jaw_square,
        ex=ex,
        ey=ey,
        ew=ew,
        hu=hu,
        hl=hl,
        tilt=tilt,
        ri=ri,
        crease=crease,
        bx_in=bx_in,
        bx_out=bx_out,
        by_in=by_in,
        by_out=by_out,
        barch=barch,
        bthick=bthick,
        n_top=n_top,
        n_tip=n_tip,
        nx_top=nx_top,
        nx_tip=nx_tip,
        nw=nw,
        nbridge=p.nose_bridge,
        nostril_y=nostril_y,
        mx=mx,
        my=my,
        mw=mw,
        mc=mc,
        gu=gu,
        gl=gl,
        tu=tu,
        tl=tl,
        bow=bow,
        cx=cx,
        cy=cy,
        cheek=cheek,
        fold=fold,
        fore_inner=i1,
        fore_outer=i2,
        glabella=i4,
        nose_wrinkle=i9,
        crow=i6,
        dimple=i14,
        chin_boss=i17,
        chin_y=chin_y,
        ear_x=ear_x,
        ear_y=ear_y,
        ear_w=ear_w,
        ear_h=ear_h,
    )


# --- Curves shared by the rasteriser and the landmarks ------------------------------------


def outline_radius(g: Geometry, u: torch.Tensor, v: torch.Tensor, b=None) -> torch.Tensor:
    """Normalised radius of the face outline (1 on the outline) at canonical points.

    An ellipse above the cheekbones; below them the diagonal term -c X^2 Y^2 squares the jaw
    by the identity's jaw squareness (c ramps in from v = 0 so the outline stays smooth).
    Parameters broadcast from (N,) to u's shape via `b`.
    """
    b = b or (lambda t: t)
    X = (u - b(g.fx)) * b(1.0 / g.a)
    below = v.clamp(min=0.0)
    Y = v.clamp(max=0.0) * b(1.0 / g.bt) + below * b(1.0 / g.bb)
    X2, Y2 = X * X, Y * Y
    c = (below * 6.0).clamp_(max=1.0).mul_(b(g.square))
    cross = X2.clamp(max=1.0) * Y2.clamp(max=1.0)  # bounded: nothing far out is 'inside'
    return (X2 + Y2 - c * cross).sqrt_()


def brow_curve(g: Geometry, t: torch.Tensor, b=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre line of both brows at parameter t in [0, 1] (inner -> outer).

    Returns (x, y); g's (N, 2) fields are reshaped by `b` to broadcast against t.
    """
    b = b or (lambda t_: t_)
    x = b(g.bx_in) + (b(g.bx_out) - b(g.bx_in)) * t
    y = (
        b(g.by_in)
        + (b(g.by_out) - b(g.by_in)) * t
        - b(g.barch) * 4.0 * t * (1.0 - t) * (0.75 + 0.5 * t)
    )
    return x, y


def lid_curves(
    g: Geometry, s: torch.Tensor, outward: torch.Tensor, b=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper and lower lid curves (y) of an eye at s in [-1, 1] across the eye.

    `outward` is +1 toward the outer corner (side sign times s's sign convention).
    """
    b = b or (lambda t_: t_)
    env = (1.0 - s * s).clamp(min=0.0)
    shape = 0.45 * env + 0.55 * torch.sqrt(env)
    base = b(g.ey) - b(g.tilt) * (s * outward)
    # The upper lid peaks slightly toward the inner corner.
    upper = base - b(g.hu) * shape * (1.0 - 0.18 * s * outward)
    lower = base + b(g.hl) * shape * (1.0 + 0.12 * s * outward)
    return upper, lower


def lip_curves(
    g: Geometry, s: torch.Tensor, side: torch.Tensor, b=None
) -> tuple[torch.Tensor, ...]:
    """(line, upper outer, upper inner, lower inner, lower outer) y of the lips at s in [-1, 1].

    `side` is 0 on the image-left half of the mouth and 1 on the image-right half.
    """
    b = b or (lambda t_: t_)
    c = b(g.mc[:, 0]) + (b(g.mc[:, 1]) - b(g.mc[:, 0])) * side
    s2 = s * s
    env = (1.0 - s2).clamp(min=0.0)
    root = torch.sqrt(env)
    line = b(g.my) + c * (0.55 * s2 + 0.45 * s2 * s2)
    gap = 0.55 * root + 0.45 * env
    ui = line - b(g.gu) * gap
    li = line + b(g.gl) * gap
    bow = b(g.bow)
    tu = (
        b(g.tu)
        * (0.15 + 0.85 * root)
        * (
            1.0
            - 0.30 * bow * torch.exp(-s2 * 60.0)
            + 0.10 * bow * torch.exp(-((s2 - 0.09) ** 2) * 400)
        )
    )
    tl = b(g.tl) * (0.10 + 0.90 * root)
    return line, ui - tu, ui, li, li + tl
