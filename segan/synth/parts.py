"""Painters for every SynthFaces part, called back to front by `render`.

Each painter evaluates its part inside a pixel window: coverage from a signed distance (soft,
anti-aliased edges), albedo with texture, a height contribution for the shading normals, and
the part's painter's code (see LAYERS) for the class mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segan.labels import PART_INDEX
from segan.synth.canvas import Canvas, Coarse, Window, bcast, ellipse_sdf, inside
from segan.synth.geometry import Geometry, brow_curve, lid_curves, lip_curves, outline_radius
from segan.synth.identity import Identity

# Painter's order. A pixel's class is the class of the last layer covering more than half of it.
LAYERS: tuple[tuple[str, str], ...] = (
    ("background", "background"),
    ("hair_back", "hair"),
    ("cloth", "cloth"),
    ("neck", "neck"),
    ("necklace", "neck_l"),
    ("ear_img_left", "r_ear"),
    ("ear_img_right", "l_ear"),
    ("earrings", "ear_r"),
    ("face", "skin"),
    ("nose", "nose"),
    ("upper_lip", "u_lip"),
    ("lower_lip", "l_lip"),
    ("mouth", "mouth"),
    ("eye_img_left", "r_eye"),
    ("eye_img_right", "l_eye"),
    ("brow_img_left", "r_brow"),
    ("brow_img_right", "l_brow"),
    ("hair_front", "hair"),
    ("glasses", "eye_g"),
    ("hat", "hat"),
)
CODE = {name: i for i, (name, _) in enumerate(LAYERS)}
CLASS_OF_CODE = torch.tensor([PART_INDEX[c] for _, c in LAYERS])
# Specular strength per layer: corneas, lips and jewellery shine; cloth barely.
_SPECULAR = {
    "hair_back": 0.10, "cloth": 0.03, "neck": 0.05, "necklace": 0.55, "ear_img_left": 0.04,
    "ear_img_right": 0.04, "earrings": 0.6, "face": 0.07, "nose": 0.09, "upper_lip": 0.18,
    "lower_lip": 0.26, "mouth": 0.05, "eye_img_left": 0.45, "eye_img_right": 0.45,
    "brow_img_left": 0.02, "brow_img_right": 0.02, "hair_front": 0.14, "glasses": 0.45,
    "hat": 0.06,
}  # fmt: skip
SPECULAR_OF_CODE = torch.tensor([_SPECULAR.get(name, 0.0) for name, _ in LAYERS])


def _col(t: torch.Tensor) -> torch.Tensor:
    """(N, 3) colour -> (N, 3, 1, 1)."""
    return t[:, :, None, None]


def _rgb(cv: Canvas, r: float, g: float, b: float) -> torch.Tensor:
    """A constant colour shaped (1, 3, 1, 1) on the canvas' device."""
    return torch.tensor([r, g, b], device=cv.device)[None, :, None, None]


def _skin(w: Window, p: Identity) -> torch.Tensor:
    """Skin albedo with its blotch and pore texture over a window, (N, 3, h, w)."""
    tone = 1.0 + 0.035 * w.texture(1) + 0.025 * w.texture(0)
    return _col(p.colors["skin"]) * tone[:, None]


def _gauss(d2: torch.Tensor) -> torch.Tensor:
    return torch.exp(-d2)


def _bump(d2: torch.Tensor) -> torch.Tensor:
    """Smooth bump of squared radius d2 with compact support (exactly 0 for d2 >= 1).

    Used for every effect limited to a window, so nothing shows at the window's border.
    """
    b = (1.0 - d2).clamp_(min=0.0)
    return b * b


# --- background and body ------------------------------------------------------------------


def draw_background(cv: Canvas, p: Identity) -> None:
    """Two-colour gradient with clouds, stripes or a vignette; fills the whole canvas.

    The blend weight is smooth, so it is computed at a quarter of the resolution and upsampled.
    """
    step = 4
    low = cv.pix.view(-1, step).mean(1)
    xs = low[None, None, :]
    ys = low[None, :, None]
    ang = bcast(p.bg_angle)
    t = 0.5 + 0.42 * (torch.cos(ang) * xs + torch.sin(ang) * ys)
    kind = p.bg_pattern
    clouds = cv.tex[:, 3, ::step, ::step] * bcast(0.05 + 0.13 * (kind == 1).float())
    t = t + clouds
    freq = bcast(p.bg_pattern_freq * 3.1416)
    stripes = torch.sin(freq * (xs * torch.cos(ang * 0.5) + ys * torch.sin(ang * 0.5)))
    t = t + stripes.clamp_(-0.5, 0.5) * bcast(0.22 * (kind == 2).float())
    t = t + (xs * xs + ys * ys) * bcast(0.35 * (kind == 3).float())
    t = F.interpolate(t[:, None], scale_factor=step, mode="bilinear", align_corners=False)
    c1, c2 = _col(p.colors["bg1"]), _col(p.colors["bg2"])
    torch.addcmul(c1, c2 - c1, t.clamp_(0, 1), out=cv.rgb)


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
    color_base = _col(p.colors["hair"])
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


def draw_cloth(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Shoulders in a plain or striped garment with a round neckline."""
    sh = p.shoulder_y
    w = cv.window(-1.6, 1.6, sh - 0.1, 1.6)
    if w.empty:
        return
    grid = w.coarse()
    fields = w.upsample(_cloth_fields(grid, p, g), grid)
    cov = inside(fields[:, 0], w.px)
    base, second = _col(p.colors["cloth"]), _col(p.colors["cloth2"])
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
    color = _col(p.colors["skin"] * 0.93) * fields[:, 1:2]
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
    w.paint(cov, _col(p.colors["necklace"]), CODE["necklace"], height=0.2 + 0 * sdf)


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
        concha = _gauss(((du + side * 0.15) / 0.45) ** 2 + ((dv + 0.05) / 0.55) ** 2)
        color = _col(p.colors["skin"] * 0.97) * (1.0 - 0.35 * concha)[:, None]
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
        w.paint(cov, _col(p.colors["earring"]), CODE["earrings"], height=0.25 + 0 * sdf)


# --- the face ---------------------------------------------------------------------------


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


def _on_face(w: Window, g: Geometry) -> torch.Tensor:
    """Face-skin coverage over a window (painted by `draw_face`): skin details (creases,
    bumps) are weighted by it so that they never spill past the face onto hair or background."""
    return w.canvas.face_cov[:, w.y0 : w.y1, w.x0 : w.x1]


def _face_relief(cv: Canvas, p: Identity, g: Geometry) -> None:
    """Brow ridge and eye sockets as height, so the normals shade them."""
    for k in (0, 1):
        ex, ey = g.ex[:, k], g.ey[:, k]
        w = cv.window(ex - 0.14, ex + 0.14, ey - 0.12, ey + 0.08)
        du = (w.u - bcast(ex)) / 0.13
        socket = _bump(du * du + ((w.v - bcast(ey) + 0.005) / 0.07) ** 2)
        ridge = _bump(du * du + ((w.v - bcast(ey) + 0.075) / 0.04) ** 2)
        on = _on_face(w, g)
        w.add_height((0.012 * ridge - 0.018 * socket) * on)
        w.multiply(1.0 - 0.10 * socket * on)


def _crease(d: torch.Tensor, width: float, px: torch.Tensor) -> torch.Tensor:
    """A dark line profile at distance d, widened to at least a pixel and dimmed to match.

    Keeping the line's integral constant as it widens is what stops thin creases from
    breaking into dashes at low resolution.
    """
    eff2 = width * width + (0.8 * px) ** 2
    return torch.exp(-(d * d) / eff2) * (width / torch.sqrt(eff2))


def _lines_visible(freq: float | torch.Tensor, px: torch.Tensor) -> bool:
    """Whether `_lines` at this frequency shows at all in this batch (else it is exactly 0)."""
    return bool(((6.2832 / freq) / px).max() > 3.0)


def _lines(phase: torch.Tensor, freq: float, px: torch.Tensor) -> torch.Tensor:
    """Periodic wrinkle lines cos^2 at angular frequency `freq`, faded out where a period
    spans fewer than three pixels (where they would alias into moire)."""
    period_px = (6.2832 / freq) / px
    fade = ((period_px - 3.0) / 2.0).clamp(0.0, 1.0)
    return torch.cos(phase * freq).clamp(min=0) ** 2 * fade


def _forehead_wrinkles(cv: Canvas, g: Geometry) -> None:
    """AU1 (central) and AU2 (lateral) horizontal lines; AU4 vertical glabella furrows."""
    by = torch.minimum(g.by_in.amin(1), g.by_out.amin(1))
    mid = (g.bx_in[:, 0] + g.bx_in[:, 1]) * 0.5
    lines_show = _lines_visible(220.0, cv.px)
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
        inner = _bump((du / 0.14) ** 2) * bcast(g.fore_inner)
        outer = _bump(((du.abs() - 0.19) / 0.12) ** 2) * bcast(g.fore_outer)
        dark = 0.32 * _lines(top, 220.0, w.px) * band * (inner + outer).clamp(max=1.0)
    # Glabella: two short vertical furrows between the brows.
    gl_v = _bump(((w.v - bcast(by) - 0.015) / 0.045) ** 2)
    furrow = _crease(du.abs() - 0.016, 0.0045, w.px) * gl_v * bcast(g.glabella)
    dark = dark + 0.45 * furrow
    dark = dark * _on_face(w, g)
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
        on = _on_face(w, g)
        apex = _bump(d2) * on
        w.add_height(bcast(g.cheek[:, k]) * apex)
        # Raised cheeks catch the light and flush: a warm highlight on the apple of the cheek.
        glow = bcast(g.cheek[:, k] - 0.006) * 6.0 + bcast(0.04 + 0.05 * p.blush)
        w.multiply(1.0 + _rgb(cv, 0.9, 0.05, -0.05) * (glow * apex)[:, None])
        # Fold: from the nose wing, curving out to just beyond the mouth corner.
        t = ((w.v - bcast(wing_y)) / bcast(corner_y + 0.02 - wing_y)).clamp(0, 1)
        fx_ = bcast(wing_x) + (bcast(corner_x + side * 0.022) - bcast(wing_x)) * t
        fx_ = fx_ + side * 0.02 * t * (1 - t)
        env = (t * (1 - t) * 4).clamp(max=1) * (w.v < bcast(corner_y + 0.03)).float()
        crease = _crease(w.u - fx_, 0.006, w.px) * env
        shadow = _bump(((w.u - fx_ + side * 0.008) / 0.035) ** 2) * env
        dark = bcast(g.fold[:, k]) * (0.40 * crease + 0.12 * shadow)
        if k == 0:  # the one-sided dimple of AU14, just beyond the image-left corner
            dd = ((w.u - bcast(corner_x - 0.02)) / 0.012) ** 2 + (
                (w.v - bcast(corner_y)) / 0.028
            ) ** 2
            dark = dark + 0.45 * bcast(g.dimple) * _bump(dd)
        dark = dark.clamp(max=0.8) * on
        w.multiply(1.0 - dark)
        w.add_height(-0.012 * dark)


def _chin(cv: Canvas, g: Geometry) -> None:
    """Chin boss (AU17): a raised, dimpled chin and a deeper crease under the lower lip."""
    w = cv.window(g.mx - 0.16, g.mx + 0.16, g.my + 0.02, g.bb + 0.01)
    du = (w.u - bcast(g.mx)) / 0.15
    dv = (w.v - bcast(g.chin_y)) / 0.085
    boss = _bump(du * du + dv * dv)
    pits = (0.5 + 0.5 * w.texture(0).clamp(-2, 2) * 0.5) * boss
    on = _on_face(w, g)
    boss = boss * on
    w.add_height((0.012 + 0.03 * bcast(g.chin_boss)) * boss)
    sulcus_v = bcast(g.my + g.gl + g.tl + 0.022)
    sulcus = _crease(w.v - sulcus_v, 0.006, w.px) * _bump(du * du * 3.0)
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
    tip = _bump((du / 0.05) ** 2 + ((w.v - bcast(g.n_tip)) / 0.04) ** 2)
    color = _skin(w, p) * (1.0 + _rgb(cv, 0.06, -0.01, -0.02) * tip[:, None])
    # Nostrils: dark ovals either side of the columella, raised by AU9.
    dark = torch.zeros_like(du)
    for side in (-1.0, 1.0):
        nx = bcast(g.nx_tip) + side * bcast(g.nw) * 0.45
        d2 = ((w.u - nx) / (bcast(g.nw) * 0.30)) ** 2 + ((w.v - bcast(g.nostril_y)) / 0.0085) ** 2
        dark = dark + inside((torch.sqrt(d2) - 1.0) * 0.0085, w.px) * 0.78
    color = color * (1.0 - dark)[:, None]
    ridge = _bump((du / (bcast(g.nbridge) * 1.4 + (half - bcast(g.nbridge)).clamp(min=0))) ** 2)
    ramp = ((w.v - bcast(g.n_top) + 0.04) / 0.04).clamp(0.0, 1.0)
    height_add = 0.06 * (0.25 + 0.75 * tt) * ridge * (1.0 - below) * ramp * ramp + 0.03 * tip
    w.add_height(height_add)
    w.paint(cov, color, CODE["nose"], height=None)
    # AU9 wrinkles across the bridge.
    if _lines_visible(260.0, w.px):
        rows = _lines(w.v - bcast(g.n_top), 260.0, w.px)
        zone = _bump(((w.v - bcast(g.n_top + 0.045)) / 0.05) ** 2) * _bump((du / 0.07) ** 2)
        w.multiply(1.0 - 0.35 * bcast(g.nose_wrinkle) * rows * zone)


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
    lip = _col(p.colors["lip"])
    grain = (1.0 + 0.05 * w.texture(0))[:, None]
    bulge_u = ((w.v - uo) / (line - uo).clamp(min=1e-4)).clamp(0, 1)
    bulge_l = ((lo - w.v) / (lo - line).clamp(min=1e-4)).clamp(0, 1)
    w.add_height(0.018 * (upper * torch.sqrt(bulge_u) + lower * torch.sqrt(bulge_l)))
    w.paint(upper, lip * 0.88 * grain, CODE["upper_lip"])
    w.paint(lower, lip * grain, CODE["lower_lip"])
    # The lip line (closed lips): a dark seam along the line.
    open_amt = bcast(g.gu + g.gl)
    seam = (
        _crease(w.v - line, 0.0045, w.px)
        * (1 - (open_amt / 0.01).clamp(max=1))
        * (s.abs() < 1).float()
    )
    w.multiply(1.0 - 0.55 * seam)
    # Inside the mouth: a dark cavity with teeth and a tongue.
    cavity = _rgb(cv, 0.16, 0.04, 0.05)
    teeth = _rgb(cv, 0.93, 0.90, 0.83)
    tongue = _rgb(cv, 0.68, 0.28, 0.30)
    tooth_freq = 6.2832 / 0.22 / bcast(g.mw.mean(1))
    gaps = torch.zeros_like(s)
    if _lines_visible(tooth_freq, w.px):
        gaps = _lines(s * half, tooth_freq, w.px).square_().square_()
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
        inside_width = _bump((s / 1.2) ** 2)
        dark = 0.28 * _crease(w.v - crease_line, 0.005, w.px) * inside_width
        dark = dark + 0.10 * _bump(((w.v - crease_line - 0.008) / 0.02) ** 2) * _bump(
            (s / 1.3) ** 2
        )
        lower_fold = lo + 0.012
        dark = dark + (0.12 + 0.25 * bcast(g.crow)) * _crease(
            w.v - lower_fold, 0.004, w.px
        ) * _bump((s / 1.05) ** 2)
        fan_dx = (so - 1.15).clamp(min=0) * bcast(ew)
        fan = torch.cos((w.v - bcast(ey)) / (fan_dx + 0.012) * 9.0).clamp(min=0)
        fan = fan.square() * fan.square().square()  # ^6 by squaring: pow() is slow
        fan = fan * _bump(((fan_dx - 0.025) / 0.03) ** 2) * (so > 1.1).float()
        fan = fan * _bump(((w.v - bcast(ey)) / 0.045) ** 2)
        dark = dark + 0.4 * bcast(g.crow) * fan
        on = _on_face(w, g)
        dark = dark.clamp(max=0.8) * on
        w.multiply(1.0 - dark)
        under = _bump(((w.v - lower_fold - 0.012) / 0.02) ** 2) * _bump((s / 1.3) ** 2)
        w.add_height(-0.006 * dark + 0.008 * bcast(g.crow) * under * on)
        # Lashes: a dark band along the upper lid, winged at the outer corner.
        lash_t = bcast(0.004 + 0.006 * p.lash) * (0.7 + 0.5 * (so + 1).clamp(0, 2) * 0.5)
        lash_sdf = torch.maximum(
            torch.maximum(up - lash_t - w.v, w.v - up - 0.002), (s.abs() - 1.05) * bcast(ew)
        )
        lash_cov = inside(lash_sdf, w.px)
        w.paint(lash_cov, _rgb(cv, 0.05, 0.035, 0.03), CODE[name])
        # The opening: sclera, iris, pupil, lid shadow.
        open_sdf = torch.maximum(torch.maximum(up - w.v, w.v - lo), (s.abs() - 1.0) * bcast(ew))
        opening = inside(open_sdf, w.px)
        sclera = _rgb(cv, 0.94, 0.91, 0.87)
        color = sclera * (1.0 - 0.25 * s * s)[:, None]
        caruncle = _gauss(((so + 0.92) / 0.1) ** 2)[:, None]
        color = color + (_rgb(cv, 0.80, 0.45, 0.45) - color) * caruncle * 0.7
        ix, iy = bcast(ex) + 0.0, bcast(ey) + 0.002
        d = torch.sqrt((w.u - ix) ** 2 + (w.v - iy) ** 2)
        ri = bcast(g.ri)
        iris = inside(d - ri, w.px)
        rr = (d / ri).clamp(max=1.0)
        iris_col = (
            _col(p.colors["iris"])
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
        color = _col(p.colors["brow"]) * (0.9 + 0.2 * hairs)[:, None]
        w.paint(cov * density, color, None)
        _code_only(w, cov, CODE[name])


def _code_only(w: Window, cov: torch.Tensor, code: int) -> None:
    if w.empty:
        return
    codes = w.canvas.code[:, :, w.y0 : w.y1, w.x0 : w.x1]
    torch.maximum(codes, cov[:, None].round() * float(code), out=codes)


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
    base = _col(base + (p.colors["skin"] * 0.55 - base * 0.55) * buzz)
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
    w.paint(lens * tint, _rgb(cv, 0.35, 0.38, 0.42), None)
    _code_only(w, lens, CODE["glasses"])
    w.paint(frame_cov, _col(p.colors["glasses"]), CODE["glasses"], height=0.05 + 0 * frame_cov)
    # A reflection streak on the lenses, added after shading.
    streak = torch.cos((w.u + w.v) * 40.0).clamp(min=0).square_().square_().square_() * lens * 0.18
    cv.post.append((w, streak))


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
    color = _col(p.colors["hat"]) * (1.0 - 0.35 * band + 0.05 * w.texture(0))[:, None]
    height = 0.30 * torch.sqrt((1.0 - r * r).clamp(min=0.0)) + 0.05
    w.paint(cov, color, CODE["hat"], height=height)
