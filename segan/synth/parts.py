"""The painters' shared machinery: the layer table and the helpers every part painter uses.

A painter (`body_parts`, `face_parts`, `mouth_parts`, `eye_parts`, `hair_parts`; `render` calls
them back to front) evaluates its part inside a pixel window: coverage from a signed distance
(soft, anti-aliased edges), albedo with texture, a height contribution for the shading normals,
and the part's painter's code (see LAYERS) for the class mask. The background, which fills the
whole canvas before any part, is painted here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segan.labels import PART_INDEX
from segan.synth.canvas import Canvas, Window, bcast
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


def color_of(t: torch.Tensor) -> torch.Tensor:
    """(N, 3) colour -> (N, 3, 1, 1)."""
    return t[:, :, None, None]


def constant_color(cv: Canvas, r: float, g: float, b: float) -> torch.Tensor:
    """A constant colour shaped (1, 3, 1, 1) on the canvas' device."""
    return torch.tensor([r, g, b], device=cv.device)[None, :, None, None]


def gauss(d2: torch.Tensor) -> torch.Tensor:
    """Gaussian falloff exp(-d2) of a squared, scaled distance."""
    return torch.exp(-d2)


def bump(d2: torch.Tensor) -> torch.Tensor:
    """Smooth bump of squared radius d2 with compact support (exactly 0 for d2 >= 1).

    Used for every effect limited to a window, so nothing shows at the window's border.
    """
    b = (1.0 - d2).clamp_(min=0.0)
    return b * b


def on_face(w: Window) -> torch.Tensor:
    """Face-skin coverage over a window (painted by `face_parts.draw_face`): skin details
    (creases, bumps) are weighted by it so that they never spill past the face onto hair or
    background."""
    return w.canvas.face_cov[:, w.y0 : w.y1, w.x0 : w.x1]


def crease_profile(d: torch.Tensor, width: float, px: torch.Tensor) -> torch.Tensor:
    """A dark line profile at distance d, widened to at least a pixel and dimmed to match.

    Keeping the line's integral constant as it widens is what stops thin creases from
    breaking into dashes at low resolution.
    """
    eff2 = width * width + (0.8 * px) ** 2
    return torch.exp(-(d * d) / eff2) * (width / torch.sqrt(eff2))


def wrinkle_lines_visible(freq: float | torch.Tensor, px: torch.Tensor) -> bool:
    """Whether `wrinkle_lines` at this frequency shows at all in this batch (else it is
    exactly 0)."""
    return bool(((6.2832 / freq) / px).max() > 3.0)


def wrinkle_lines(phase: torch.Tensor, freq: float, px: torch.Tensor) -> torch.Tensor:
    """Periodic wrinkle lines cos^2 at angular frequency `freq`, faded out where a period
    spans fewer than three pixels (where they would alias into moire)."""
    period_px = (6.2832 / freq) / px
    fade = ((period_px - 3.0) / 2.0).clamp(0.0, 1.0)
    return torch.cos(phase * freq).clamp(min=0) ** 2 * fade


# --- the background -----------------------------------------------------------------------


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
    c1, c2 = color_of(p.colors["bg1"]), color_of(p.colors["bg2"])
    torch.addcmul(c1, c2 - c1, t.clamp_(0, 1), out=cv.rgb)
