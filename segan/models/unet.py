"""CelebAMask-HQ UNet face parser and its checkpoint converter.

The network of switchablenorms/CelebAMask-HQ `face_parsing/unet.py` (`model.pth`) with its
published options (is_deconv=True, is_batchnorm=True): four encoder stages of two
3x3 conv-BN-ReLU followed by 2x2 max pooling, a centre stage, four decoder stages that upsample
with a 2x2 transposed convolution, concatenate the encoder skip first and apply two
conv-BN-ReLU, then a 1x1 conv to the classes. Widths are `base_width * (1, 2, 4, 8, 16)`;
`base_width=16` is the original's `feature_scale=4`. The bilinear-upsampling and
no-batch-norm options of the original are not offered (no published weights use them).

Input is segan's [-1, 1], which is what the public weights expect, so no rescaling is done.
H and W must be divisible by 16 (the original then crops its skips out of line or fails; here
it is a clear error).
The public checkpoint orders its classes as CELEBAMASK_UNET_PARTS; the converter permutes the
final layer's output channels so that a converted model emits logits in segan's FACE_PARTS
order. The module names equal the public checkpoint's keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segan.labels import CELEBAMASK_UNET_PARTS, FACE_PARTS
from segan.models.base import Parser, check_image
from segan.models.convert import ConvertOptions, load_strict, register_converter, require

DOWNSAMPLING = 16  # four 2x2 max poolings


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv (with bias, as in the original) -> BatchNorm -> ReLU, keys `0.*`, `1.*`."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, 1, 1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class DoubleConv(nn.Module):
    """Two conv-BN-ReLU layers (`conv1`, `conv2`): one UNet stage."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels, out_channels)
        self.conv2 = conv_bn_relu(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class UpStage(nn.Module):
    """Transposed-conv x2 upsampling (`up`), concat [skip, upsampled], a DoubleConv (`conv`)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = DoubleConv(in_channels, out_channels)
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)

    def forward(self, skip: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(deep)], dim=1))


class UNet(Parser):
    """CelebAMask-HQ UNet face parser: images in [-1, 1] -> (N, num_classes, H, W) logits.

    `forward(x)` returns the logits; the UNet has no auxiliary heads, so `forward(x, aux=True)`
    returns the 1-tuple `(main,)` (callers summing losses over heads work unchanged).
    `labels` names the output channels in order (segan's FACE_PARTS after conversion).
    `resolution` records the image size the weights were trained at (512 for the public ones);
    `input_scale` parses the input resized by that factor (2: a 64 px face at the 128 px the
    real-face weights learnt from), the logits coming back at the input size.
    """

    architecture = "unet"
    paper = (
        "Ronneberger et al., U-Net, MICCAI 2015; face-parsing weights: Lee et al., MaskGAN "
        "(CelebAMask-HQ), CVPR 2020, switchablenorms/CelebAMask-HQ"
    )

    def __init__(
        self,
        num_classes: int = 19,
        labels: Sequence[str] = FACE_PARTS,
        base_width: int = 16,
        resolution: int = 512,
        input_scale: float = 1.0,
    ):
        super().__init__()
        self._set_parts(num_classes, labels, base_width, resolution, input_scale)
        w = [base_width * 2**i for i in range(5)]
        self.conv1 = DoubleConv(3, w[0])
        self.conv2 = DoubleConv(w[0], w[1])
        self.conv3 = DoubleConv(w[1], w[2])
        self.conv4 = DoubleConv(w[2], w[3])
        self.center = DoubleConv(w[3], w[4])
        self.up_concat4 = UpStage(w[4], w[3])
        self.up_concat3 = UpStage(w[3], w[2])
        self.up_concat2 = UpStage(w[2], w[1])
        self.up_concat1 = UpStage(w[1], w[0])
        self.final = nn.Conv2d(w[0], num_classes, 1)

    def forward(self, x: torch.Tensor, aux: bool = False) -> torch.Tensor | tuple[torch.Tensor]:
        """Logits (N, C, H, W) for x in [-1, 1], H and W divisible by 16; `aux` gives (main,)."""
        check_image(x)
        size = x.shape[2:]
        x = self._scaled_input(x)
        height, width = x.shape[2:]
        if height % DOWNSAMPLING or width % DOWNSAMPLING:
            raise ValueError(
                f"UNet needs H and W divisible by {DOWNSAMPLING} (after input_scale "
                f"{self.input_scale:g}), got {height}x{width}; resize or pad the image first"
            )
        skip1 = self.conv1(x)
        skip2 = self.conv2(F.max_pool2d(skip1, 2))
        skip3 = self.conv3(F.max_pool2d(skip2, 2))
        skip4 = self.conv4(F.max_pool2d(skip3, 2))
        deep = self.center(F.max_pool2d(skip4, 2))
        deep = self.up_concat4(skip4, deep)
        deep = self.up_concat3(skip3, deep)
        deep = self.up_concat2(skip2, deep)
        main = self.final(self.up_concat1(skip1, deep))
        if main.shape[2:] != size:
            main = F.interpolate(main, size=size, mode="bilinear", align_corners=False)
        return (main,) if aux else main


@register_converter("celebamask-unet")
def convert_celebamask_unet(state: dict[str, torch.Tensor], options: ConvertOptions) -> UNet:
    """switchablenorms/CelebAMask-HQ `model.pth` -> UNet emitting segan-ordered logits.

    The checkpoint's classes are CELEBAMASK_UNET_PARTS (or `options.labels`, in the
    checkpoint's order). When they are a permutation of FACE_PARTS, the final conv's weight and
    bias rows are reordered to FACE_PARTS (row UNET_TO_SEGAN[k] of the result is the
    checkpoint's row k); other label sets are kept in the checkpoint's order.
    """
    width = require(state, "conv1.conv1.0.weight", ndim=4).shape[0]
    final_weight = require(state, "final.weight", ndim=4)
    final_bias = require(state, "final.bias", ndim=1)
    num_classes = final_weight.shape[0]
    source = tuple(options.labels) if options.labels else CELEBAMASK_UNET_PARTS
    if len(source) != num_classes:
        raise ValueError(
            f"checkpoint key 'final.weight' has {num_classes} classes, but {len(source)} "
            "labels name them; pass ConvertOptions(labels=...) in the checkpoint's class order"
        )
    if final_bias.shape[0] != num_classes:
        raise ValueError(
            f"checkpoint key 'final.bias' has shape {tuple(final_bias.shape)}, expected "
            f"({num_classes},)"
        )
    labels = source
    if sorted(source) == sorted(FACE_PARTS):
        order = [source.index(name) for name in FACE_PARTS]  # == SEGAN_TO_UNET by default
        state = {**state, "final.weight": final_weight[order], "final.bias": final_bias[order]}
        labels = FACE_PARTS
    model = UNet(
        num_classes=num_classes,
        labels=list(labels),
        base_width=width,
        resolution=options.resolution or 512,
    )
    load_strict(model, state, "celebamask-unet checkpoint")
    return model
