"""Ling et al.'s fine-grained editor: a U-Net with Multi-Scale Fusion skips, on relative AUs.

The generator is conditioned on relative action units, target minus source intensities divided
by 5 (so in [-1, 1]); a zero entry asks to leave that AU alone, which the self-reconstruction
loss teaches during training (nothing here hard-wires it). The condition is tiled and
concatenated at the bottleneck and at the input of each of the three Multi-Scale Feature
Fusion (MSF) modules that replace the plain U-Net skips. The layout follows the released
`UNet_MSF_Generator` (junleen/Expression-manipulator), described in
reference/papers-relative-au-and-sargan.md sections 1.3 to 1.6.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from segan.labels import AU_IDS, au_index
from segan.models.base import Editor, EditOutput, check_condition, check_image, tile
from segan.models.blocks import instance_norm
from segan.models.discriminators import PatchDiscriminator

DOWNSAMPLING = 16  # four stride-2 stages: image sides must be multiples of this
MAX_BOTTLENECK = 512  # the released code caps the bottleneck width at min(512, 16 * ngf)
LEAK = 0.01


def _activation(kind: str) -> nn.Module:
    return nn.LeakyReLU(LEAK, inplace=True) if kind == "lrelu" else nn.ReLU(inplace=True)


def conv_in_act(
    c_in: int, c_out: int, kernel: int, stride: int = 1, act: str = "relu"
) -> nn.Sequential:
    """Bias-free conv, affine instance norm, (Leaky)ReLU; "same" padding for odd kernels and
    exact halving for 4x4 stride 2."""
    conv = nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, bias=False)
    return nn.Sequential(conv, instance_norm(c_out), _activation(act))


def upconv_in_act(c_in: int, c_out: int, act: str = "relu") -> nn.Sequential:
    """Bias-free 4x4 stride-2 transposed conv (exact doubling), instance norm, (Leaky)ReLU."""
    conv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
    return nn.Sequential(conv, instance_norm(c_out), _activation(act))


class TwoStreamExchange(nn.Module):
    """HRNet-style exchange between a high-res stream (H) and a low-res stream (H/2).

    Each output stream is half "stay at my resolution" (3x3 conv, ReLU) and half "come from the
    other resolution" (4x4 strided conv or 4x4 transposed conv, LeakyReLU); the stream widths
    are kept.
    """

    def __init__(self, high: int, low: int):
        super().__init__()
        self.high_to_high = conv_in_act(high, high // 2, 3)
        self.low_to_high = upconv_in_act(low, high - high // 2, act="lrelu")
        self.high_to_low = conv_in_act(high, low // 2, 4, stride=2, act="lrelu")
        self.low_to_low = conv_in_act(low, low - low // 2, 3)

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        new_high = torch.cat([self.high_to_high(high), self.low_to_high(low)], 1)
        new_low = torch.cat([self.high_to_low(high), self.low_to_low(low)], 1)
        return new_high, new_low


class MultiScaleFusion(nn.Module):
    """One MSF skip: fuse an encoder feature (H), the coarser cascade output (H/2) and the
    condition into a skip feature at H.

    input conv 5x5 on concat(feature, tiled condition) -> two-stream exchange -> the low-res
    stream upsampled (4x4 transposed conv) and concatenated to the high-res stream -> two
    parallel output convs, 3x3 and 5x5, each giving half of `out_channels`, concatenated.
    """

    def __init__(self, in_channels: int, low_channels: int, out_channels: int, num_aus: int):
        super().__init__()
        up_channels = min(low_channels, out_channels)
        self.input_conv = conv_in_act(in_channels + num_aus, in_channels, 5)
        self.exchange = TwoStreamExchange(in_channels, low_channels)
        self.upsample = upconv_in_act(low_channels, up_channels, act="lrelu")
        self.out3 = conv_in_act(in_channels + up_channels, out_channels // 2, 3)
        self.out5 = conv_in_act(in_channels + up_channels, out_channels - out_channels // 2, 5)

    def forward(
        self, feature: torch.Tensor, coarser: torch.Tensor, condition: torch.Tensor
    ) -> torch.Tensor:
        high = self.input_conv(torch.cat([feature, tile(condition, feature.shape[-2:])], 1))
        high, low = self.exchange(high, coarser)
        both = torch.cat([high, self.upsample(low)], 1)
        return torch.cat([self.out3(both), self.out5(both)], 1)


def _msf_parameters(c_in: int, c_low: int, c_out: int, num_aus: int) -> int:
    up = min(c_low, c_out)
    weights = (
        25 * (c_in + num_aus) * c_in  # input conv 5x5
        + 9 * c_in * (c_in // 2)  # high -> high 3x3
        + 16 * c_low * (c_in - c_in // 2)  # low -> high transposed 4x4
        + 16 * c_in * (c_low // 2)  # high -> low strided 4x4
        + 9 * c_low * (c_low - c_low // 2)  # low -> low 3x3
        + 16 * c_low * up  # upsample transposed 4x4
        + 9 * (c_in + up) * (c_out // 2)  # output 3x3
        + 25 * (c_in + up) * (c_out - c_out // 2)  # output 5x5
    )
    norms = 2 * (c_in + c_in + c_low + up + c_out)  # affine IN after every conv
    return weights + norms


def analytic_num_parameters(ngf: int = 64, num_aus: int = len(AU_IDS)) -> int:
    """The generator's parameter count from the layer formulas (no model is built), to check
    the implementation against: 57,632,768 at ngf 64 with 17 AUs (57,524,736 with 13)."""
    g, b = ngf, min(MAX_BOTTLENECK, 16 * ngf)
    enc = [g, 2 * g, 4 * g, 8 * g, b]
    total = 49 * 3 * g + 2 * g  # stem 7x7 + IN
    total += sum(16 * a * c + 2 * c for a, c in pairwise(enc))  # 4x4 strided convs
    total += 9 * (b + num_aus) * b + 2 * b  # bottleneck 3x3 on concat(feature, condition)
    total += _msf_parameters(8 * g, b, 8 * g, num_aus)
    total += _msf_parameters(4 * g, 8 * g, 4 * g, num_aus)
    total += _msf_parameters(2 * g, 4 * g, 2 * g, num_aus)
    dec = [(b, 8 * g), (16 * g, 4 * g), (8 * g, 2 * g), (4 * g, g)]  # transposed 4x4 convs
    total += sum(16 * a * c + 2 * c for a, c in dec)
    total += 49 * g * 3  # output 7x7, no norm, no bias
    return total


class FineGrained(Editor):
    """Ling et al.'s U-Net + MSF generator: `model(x, relative_aus)` -> edited image.

    Layout (ngf = g, b = min(512, 16 g), c = len(aus); sizes at a 128 px input):

    - stem 7x7 (g, 128) and four 4x4 stride-2 convs (2g 64, 4g 32, 8g 16, b 8), each with
      instance norm and LeakyReLU(0.01);
    - bottleneck: 3x3 conv on concat(down4, tiled condition) -> b at 8 px, IN, ReLU;
    - MSF cascade, coarse to fine, each fed an encoder feature, the previous output and the
      condition: MSF16(8g, low b -> 8g), MSF32(4g, low 8g -> 4g), MSF64(2g, low 4g -> 2g);
    - decoder: 4x4 transposed convs b -> 8g, [.|MSF16] 16g -> 4g, [.|MSF32] 8g -> 2g,
      [.|MSF64] 4g -> g, each with IN and ReLU; then a 7x7 conv to RGB and tanh.

    Convolutions have no bias; instance norm is affine without running statistics; weights
    start from N(0, 0.02) as in the released code.

    Parameters (analytic, `analytic_num_parameters`), at g = 64, c = 17: stem 9,536; encoder
    6,949,632; bottleneck 2,438,656; MSF16 26,437,120, MSF32 9,647,360, MSF64 2,439,808;
    decoder 9,701,248; to-RGB 9,408; total 57,632,768 (the reference quotes 57.6 M; 57.5 M
    with its 13 AUs). Two thirds of it sits in the MSF modules (5x5 convs at 512 channels).

    Choices where the reference leaves room: activations are those of the released code
    (LeakyReLU(0.01) on the stem, the strided and the transposed convs inside the MSF; ReLU on
    the bottleneck, the 3x3/5x5 convs and the decoder); 5x5 convs are padded by 2 and 3x3 by 1
    ("same"); the MSF output concatenates the high-res stream before the upsampled one; the
    decoder concatenates its upsampled feature before the skip. The model is fully
    convolutional: `image_size` records the training size, any side divisible by 16 works.
    """

    architecture = "finegrained"
    paper = "Ling et al., Toward Fine-grained Facial Expression Manipulation, ECCV 2020"
    condition_kind = "relative_aus"

    def __init__(self, ngf: int = 64, image_size: int = 128, aus: Sequence[int] = AU_IDS):
        super().__init__()
        if ngf < 2:
            raise ValueError(f"ngf must be at least 2, got {ngf}")
        if image_size <= 0 or image_size % DOWNSAMPLING:
            raise ValueError(f"image_size must be a multiple of {DOWNSAMPLING}, got {image_size}")
        aus = [int(a) for a in aus]
        for a in aus:
            au_index(a)  # raises for an AU segan does not know
        if not aus or len(set(aus)) != len(aus):
            raise ValueError(f"aus must be a non-empty list of distinct AU ids, got {aus}")
        self.ngf, self.image_size, self.aus = ngf, image_size, tuple(aus)
        g, b, c = ngf, min(MAX_BOTTLENECK, 16 * ngf), len(aus)

        self.stem = conv_in_act(3, g, 7, act="lrelu")
        enc = [g, 2 * g, 4 * g, 8 * g, b]
        self.down = nn.ModuleList(
            conv_in_act(a, o, 4, stride=2, act="lrelu") for a, o in pairwise(enc)
        )
        self.bottleneck = conv_in_act(b + c, b, 3)
        # Coarse to fine: 1/8, 1/4, 1/2 of the input size.
        self.fusions = nn.ModuleList(
            [
                MultiScaleFusion(8 * g, b, 8 * g, c),
                MultiScaleFusion(4 * g, 8 * g, 4 * g, c),
                MultiScaleFusion(2 * g, 4 * g, 2 * g, c),
            ]
        )
        dec = [(b, 8 * g), (16 * g, 4 * g), (8 * g, 2 * g), (4 * g, g)]
        self.up = nn.ModuleList(upconv_in_act(a, o) for a, o in dec)
        self.to_rgb = nn.Sequential(nn.Conv2d(g, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.apply(_init_weights)

    @property
    def num_aus(self) -> int:
        return len(self.aus)

    def explain(self, x: torch.Tensor, condition: torch.Tensor) -> EditOutput:
        """The edited image for relative AUs `condition` (N, len(aus)) in [-1, 1]."""
        self._check(x, condition)
        condition = condition.to(x.dtype)
        feats = [self.stem(x)]
        for down in self.down:
            feats.append(down(feats[-1]))
        bottom = feats[-1]
        h = self.bottleneck(torch.cat([bottom, tile(condition, bottom.shape[-2:])], 1))
        skips, coarser = [], h
        for fusion, feature in zip(self.fusions, (feats[3], feats[2], feats[1]), strict=True):
            coarser = fusion(feature, coarser, condition)
            skips.append(coarser)
        out = self.up[0](h)
        for up, skip in zip(self.up[1:], skips, strict=True):
            out = up(torch.cat([out, skip], 1))
        return EditOutput(image=self.to_rgb(out))

    def _check(self, x: torch.Tensor, condition: torch.Tensor) -> None:
        check_image(x)
        h, w = x.shape[-2:]
        if h % DOWNSAMPLING or w % DOWNSAMPLING:
            raise ValueError(
                f"FineGrained needs image sides divisible by {DOWNSAMPLING}, "
                f"got x of shape {tuple(x.shape)}"
            )
        check_condition(condition, x.shape[0], self.num_aus)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)


def finegrained_discriminator(
    image_size: int = 128, conv_dim: int = 64, aus: Sequence[int] = AU_IDS
) -> PatchDiscriminator:
    """The fine-grained model's critic: PatchGAN with a 5x5 first kernel, no biases, and a head
    regressing the absolute AUs (44,858,048 parameters at 128 px, 64 channels, 17 AUs)."""
    return PatchDiscriminator(
        image_size=image_size,
        conv_dim=conv_dim,
        repeat_num=6,
        num_outputs=len(aus),
        head="regress",
        first_kernel=5,
        bias=False,
    )
