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


# How a decoder doubles its feature maps: the papers' 4x4 stride-2 transposed convolution, or
# a nearest-neighbour resize followed by a 3x3 convolution (Odena, Dumoulin and Olah,
# "Deconvolution and Checkerboard Artifacts", Distill 2016): a transposed convolution whose
# kernel size is not a multiple of its stride overlaps unevenly and can print a checkerboard
# on the output; a resize-convolution spreads every input pixel evenly.
UPSAMPLING = ("transposed", "resize")


class ResizeConv(nn.Module):
    """Nearest-neighbour x2 resize, then a 3x3 convolution (parameters `conv.*`)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))


def check_upsampling(kind: str) -> str:
    if kind not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}, got {kind!r}")
    return kind


def upsampling(in_channels: int, out_channels: int, kind: str = "transposed") -> nn.Module:
    """One x2 upsampling convolution of kind `kind` (see UPSAMPLING), without bias."""
    if check_upsampling(kind) == "resize":
        return ResizeConv(in_channels, out_channels)
    return nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False)
