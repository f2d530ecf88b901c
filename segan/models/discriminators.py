"""The PatchGAN critic with an auxiliary head, shared by every editor's training.

StarGAN, SARGAN, GANimation and the fine-grained model all use the same discriminator:
`repeat_num` strided 4x4 convolutions with LeakyReLU(0.01) and no normalisation, then a 3x3
patch critic (`conv1`) and a head over the whole final map (`conv2`) that classifies the
expression (`head="classify"`, logits) or regresses action units (`head="regress"`).
The fine-grained model's variant starts with a 5x5 kernel and has no biases. `augment` names
differentiable transforms (segan.models.critic_augment) that every picture goes through before
the critic reads it while training, for critics of small datasets. The parameter names match
the public StarGAN/GANimation checkpoints (`main.{0,2,...}`, `conv1`, `conv2`).
"""

from __future__ import annotations

import torch
from torch import nn

from segan.models.base import SeganModel, check_image
from segan.models.critic_augment import augment, parse_policy

HEADS = ("classify", "regress")


class PatchDiscriminator(SeganModel):
    """PatchGAN critic + auxiliary head. `forward(x) -> (patch (N,1,h,w), aux (N,outputs))`."""

    architecture = "patch-discriminator"
    role = "discriminator"
    paper = "Choi et al., StarGAN, CVPR 2018 (PatchGAN critic with an auxiliary classifier)"

    def __init__(
        self,
        image_size: int = 128,
        conv_dim: int = 64,
        repeat_num: int = 6,
        num_outputs: int = 8,
        head: str = "classify",
        first_kernel: int = 4,
        bias: bool = True,
        augment: str = "",
    ):
        super().__init__()
        self.augment_ops = parse_policy(augment)
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if image_size % (2**repeat_num):
            raise ValueError(
                f"image_size {image_size} must be divisible by 2**repeat_num = {2**repeat_num}"
            )
        if first_kernel not in (4, 5):
            raise ValueError(f"first_kernel must be 4 or 5, got {first_kernel}")
        self.image_size, self.head = image_size, head
        layers: list[nn.Module] = []
        channels, width = 3, conv_dim
        for i in range(repeat_num):
            k = first_kernel if i == 0 else 4
            conv = nn.Conv2d(channels, width, k, 2, (k - 1) // 2, bias=bias)
            layers += [conv, nn.LeakyReLU(0.01)]
            channels, width = width, width * 2
        self.main = nn.Sequential(*layers)
        final = image_size // 2**repeat_num
        self.conv1 = nn.Conv2d(channels, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(channels, num_outputs, final, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_image(x)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(
                f"this discriminator takes {self.image_size}x{self.image_size} images, "
                f"got {tuple(x.shape[-2:])}"
            )
        if self.training and self.augment_ops:
            x = augment(x, self.augment_ops)
        h = self.main(x)
        return self.conv1(h), self.conv2(h).flatten(1)
