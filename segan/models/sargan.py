"""SARGAN (Akram and Khan, TCSVT 2023): spatial-attention residual block, input added to output.

The generator is StarGAN's encoder (conv7x7, two 4x4 stride-2 convolutions), ONE
spatial-attention residual block (SARB) at the bottleneck, StarGAN's decoder (two transposed
convolutions, conv7x7, tanh), and the input image added to the decoder's output (the "ultimate
skip"). The SARB is `h + F(h) * A(F(h))` with F = conv3x3-IN-ReLU-conv3x3-IN and A a one-channel
sigmoid map from a depth-2 hourglass (the paper's symmetric encoder-decoder network, SEDN; the
released code takes it from SPARNet): every level has a skip conv, a stride-2 conv, a nearest
x2 up-sampling conv, with 64 channels inside, reflection padding and IN + ReLU.

Choices (the released code differs):
- `forward` returns `clamp(x + decoder(...), -1, 1)`: the image that is shown, saved and fed to
  the discriminator. The original returns the unclamped sum (range (-2, 2)) and clamps only when
  saving; `explain(...).extras["unclamped"]` gives that sum.
- `explain(...).attention` is the SARB's map, bilinearly up-sampled to the image size. For SARGAN
  it is a FEATURE-level attention (how much of the residual features pass at each place), not a
  keep-mask: 1 does not mean "keep the input pixel" as it does for GANimation.
- The original Generator also builds an unused top-level `att_func = SEDN(2, 3, 1)` (0.19 M
  parameters that never run); segan's model does not have it and the converter drops its keys.
- Instance norm never tracks running statistics (the original's outer norms do, but its test
  code never calls `eval()`, so it normalises per instance too); the running buffers are dropped.

Key renames from `sargan_G.ckpt` (everything else keeps its `main.<index>` name):
`main.9.conv{1,2}.conv2d` -> `main.9.conv{1,2}.conv`, `*.norm.norm` -> `*.norm`,
`main.9.att_func.b1_<l>` -> `main.9.attention.skip<l>`, `b2_<l>` -> `down<l>`,
`b2_plus_1` -> `bottom`, `b3_<l>` -> `up<l>`, `out_block.0` -> `head`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segan.labels import EXPRESSIONS, KDEF_EXPRESSIONS
from segan.models.base import Editor, EditOutput, tile
from segan.models.blocks import instance_norm
from segan.models.convert import ConvertOptions, register_converter, require
from segan.models.stargan import (
    check_edit_inputs,
    check_labels,
    check_size,
    decoder_layers,
    encoder_layers,
    input_conv,
    load_renamed,
    resolution,
    resolve_labels,
)

# KDEF as SARGAN's ImageFolder sees it (AFS, ANS, DIS, HAS, NES, SAS, SUS), in segan's names.
KDEF_LABELS: tuple[str, ...] = tuple(KDEF_EXPRESSIONS[code] for code in sorted(KDEF_EXPRESSIONS))
SARB_INDEX = 9  # the block's position in `main`, as in the original


class ReflectConv(nn.Module):
    """Reflection-padded convolution with optional nearest x2 up-sampling before it and
    instance norm + ReLU after it (SPARNet's ConvLayer; a bias only when there is no norm)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        upsample: bool = False,
        norm: bool = True,
        relu: bool = True,
        kernel_size: int = 3,
    ):
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            kernel_size // 2,
            bias=not norm,
            padding_mode="reflect",
        )
        self.norm = instance_norm(out_channels) if norm else nn.Identity()
        self.act = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.act(self.norm(self.conv(x)))


class Hourglass(nn.Module):
    """SARGAN's SEDN: a recursive hourglass of `depth` levels giving a sigmoid map (N,1,h,w).

    Level l adds `skip<l>(x)` to `up<l>(inner(down<l>(x)))`, where `inner` is level l - 1 or, at
    level 1, `bottom`; `head` (conv3x3 with bias, no norm) and a sigmoid make the map.
    """

    def __init__(self, in_channels: int, mid_channels: int = 64, depth: int = 2):
        super().__init__()
        if depth < 1 or mid_channels < 1:
            raise ValueError(f"need depth >= 1 and mid_channels >= 1, got {depth}, {mid_channels}")
        self.depth = depth
        for level in range(depth, 0, -1):
            c = in_channels if level == depth else mid_channels
            self.add_module(f"skip{level}", ReflectConv(c, mid_channels))
            self.add_module(f"down{level}", ReflectConv(c, mid_channels, stride=2))
            self.add_module(f"up{level}", ReflectConv(mid_channels, mid_channels, upsample=True))
        self.bottom = ReflectConv(mid_channels, mid_channels)
        self.head = ReflectConv(mid_channels, 1, norm=False, relu=False)

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        skip = self._modules[f"skip{level}"](x)
        low = self._modules[f"down{level}"](x)
        low = self._level(level - 1, low) if level > 1 else self.bottom(low)
        up = self._modules[f"up{level}"](low)
        if up.shape[-2:] != skip.shape[-2:]:  # odd sizes: the down-sampling rounded up
            up = F.interpolate(up, size=skip.shape[-2:], mode="nearest")
        return skip + up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self._level(self.depth, x)))


class SARB(nn.Module):
    """Spatial-attention residual block: `x + F(x) * A(F(x))`, F = conv-IN-ReLU-conv-IN."""

    def __init__(self, channels: int, attention_dim: int = 64, attention_depth: int = 2):
        super().__init__()
        self.conv1 = ReflectConv(channels, channels)
        self.conv2 = ReflectConv(channels, channels, relu=False)
        self.attention = Hourglass(channels, attention_dim, attention_depth)

    def explain(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The block's output and its attention map (N, 1, h, w)."""
        features = self.conv2(self.conv1(x))
        attention = self.attention(features)
        return x + features * attention, attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.explain(x)[0]


class SARGAN(Editor):
    """SARGAN's generator: StarGAN encoder, one SARB, StarGAN decoder, plus the input image.

    `conv_dim` is the first layer's width (64; the SARB works at 4 * conv_dim channels),
    `attention_dim` and `attention_depth` the hourglass's width (64) and depth (2), `labels` the
    condition names in the order of the one-hot condition, `image_size` the training resolution
    (the network is fully convolutional; it takes sizes divisible by 4 whose quarter exceeds
    2**attention_depth). `forward` returns `clamp(x + decoder, -1, 1)`; `explain` adds the
    unclamped sum (`extras["unclamped"]`), the decoder output (`extras["residual"]`) and the
    SARB's feature-level attention map up-sampled to the image size (`attention`, NOT a
    keep-mask).
    """

    architecture = "sargan"
    paper = (
        "Akram and Khan, SARGAN: Spatial Attention-based Residuals for Facial Expression "
        "Manipulation, IEEE TCSVT 2023"
    )
    condition_kind = "label"

    def __init__(
        self,
        conv_dim: int = 64,
        labels: Sequence[str] = EXPRESSIONS,
        image_size: int = 128,
        attention_dim: int = 64,
        attention_depth: int = 2,
    ):
        super().__init__()
        if conv_dim <= 0:
            raise ValueError(f"need conv_dim > 0, got {conv_dim}")
        self.labels = check_labels(labels)
        self.image_size = check_size(image_size)
        self.conv_dim = conv_dim
        self.attention_dim, self.attention_depth = attention_dim, attention_depth
        width = 4 * conv_dim
        self.main = nn.Sequential(
            *encoder_layers(3 + len(self.labels), conv_dim),
            SARB(width, attention_dim, attention_depth),
            *decoder_layers(width),
            nn.Conv2d(conv_dim, 3, 7, 1, 3, bias=False),
            nn.Tanh(),
        )
        self._check_size(image_size, image_size)

    def _check_size(self, height: int, width: int) -> None:
        """The hourglass needs at least 2 pixels at its deepest level (reflection padding)."""
        least = 2**self.attention_depth
        if height // 4 <= least or width // 4 <= least:
            raise ValueError(
                f"SARGAN with attention_depth {self.attention_depth} needs images larger than "
                f"{4 * least}x{4 * least} pixels, got {height}x{width}"
            )

    def explain(self, x: torch.Tensor, condition: torch.Tensor) -> EditOutput:
        """The clamped edit, its unclamped sum and residual, and the SARB attention map."""
        c = check_edit_inputs(x, condition, len(self.labels))
        self._check_size(x.shape[-2], x.shape[-1])
        h = torch.cat([x, tile(c, x.shape[-2:])], dim=1)
        for layer in self.main[:SARB_INDEX]:
            h = layer(h)
        h, attention = self.main[SARB_INDEX].explain(h)
        for layer in self.main[SARB_INDEX + 1 :]:
            h = layer(h)
        unclamped = x + h
        attention = F.interpolate(
            attention, size=x.shape[-2:], mode="bilinear", align_corners=False
        )
        return EditOutput(
            image=unclamped.clamp(-1.0, 1.0),
            attention=attention,
            extras={"unclamped": unclamped, "residual": h},
        )


# --- Conversion of arbishakram/SARGAN `sargan_G.ckpt`. ---------------------------------------
_HOURGLASS_RENAMES = (
    (re.compile(r"b1_(\d+)\."), r"skip\1."),
    (re.compile(r"b2_plus_1\."), "bottom."),
    (re.compile(r"b2_(\d+)\."), r"down\1."),
    (re.compile(r"b3_(\d+)\."), r"up\1."),
    (re.compile(r"out_block\.0\."), "head."),
)
_SARB_PREFIX = f"main.{SARB_INDEX}."


def sargan_key(key: str) -> str:
    """segan's name for a key of the original SARGAN generator (see the module docstring)."""
    if not key.startswith(_SARB_PREFIX):
        return key
    rest = key[len(_SARB_PREFIX) :]
    if rest.startswith("att_func."):
        rest = rest[len("att_func.") :]
        for pattern, replacement in _HOURGLASS_RENAMES:
            if pattern.match(rest):
                rest = pattern.sub(replacement, rest, count=1)
                break
        rest = "attention." + rest
    rest = rest.replace(".conv2d.", ".conv.").replace(".norm.norm.", ".norm.")
    return _SARB_PREFIX + rest


_ORIGINAL_HOURGLASS = (
    (re.compile(r"skip(\d+)\."), r"b1_\1."),
    (re.compile(r"bottom\."), "b2_plus_1."),
    (re.compile(r"down(\d+)\."), r"b2_\1."),
    (re.compile(r"up(\d+)\."), r"b3_\1."),
    (re.compile(r"head\."), "out_block.0."),
)


def original_sargan_key(key: str) -> str:
    """The original SARGAN generator's name for a key of segan's (the inverse of sargan_key)."""
    if not key.startswith(_SARB_PREFIX):
        return key
    rest = key[len(_SARB_PREFIX) :]
    if rest.startswith("attention."):
        rest = rest[len("attention.") :]
        for pattern, replacement in _ORIGINAL_HOURGLASS:
            if pattern.match(rest):
                rest = pattern.sub(replacement, rest, count=1)
                break
        rest = "att_func." + rest
    rest = rest.replace(".conv.", ".conv2d.").replace(".norm.", ".norm.norm.")
    return _SARB_PREFIX + rest


@register_converter("sargan")
def convert_sargan(state: dict[str, torch.Tensor], options: ConvertOptions) -> SARGAN:
    """arbishakram/SARGAN `sargan_G.ckpt` -> SARGAN.

    Widths, label count and hourglass depth come from the shapes. The unused top-level
    `att_func.*` keys are accepted and dropped, as are the InstanceNorm running buffers. Labels:
    options.labels, else for 7 classes the KDEF folder order AFS, ANS, DIS, HAS, NES, SAS, SUS
    in segan's names.
    """
    source = "sargan checkpoint"
    state = {k: v for k, v in state.items() if not k.startswith("att_func.")}
    conv_dim, num = input_conv(state, source)
    labels = resolve_labels(options, num, {7: KDEF_LABELS}, source)
    head = require(state, f"{_SARB_PREFIX}att_func.out_block.0.conv2d.weight", ndim=4)
    levels = {
        int(m.group(1))
        for k in state
        if (m := re.match(rf"{re.escape(_SARB_PREFIX)}att_func\.b1_(\d+)\.", k))
    }
    depth = max(levels, default=0)
    if depth < 1:
        raise ValueError(f"checkpoint has no key '{_SARB_PREFIX}att_func.b1_1.conv2d.weight'")
    model = SARGAN(conv_dim, labels, resolution(options), int(head.shape[1]), depth)
    load_renamed(model, state, source, sargan_key, original_sargan_key)
    return model
