"""Anatomical zones of SynthFaces faces, and which zones each action unit may change.

A zone is a region named by anatomy (brows, forehead, eyes, nose, cheeks, mouth, chin, jaw),
laid out from the face geometry independently of how the painters draw. They state where each
AU is allowed to change pixels (tested), and which pixels an expression edit should leave
alone (the leakage metric).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segan.labels import AU_IDS
from segan.synth.canvas import Canvas, bcast
from segan.synth.geometry import Geometry, build_geometry
from segan.synth.identity import Identity, sample_identity

ZONES: tuple[str, ...] = ("brows", "forehead", "eyes", "nose", "cheeks", "mouth", "chin", "jaw")

# FACS: the anatomy each AU moves, as SynthFaces renders it.
AU_ZONES: dict[int, tuple[str, ...]] = {
    1: ("brows", "forehead"),
    2: ("brows", "forehead"),
    4: ("brows", "forehead", "eyes"),
    5: ("eyes",),
    6: ("eyes", "cheeks"),
    7: ("eyes",),
    9: ("nose", "brows", "forehead", "cheeks"),
    10: ("mouth", "nose", "cheeks"),
    12: ("mouth", "cheeks"),
    14: ("mouth", "cheeks"),
    15: ("mouth", "chin"),
    17: ("chin", "mouth"),
    20: ("mouth", "cheeks"),
    23: ("mouth",),
    25: ("mouth", "chin"),
    26: ("mouth", "chin", "jaw"),
    45: ("eyes",),
}


def _box(u, v, u0, u1, v0, v1) -> torch.Tensor:
    return (u >= bcast(u0)) & (u <= bcast(u1)) & (v >= bcast(v0)) & (v <= bcast(v1))


def _ellipse(u, v, cu, cv_, ru, rv) -> torch.Tensor:
    return ((u - bcast(cu)) / bcast(ru)) ** 2 + ((v - bcast(cv_)) / bcast(rv)) ** 2 <= 1.0


def _zone_masks(g: Geometry, cv: Canvas) -> torch.Tensor:
    """(N, len(ZONES), H, W) bool zone masks for one geometry."""
    w = cv.full()
    u, v = w.u, w.v
    brow_top = torch.minimum(g.by_in, g.by_out).amin(1) - g.barch.amax(1) - g.bthick.amax(1)
    brow_bot = torch.maximum(g.by_in, g.by_out).amax(1) + g.bthick.amax(1)
    brows = torch.zeros_like(u, dtype=torch.bool)
    for k in (0, 1):
        lo = torch.minimum(g.bx_in[:, k], g.bx_out[:, k]) - 0.02
        hi = torch.maximum(g.bx_in[:, k], g.bx_out[:, k]) + 0.02
        brows |= _box(u, v, lo, hi, brow_top - 0.02, brow_bot + 0.02)
    mid = (g.bx_in[:, 0] + g.bx_in[:, 1]) * 0.5
    forehead = _box(u, v, g.fx - 0.34, g.fx + 0.34, brow_top - 0.19, brow_top + 0.01)
    forehead |= _box(u, v, mid - 0.07, mid + 0.07, brow_top - 0.02, g.ey.amin(1) + 0.01)
    eyes = torch.zeros_like(brows)
    for k in (0, 1):
        eyes |= _ellipse(u, v, g.ex[:, k], g.ey[:, k] - 0.008, 2.05 * g.ew[:, k], 0.085 + 0 * g.a)
    nose = _box(
        u, v, g.nx_tip - g.nw - 0.06, g.nx_tip + g.nw + 0.06, g.n_top - 0.05, g.n_tip + 0.05
    )
    cheeks = torch.zeros_like(brows)
    for k, side in ((0, -1.0), (1, 1.0)):
        corner_x = g.mx + side * g.mw[:, k]
        lo = torch.minimum(g.cx[:, k], corner_x) - 0.16
        hi = torch.maximum(g.cx[:, k], corner_x) + 0.16
        corner_y = g.my + g.mc[:, k]
        cheeks |= _box(u, v, lo, hi, g.cy[:, k] - 0.15, corner_y + 0.08)
    half = g.mw.amax(1)
    mouth = _box(
        u, v, g.mx - half - 0.05, g.mx + half + 0.05, g.n_tip + 0.0, g.my + g.gl + g.tl + 0.06
    )
    chin = _box(u, v, g.mx - 0.20, g.mx + 0.20, g.my - 0.02, g.bb + 0.12)
    jaw = _box(u, v, g.fx - g.a - 0.04, g.fx + g.a + 0.04, g.my - 0.05, g.bb + 0.14)
    return torch.stack([brows, forehead, eyes, nose, cheeks, mouth, chin, jaw], 1)


def zone_masks(identity: torch.Tensor, aus: torch.Tensor, resolution: int) -> torch.Tensor:
    """(N, len(ZONES), H, W) bool: each anatomical zone of each face at the given AUs."""
    p = sample_identity(identity)
    g = build_geometry(p, aus)
    return _zone_masks(g, _canvas(p, identity.shape[0], resolution, identity.device))


def _canvas(p: Identity, n: int, resolution: int, device) -> Canvas:
    return Canvas(n, resolution, device, p.roll, p.scale, p.shift_x, p.shift_y, None)


def au_region(
    identity: torch.Tensor,
    source_aus: torch.Tensor,
    target_aus: torch.Tensor,
    resolution: int,
    dilate_px: int = 0,
    threshold: float = 1e-3,
) -> torch.Tensor:
    """(N, H, W) bool: where an edit from source_aus to target_aus may change pixels.

    The union of the zones of every AU whose intensity differs, laid out at both the source
    and the target geometry, optionally dilated by `dilate_px` pixels.
    """
    p = sample_identity(identity)
    cv = _canvas(p, identity.shape[0], resolution, identity.device)
    changed = (source_aus - target_aus).abs() > threshold  # (N, 17)
    select = torch.zeros(identity.shape[0], len(ZONES), dtype=torch.bool, device=identity.device)
    for k, au in enumerate(AU_IDS):
        for z in AU_ZONES[au]:
            select[:, ZONES.index(z)] |= changed[:, k]
    region = torch.zeros(
        identity.shape[0], resolution, resolution, dtype=torch.bool, device=identity.device
    )
    for aus in (source_aus, target_aus):
        masks = _zone_masks(build_geometry(p, aus), cv)
        region |= (masks & select[:, :, None, None]).any(1)
    if dilate_px > 0:
        k = 2 * dilate_px + 1
        region = F.max_pool2d(region[:, None].float(), k, stride=1, padding=dilate_px)[:, 0] > 0
    return region
