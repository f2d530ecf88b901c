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
