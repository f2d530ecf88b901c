"""`render`: identities + action units -> images, exact class masks and landmarks."""

from __future__ import annotations

import torch

from segan.labels import AU_MAX_INTENSITY, NUM_AUS
from segan.synth import body_parts, eye_parts, face_parts, hair_parts, mouth_parts, parts
from segan.synth.canvas import Canvas
from segan.synth.geometry import build_geometry
from segan.synth.identity import sample_identity
from segan.synth.landmarks import landmarks_pixels
from segan.synth.shading import shade
from segan.synth.textures import textures_for

MIN_RESOLUTION = 32
MAX_RESOLUTION = 1024
MAX_IDENTITY = 2**31 - 1

# Painters back to front; the second item names the identity flag of a part only some people
# have, which is then painted on those samples alone.
_PAINTERS = (
    (hair_parts.draw_hair_back, None),
    (body_parts.draw_cloth, None),
    (body_parts.draw_neck, None),
    (body_parts.draw_necklace, "necklace"),
    (body_parts.draw_ears, None),
    (body_parts.draw_earrings, "earrings"),
    (face_parts.draw_face, None),
    (face_parts.draw_nose, None),
    (mouth_parts.draw_mouth, None),
    (eye_parts.draw_eyes, None),
    (eye_parts.draw_brows, None),
    (hair_parts.draw_hair_front, None),
    (eye_parts.draw_glasses, "glasses"),
    (hair_parts.draw_hat, "hat"),
)


def check_resolution(resolution: int) -> int:
    """The resolution as an int, or a ValueError naming what is supported."""
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise ValueError(f"resolution must be an int, got {resolution!r}")
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION or resolution % 8:
        raise ValueError(
            f"resolution {resolution} is not supported: use a multiple of 8 from "
            f"{MIN_RESOLUTION} to {MAX_RESOLUTION} (for example 64, 128 or 256)"
        )
    return resolution


def check_inputs(
    identity: torch.Tensor, aus: torch.Tensor, device: torch.device | str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated (identity int64 (N,), aus float32 (N, 17)) on the target device."""
    if not isinstance(identity, torch.Tensor):
        raise ValueError(
            f"identity must be a LongTensor of shape (N,), got {type(identity).__name__}"
        )
    if not isinstance(aus, torch.Tensor):
        raise ValueError(f"aus must be a FloatTensor of shape (N, 17), got {type(aus).__name__}")
    if identity.dim() != 1:
        raise ValueError(f"identity must have shape (N,), got {tuple(identity.shape)}")
    if identity.dtype.is_floating_point or identity.dtype == torch.bool:
        raise ValueError(f"identity must hold integers, got dtype {identity.dtype}")
    if aus.dim() != 2 or aus.shape[1] != NUM_AUS:
        raise ValueError(f"aus must have shape (N, {NUM_AUS}), got {tuple(aus.shape)}")
    if aus.shape[0] != identity.shape[0]:
        raise ValueError(
            f"identity has {identity.shape[0]} entries but aus has {aus.shape[0]} rows"
        )
    if identity.numel() and (int(identity.min()) < 0 or int(identity.max()) > MAX_IDENTITY):
        raise ValueError(
            f"identity ids must lie in [0, {MAX_IDENTITY}], got range "
            f"[{int(identity.min())}, {int(identity.max())}]"
        )
    if not aus.dtype.is_floating_point:
        aus = aus.float()
    if aus.numel():
        if not bool(torch.isfinite(aus).all()):
            raise ValueError("aus contains NaN or infinite values")
        lo, hi = float(aus.min()), float(aus.max())
        if lo < 0.0 or hi > AU_MAX_INTENSITY:
            raise ValueError(
                f"AU intensities must lie in [0, {AU_MAX_INTENSITY:g}] (OpenFace scale), "
                f"got range [{lo:g}, {hi:g}]"
            )
    dev = torch.device(device) if device is not None else identity.device
    return identity.to(dev, torch.int64), aus.to(dev, torch.float32)


def render(
    identity: torch.Tensor,
    aus: torch.Tensor,
    resolution: int = 128,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Render SynthFaces faces: a pure function of identity ids and AU intensities.

    Returns `image` (N, 3, H, W) in [-1, 1], `mask` (N, H, W) int64 in segan's 19-class order,
    `landmarks` (N, 68, 2) pixel (x, y), and echoes `identity` and `aus`.
    """
    resolution = check_resolution(resolution)
    identity, aus = check_inputs(identity, aus, device)
    n, dev = identity.shape[0], identity.device
    if n == 0:
        return {
            "image": torch.zeros(0, 3, resolution, resolution, device=dev),
            "mask": torch.zeros(0, resolution, resolution, dtype=torch.int64, device=dev),
            "landmarks": torch.zeros(0, 68, 2, device=dev),
            "identity": identity,
            "aus": aus,
        }
    # Thousands of small tensor ops: inference mode trims their bookkeeping (about 20% of the
    # time). The outputs are allocated outside it so callers get ordinary tensors.
    image = torch.empty(n, 3, resolution, resolution, device=dev)
    mask = torch.empty(n, resolution, resolution, dtype=torch.int64, device=dev)
    with torch.inference_mode():
        landmarks = _draw(identity, aus, resolution, image, mask)
    return {
        "image": image,
        "mask": mask,
        "landmarks": landmarks.clone(),
        "identity": identity,
        "aus": aus,
    }


def _draw(
    identity: torch.Tensor,
    aus: torch.Tensor,
    resolution: int,
    image: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Paint, shade and label a non-empty batch into image and mask; returns the landmarks."""
    n, dev = identity.shape[0], identity.device
    p = sample_identity(identity)
    g = build_geometry(p, aus)
    tex = textures_for(resolution, p.tex_index, p.tex_off_x, p.tex_off_y)
    cv = Canvas(n, resolution, dev, p.roll, p.scale, p.shift_x, p.shift_y, tex)
    parts.draw_background(cv, p)
    for paint, flag in _PAINTERS:
        if flag is None:
            paint(cv, p, g)
            continue
        idx = torch.nonzero(p.values[flag] > 0.5)[:, 0]
        if idx.numel() == n:
            paint(cv, p, g)
        elif idx.numel():
            sub = cv.subset(idx)
            paint(sub, p.subset(idx), g.subset(idx))
            cv.merge(sub, idx)
    codes = cv.code.long()
    shade(cv, p, parts.SPECULAR_OF_CODE.to(dev).take(codes), out=image)
    torch.take(parts.CLASS_OF_CODE.to(dev), codes[:, 0], out=mask)
    return landmarks_pixels(g, p, resolution)
