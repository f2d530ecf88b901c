"""Building blocks shared by segan's generators and discriminators."""

from __future__ import annotations

import torch
from torch import nn


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    """Affine instance norm without running statistics: every image is normalised by its own
    statistics in training and inference alike (no buffers, nothing for DDP to broadcast)."""
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class ResidualBlock(nn.Module):
    """conv3x3-IN-ReLU-conv3x3-IN with an identity skip (StarGAN / GANimation layout:
    parameters `main.0`, `main.1`, `main.3`, `main.4`)."""

    def __init__(self, channels: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            instance_norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            instance_norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


# How a decoder doubles its feature maps: the papers' 4x4 stride-2 transposed convolution; a
# nearest-neighbour resize followed by a 3x3 convolution (Odena, Dumoulin and Olah,
# "Deconvolution and Checkerboard Artifacts", Distill 2016); or the transposed convolution
# followed by a fixed binomial low-pass filter (the blur StyleGAN puts after its upsampling).
# A 4x4 stride-2 transposed convolution computes each of the four output phases with its own
# 2x2 sub-kernel, so unless training makes them agree it prints a period-2 checkerboard; the
# resize-convolution cannot print one, and the [1, 2, 1] filter removes the period-2
# frequency entirely while keeping the transposed convolution's parameters (`weight`), so a
# generator trained with "transposed" loads into "transposed-blur" unchanged.
UPSAMPLING = ("transposed", "resize", "transposed-blur")


class ResizeConv(nn.Module):
    """Nearest-neighbour x2 resize, then a 3x3 convolution (parameters `conv.*`)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))


def binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """Each channel filtered by the separable [1, 2, 1] / 4 kernel (edges replicated): zero
    response at the period-2 frequency, the same size out."""
    channels = x.shape[1]
    taps = x.new_tensor([0.25, 0.5, 0.25])
    kernel = (taps[:, None] * taps[None, :]).expand(channels, 1, 3, 3)
    x = nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    return nn.functional.conv2d(x, kernel, groups=channels)


class BlurredConvTranspose2d(nn.ConvTranspose2d):
    """A 4x4 stride-2 transposed convolution followed by `binomial_blur` (parameters as
    nn.ConvTranspose2d's)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        return binomial_blur(super().forward(x, output_size))


def check_upsampling(kind: str) -> str:
    if kind not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}, got {kind!r}")
    return kind


def upsampling(in_channels: int, out_channels: int, kind: str = "transposed") -> nn.Module:
    """One x2 upsampling convolution of kind `kind` (see UPSAMPLING), without bias."""
    kind = check_upsampling(kind)
    if kind == "resize":
        return ResizeConv(in_channels, out_channels)
    if kind == "transposed-blur":
        return BlurredConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False)
    return nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False)
