"""The raster core of SynthFaces: a batched canvas painted back to front in pixel windows.

Parts are described in a canonical, face-centred frame (u right, v down, unit = half the image
width at zero pose). Each part is evaluated only inside the pixel window that can contain it,
which keeps the renderer fast on a CPU. The canvas holds albedo colour, a height field (for the
normal estimate used in shading) and a painter's code per pixel from which the class mask is
read: every layer has a code larger than the layers painted before it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bcast(x: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N, 1, 1) so per-sample parameters broadcast over a pixel window."""
    return x[:, None, None]


def inside(sdf: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """Anti-aliased coverage in [0, 1] of a region given its signed distance (negative inside).

    Coverage is exactly 0 more than half a pixel outside and exactly 1 half a pixel inside.
    """
    return (sdf * (-1.0 / px)).add_(0.5).clamp_(0.0, 1.0)


def ellipse_sdf(
    du: torch.Tensor, dv: torch.Tensor, ru: torch.Tensor, rv: torch.Tensor
) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse with radii (ru, rv).

    (r - 1) / |grad r| with r the normalised radius: exact on both axes, so anti-aliasing
    never bleeds far beyond an elongated ellipse's ends (as (r - 1) * min radius would).
    """
    X, Y = du / ru, dv / rv
    r = torch.sqrt(X * X + Y * Y)
    grad = torch.sqrt((X / ru) ** 2 + (Y / rv) ** 2)
    return (r - 1.0) * r / grad.clamp(min=1e-6)


def _inverse_pose(
    c: Canvas, xs: torch.Tensor, ys: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical (u, v), each (N, h, w), of image points on the grid xs (1, w) x ys (1, h)."""
    dx = xs - c.tx[:, None]  # (N, w)
    dy = ys - c.ty[:, None]  # (N, h)
    # canonical = R(-roll) (image - t) / scale
    u = (c.cos_s[:, None] * dx)[:, None, :] + (c.sin_s[:, None] * dy)[:, :, None]
    v = (-c.sin_s[:, None] * dx)[:, None, :] + (c.cos_s[:, None] * dy)[:, :, None]
    return u, v


def pose_to_image(
    u: torch.Tensor,
    v: torch.Tensor,
    roll: torch.Tensor,
    scale: torch.Tensor,
    tx: torch.Tensor,
    ty: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical points (N, K) -> normalised image coordinates: image = s R(roll) p + t."""
    c, s = torch.cos(roll)[:, None], torch.sin(roll)[:, None]
    k = scale[:, None]
    x = k * (c * u - s * v) + tx[:, None]
    y = k * (s * u + c * v) + ty[:, None]
    return x, y


class Window:
    """A rectangle of pixels [y0, y1) x [x0, x1) and the canonical coordinates of its centres.

    The coordinates (u, v) are computed on first use: many windows are only asked for bounds.
    """

    def __init__(self, canvas: Canvas, y0: int, y1: int, x0: int, x1: int):
        self.y0, self.y1, self.x0, self.x1 = y0, y1, x0, x1
        self.canvas = canvas
        self.empty = y1 <= y0 or x1 <= x0
        self._uv: tuple[torch.Tensor, torch.Tensor] | None = None

    def _coords(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._uv is None:
            c = self.canvas
            xs = c.pix[self.x0 : self.x1][None, :]  # (1, w) normalised image x
            ys = c.pix[self.y0 : self.y1][None, :]
            self._uv = _inverse_pose(c, xs, ys)
        return self._uv

    @property
    def u(self) -> torch.Tensor:
        return self._coords()[0]

    @property
    def v(self) -> torch.Tensor:
        return self._coords()[1]

    @property
    def px(self) -> torch.Tensor:
        return self.canvas.px

    def paint(
        self,
        coverage: torch.Tensor,
        color: torch.Tensor,
        code: int | None,
        height: torch.Tensor | None = None,
    ) -> None:
        """Composite a layer over the window: colour (N,3,h,w or N,3,1,1), height (N,h,w)."""
        if self.empty:
            return
        c = self.canvas
        sl = (slice(None), slice(None), slice(self.y0, self.y1), slice(self.x0, self.x1))
        cov = coverage[:, None]
        rgb = c.rgb[sl]
        if color.dim() == 2:
            color = color[:, :, None, None]
        rgb.lerp_(color.expand_as(rgb), cov)
        if height is not None:
            c.height[sl].lerp_(height[:, None].expand_as(cov), cov)
        if code is not None:
            codes = c.code[sl]
            torch.maximum(codes, coverage[:, None].round() * float(code), out=codes)

    def multiply(self, factor: torch.Tensor) -> None:
        """Multiply the window's colour by factor (N,h,w) or (N,3,h,w): creases, shadows."""
        if self.empty:
            return
        rgb = self.canvas.rgb[:, :, self.y0 : self.y1, self.x0 : self.x1]
        rgb.mul_(factor[:, None] if factor.dim() == 3 else factor)

    def add_height(self, delta: torch.Tensor) -> None:
        if self.empty:
            return
        self.canvas.height[:, 0, self.y0 : self.y1, self.x0 : self.x1].add_(delta)

    def texture(self, channel: int) -> torch.Tensor:
        """The canvas' per-sample noise texture channel over this window, (N, h, w)."""
        return self.canvas.tex[:, channel, self.y0 : self.y1, self.x0 : self.x1]

    def coarse(self) -> Coarse:
        """The 2x coarser grid under this window, for smooth fields (see `Coarse`)."""
        return Coarse(self)

    def upsample(self, field: torch.Tensor, grid: Coarse) -> torch.Tensor:
        """Bilinearly upsample a field on `grid`, (N, hc, wc) or (N, C, hc, wc), to this window."""
        squeeze = field.dim() == 3
        up = F.interpolate(
            field[:, None] if squeeze else field,
            scale_factor=2,
            mode="bilinear",
            align_corners=False,
        )
        oy, ox = self.y0 - 2 * grid.j0, self.x0 - 2 * grid.i0
        up = up[..., oy : oy + self.y1 - self.y0, ox : ox + self.x1 - self.x0]
        return up[:, 0] if squeeze else up


class Coarse:
    """The 2x-coarser grid under a window, aligned to even image pixels, with a one-cell apron.

    Smooth per-pixel fields (signed distances of big shapes, heights) are evaluated here at a
    quarter of the cost and brought back by bilinear upsampling. The cells are fixed in image
    space and the apron keeps every window pixel an interior interpolation, so a field never
    depends on where a window starts: faces stay independent of their batch.
    """

    def __init__(self, window: Window):
        c = window.canvas
        self.canvas = c
        self.j0, self.j1 = (window.y0 - 1) // 2, -(-(window.y1 + 1) // 2)
        self.i0, self.i1 = (window.x0 - 1) // 2, -(-(window.x1 + 1) // 2)
        step = 2.0 / c.res
        xs = ((2 * torch.arange(self.i0, self.i1, device=c.device) + 1) * step - 1.0)[None, :]
        ys = ((2 * torch.arange(self.j0, self.j1, device=c.device) + 1) * step - 1.0)[None, :]
        self.u, self.v = _inverse_pose(c, xs, ys)
        self.px = c.px * 2.0

    def texture(self, channel: int) -> torch.Tensor:
        """2x2-averaged texture over the grid, (N, hc, wc)."""
        pad = Canvas.COARSE_PAD
        tex = self.canvas.coarse_texture(channel)
        return tex[:, self.j0 + pad : self.j1 + pad, self.i0 + pad : self.i1 + pad]


class Canvas:
    """Batched RGB albedo + height + painter's-code buffers at one resolution."""

    def __init__(
        self,
        n: int,
        resolution: int,
        device: torch.device,
        roll: torch.Tensor,
        scale: torch.Tensor,
        shift_x: torch.Tensor,
        shift_y: torch.Tensor,
        textures: torch.Tensor,
    ):
        self.n, self.res, self.device = n, resolution, device
        self.rgb = torch.empty(n, 3, resolution, resolution, device=device)  # background fills it
        self.height = torch.zeros(n, 1, resolution, resolution, device=device)
        self.code = torch.zeros(n, 1, resolution, resolution, device=device)
        self.face_cov: torch.Tensor | None = None  # (N, H, W), set when the face is painted
        # Additions made after shading (catch-lights, lens reflections): (window, (N, h, w)).
        self.post: list[tuple[Window, torch.Tensor]] = []
        self.tex = textures  # (N, C, H, W)
        self._coarse_tex: dict[int, torch.Tensor] = {}
        # Pixel centres in normalised image coordinates [-1, 1].
        self.pix = (torch.arange(resolution, device=device, dtype=torch.float32) + 0.5) * (
            2.0 / resolution
        ) - 1.0
        self.roll, self.scale = roll, scale
        self.tx, self.ty = shift_x, shift_y
        self.cos_s = torch.cos(roll) / scale
        self.sin_s = torch.sin(roll) / scale
        self.px = bcast(2.0 / (resolution * scale))  # one pixel in canonical units

    def to_image(self, u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Canonical points (N, K) -> normalised image coordinates (N, K)."""
        return pose_to_image(u, v, self.roll, self.scale, self.tx, self.ty)

    def window(self, u0, u1, v0, v1, margin_px: int = 2) -> Window:
        """The pixel window holding the canonical boxes [u0,u1] x [v0,v1] of every sample.

        Box bounds are (N,) tensors (or floats); the window is their union over the batch after
        the pose transform, grown by `margin_px` pixels and clipped to the image.
        """
        n, dev = self.n, self.device

        def t(x):
            return torch.as_tensor(x, dtype=torch.float32, device=dev).expand(n)

        u0, u1, v0, v1 = t(u0), t(u1), t(v0), t(v1)
        us = torch.stack([u0, u1, u0, u1], 1)
        vs = torch.stack([v0, v0, v1, v1], 1)
        x, y = self.to_image(us, vs)
        r = self.res
        bounds = torch.stack([y.amin(), y.amax(), x.amin(), x.amax()]).tolist()
        ya, yb, xa, xb = ((b + 1.0) * 0.5 * r for b in bounds)
        y0 = max(int(ya) - margin_px, 0)
        y1 = min(int(yb) + 1 + margin_px, r)
        x0 = max(int(xa) - margin_px, 0)
        x1 = min(int(xb) + 1 + margin_px, r)
        return Window(self, y0, y1, x0, x1)

    COARSE_PAD = 2

    def coarse_texture(self, channel: int) -> torch.Tensor:
        """Texture channel averaged over 2x2 pixel blocks, padded for coarse grids' aprons."""
        cached = self._coarse_tex.get(channel)
        if cached is None:
            t = self.tex[:, channel]
            t = (t[:, ::2, ::2] + t[:, 1::2, ::2] + t[:, ::2, 1::2] + t[:, 1::2, 1::2]) * 0.25
            pad = self.COARSE_PAD
            cached = F.pad(t[:, None], (pad,) * 4, mode="replicate")[:, 0]
            self._coarse_tex[channel] = cached
        return cached

    def subset(self, idx: torch.Tensor) -> Canvas:
        """A canvas holding copies of the samples `idx`; paint it, then `merge` it back.

        Rare parts (hats, glasses, jewellery) are painted on such a subset only.
        """
        sub = Canvas.__new__(Canvas)
        sub.n, sub.res, sub.device, sub.pix = idx.numel(), self.res, self.device, self.pix
        for name in ("rgb", "height", "code", "tex", "roll", "scale", "tx", "ty"):
            setattr(sub, name, getattr(self, name)[idx])
        for name in ("cos_s", "sin_s", "px"):
            setattr(sub, name, getattr(self, name)[idx])
        sub.post = []
        sub._coarse_tex = {k: v[idx] for k, v in self._coarse_tex.items()}
        return sub

    def merge(self, sub: Canvas, idx: torch.Tensor) -> None:
        """Write a painted subset canvas back into its samples."""
        self.rgb[idx] = sub.rgb
        self.height[idx] = sub.height
        self.code[idx] = sub.code
        for w, add in sub.post:
            full = torch.zeros((self.n, *add.shape[1:]), device=add.device, dtype=add.dtype)
            full[idx] = add
            self.post.append((w, full))

    def column_of(self, u: torch.Tensor, rows: list[int]) -> torch.Tensor:
        """Pixel x, per sample (N, len(rows)), where the canonical vertical line u = const
        crosses the given pixel rows. x grows with u along any row, so the line splits a
        row into the part with smaller u (left) and larger u (right)."""
        r = self.res
        y = (torch.tensor(rows, dtype=torch.float32, device=self.device) + 0.5) * (2.0 / r) - 1.0
        c, s = torch.cos(self.roll)[:, None], torch.sin(self.roll)[:, None]
        k = self.scale[:, None]
        u = torch.as_tensor(u, dtype=torch.float32, device=self.device).expand(self.n)[:, None]
        v = (y[None, :] - self.ty[:, None] - k * s * u) / (k * c)
        x = k * (c * u - s * v) + self.tx[:, None]
        return (x + 1.0) * 0.5 * r - 0.5

    def full(self) -> Window:
        return Window(self, 0, self.res, 0, self.res)
