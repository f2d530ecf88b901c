"""GANimation (Pumarola et al., ECCV 2018): absolute AU conditioning, attention and colour maps.

The trunk is StarGAN's (conv7x7, two down-samplings, `repeat_num` residual blocks, two
up-samplings; `main.0` ... `main.{9 + repeat_num + 5}` as in the original). Two 7x7 heads read
its features: `color_head` (3 channels, tanh) gives the colour map C and `attention_head`
(1 channel, sigmoid) the attention map A. The edit is `A * x + (1 - A) * C`: A = 1 keeps the
input pixel (the released code's form; the first arXiv version of the paper had A and 1 - A
swapped). The condition is the target's absolute AU intensities divided by 5, one entry per AU
of `aus` (segan's 17 OpenFace AUs by default).

Head names: the original's `img_reg.0` and `attetion_reg.0` [sic] are renamed `color_head` and
`attention_head` (plain convolutions; the activations are applied in `explain`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from segan.labels import AU_IDS
from segan.models.base import Editor, EditOutput, tile
from segan.models.blocks import ResidualBlock, check_upsampling
from segan.models.convert import ConvertOptions, register_converter, require
from segan.models.stargan import (
    check_edit_inputs,
    check_size,
    count_blocks,
    decoder_layers,
    encoder_layers,
    input_conv,
    load_renamed,
    resolution,
)

# Original head keys -> segan's.
HEAD_RENAMES: dict[str, str] = {
    "img_reg.0.weight": "color_head.weight",
    "attetion_reg.0.weight": "attention_head.weight",
}


def check_aus(aus: Sequence[int]) -> list[int]:
    """The AU list as a list of ints, or a ValueError if it is empty, repeats or is not AUs
    segan can measure (its 17 OpenFace intensity AUs)."""
    if isinstance(aus, str | bytes) or not all(isinstance(a, int) for a in aus):
        raise ValueError(f"aus must be a list of FACS AU numbers such as 12, got {aus!r}")
    out = list(aus)
    if not out or len(set(out)) != len(out):
        raise ValueError(f"aus must be non-empty and without repeats, got {out}")
    unknown = [a for a in out if a not in AU_IDS]
    if unknown:
        raise ValueError(f"aus {unknown} are not among segan's 17 intensity AUs {AU_IDS}")
    return out


class GANimation(Editor):
    """GANimation's generator: StarGAN trunk on image + tiled AUs, colour and attention heads.

    `conv_dim` is the first layer's width (64), `repeat_num` the number of residual blocks (6),
    `aus` the FACS numbers of the condition's entries in order, `image_size` the training
    resolution (the network is fully convolutional and edits any size divisible by 4),
    `upsample` the decoder's upsampling (the paper's "transposed", or "resize").
    `explain` fills `attention` (A, 1 keeps the input pixel) and `color` (C).
    """

    architecture = "ganimation"
    paper = (
        "Pumarola et al., GANimation: Anatomically-aware Facial Animation from a Single Image, "
        "ECCV 2018"
    )
    condition_kind = "aus"

    def __init__(
        self,
        conv_dim: int = 64,
        repeat_num: int = 6,
        aus: Sequence[int] = AU_IDS,
        image_size: int = 128,
        upsample: str = "transposed",
    ):
        super().__init__()
        if conv_dim <= 0 or repeat_num < 0:
            raise ValueError(f"need conv_dim > 0 and repeat_num >= 0, got {conv_dim}, {repeat_num}")
        self.aus = check_aus(aus)
        self.image_size = check_size(image_size)
        self.conv_dim, self.repeat_num = conv_dim, repeat_num
        self.upsample = check_upsampling(upsample)
        width = 4 * conv_dim
        self.main = nn.Sequential(
            *encoder_layers(3 + len(self.aus), conv_dim),
            *(ResidualBlock(width) for _ in range(repeat_num)),
            *decoder_layers(width, self.upsample),
        )
        self.color_head = nn.Conv2d(conv_dim, 3, 7, 1, 3, bias=False)
        self.attention_head = nn.Conv2d(conv_dim, 1, 7, 1, 3, bias=False)

    def explain(self, x: torch.Tensor, condition: torch.Tensor) -> EditOutput:
        """The composite `A * x + (1 - A) * C` with its attention A and colour map C."""
        c = check_edit_inputs(x, condition, len(self.aus))
        features = self.main(torch.cat([x, tile(c, x.shape[-2:])], dim=1))
        color = torch.tanh(self.color_head(features))
        attention = torch.sigmoid(self.attention_head(features))
        image = attention * x + (1 - attention) * color
        return EditOutput(image=image, attention=attention, color=color)


def parse_aus(labels: Sequence[str]) -> list[int]:
    """AU numbers from names such as "AU12", "AU06_r" or "12"."""
    aus = []
    for name in labels:
        m = re.fullmatch(r"(?:AU)?0*(\d+)(?:_[rc])?", str(name).strip(), flags=re.IGNORECASE)
        if not m:
            raise ValueError(f"cannot read an AU number from label {name!r} (use e.g. 'AU12')")
        aus.append(int(m.group(1)))
    return aus


@register_converter("ganimation")
def convert_ganimation(state: dict[str, torch.Tensor], options: ConvertOptions) -> GANimation:
    """albertpumarola/GANimation `net_epoch_*_id_G.pth` -> GANimation.

    Widths, AU count and depth come from the shapes; the AUs are options.labels (e.g. "AU12")
    or, for 17 channels, segan's 17 OpenFace AUs (GANimation's own order). Running buffers
    (saved by PyTorch 0.3.1, which the original README asks for) are dropped.
    """
    source = "ganimation checkpoint"
    conv_dim, num = input_conv(state, source)
    if options.labels is not None:
        aus = parse_aus(options.labels)
        if len(aus) != num:
            raise ValueError(
                f"{source} has {num} condition channels but options.labels names {len(aus)} AUs"
            )
    elif num == len(AU_IDS):
        aus = list(AU_IDS)
    else:
        raise ValueError(
            f"{source} has {num} condition channels, not GANimation's {len(AU_IDS)} AUs; give "
            "the AUs in the checkpoint's order (options.labels / --labels, e.g. AU1,AU2,...)"
        )
    for key in HEAD_RENAMES:
        require(state, key, ndim=4)
    model = GANimation(conv_dim, count_blocks(state), aus, resolution(options))
    original = {v: k for k, v in HEAD_RENAMES.items()}
    load_renamed(
        model, state, source, lambda k: HEAD_RENAMES.get(k, k), lambda k: original.get(k, k)
    )
    return model
