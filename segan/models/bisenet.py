"""BiSeNet face parser (face-parsing.PyTorch layout) and its checkpoint converter.

The network is the variant trained by zllrunning/face-parsing.PyTorch (`79999_iter.pth`): a
ResNet-18 context path whose 1/16 and 1/32 features pass through attention refinement modules
and are summed top-down with a global-average context; the spatial path of the BiSeNet paper is
replaced by the ResNet's own 1/8 feature; a feature fusion module joins the two; a main head and
two auxiliary heads (on the 1/8 and 1/16 context features) are upsampled bilinearly
(align_corners=True) to the input size.

segan's images are in [-1, 1]; the public weights expect ImageNet-normalised [0, 1] input, so the
model converts inside `forward` (mean/std are non-persistent buffers, not weights). The module
names equal the public checkpoint's keys, so conversion is a key-for-key load. `base_width`
scales every width (64 is the published network) so that tests can use a tiny one.

Choices: the auxiliary heads run only when `forward(..., aux=True)`; a caller training under
DistributedDataParallel without them must set `find_unused_parameters=True` or freeze them.
The pooled attention branches use BatchNorm on (N, C, 1, 1) tensors, so training mode needs a
batch of at least 2 (as in the original).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segan.labels import FACE_PARTS
from segan.models.base import Parser, check_image
from segan.models.convert import ConvertOptions, load_strict, register_converter, require

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConvBNReLU(nn.Module):
    """Bias-free conv (same padding) -> BatchNorm -> ReLU; parameters `conv`, `bn`."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN with a (projected when needed) identity skip."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip)


class ResNet18Features(nn.Module):
    """ResNet-18 trunk without pooling/classifier: returns the 1/8, 1/16 and 1/32 features."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        widths = (width, width, 2 * width, 4 * width, 8 * width)
        for i in range(1, 5):
            stride = 1 if i == 1 else 2
            blocks = [
                BasicBlock(widths[i - 1], widths[i], stride),
                BasicBlock(widths[i], widths[i]),
            ]
            self.add_module(f"layer{i}", nn.Sequential(*blocks))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        feat8 = self.layer2(self.layer1(x))
        feat16 = self.layer3(feat8)
        return feat8, feat16, self.layer4(feat16)


class AttentionRefinement(nn.Module):
    """3x3 ConvBNReLU whose output is reweighted per channel by a pooled sigmoid gate."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = ConvBNReLU(in_channels, out_channels, 3)
        self.conv_atten = nn.Conv2d(out_channels, out_channels, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        gate = torch.sigmoid(self.bn_atten(self.conv_atten(F.adaptive_avg_pool2d(feat, 1))))
        return feat * gate


class ContextPath(nn.Module):
    """ResNet-18 + attention refinement + global context, merged top-down to 1/8 and 1/16."""

    def __init__(self, width: int = 64):
        super().__init__()
        mid = 2 * width
        self.resnet = ResNet18Features(width)
        self.arm16 = AttentionRefinement(4 * width, mid)
        self.arm32 = AttentionRefinement(8 * width, mid)
        self.conv_head32 = ConvBNReLU(mid, mid, 3)
        self.conv_head16 = ConvBNReLU(mid, mid, 3)
        self.conv_avg = ConvBNReLU(8 * width, mid, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ResNet 1/8 feature, context at 1/8, context at 1/16)."""
        feat8, feat16, feat32 = self.resnet(x)
        context = self.conv_avg(F.adaptive_avg_pool2d(feat32, 1))  # broadcast over 1/32
        up32 = F.interpolate(self.arm32(feat32) + context, size=feat16.shape[2:], mode="nearest")
        up32 = self.conv_head32(up32)
        up16 = F.interpolate(self.arm16(feat16) + up32, size=feat8.shape[2:], mode="nearest")
        return feat8, self.conv_head16(up16), up32


class FeatureFusion(nn.Module):
    """Concatenate, 1x1 ConvBNReLU, then add a squeeze-excitation reweighted copy."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.convblk = ConvBNReLU(in_channels, out_channels, 1)
        self.conv1 = nn.Conv2d(out_channels, out_channels // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels // 4, out_channels, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([spatial, context], dim=1))
        gate = F.adaptive_avg_pool2d(feat, 1)
        gate = torch.sigmoid(self.conv2(F.relu(self.conv1(gate))))
        return feat * gate + feat


class SegmentationHead(nn.Module):
    """3x3 ConvBNReLU then a bias-free 1x1 conv to class logits."""

    def __init__(self, in_channels: int, mid_channels: int, num_classes: int):
        super().__init__()
        self.conv = ConvBNReLU(in_channels, mid_channels, 3)
        self.conv_out = nn.Conv2d(mid_channels, num_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(Parser):
    """BiSeNet face parser: images in [-1, 1] -> (N, num_classes, H, W) part logits.

    `forward(x)` returns the main logits; `forward(x, aux=True)` returns
    `(main, aux16, aux32)`, the auxiliary heads on the context features at 1/8 and 1/16 (the
    original's `out16`, `out32`), all at the input size. `resolution` records the image size
    the weights were trained at (512 for the public weights); any size works.

    BiSeNet predicts at 1/8 of its input (64x64 logits at its native 512 px), so on a small
    face the parts shrink below one logit (8x8 at 64 px). `input_scale` resizes the input by
    that factor before parsing, as the reference suggests for GAN-sized faces ("run S on the
    upsampled input"); the logits still come back at the input size.
    """

    architecture = "bisenet"
    objective = "ohem"
    paper = (
        "Yu et al., BiSeNet: Bilateral Segmentation Network for Real-time Semantic "
        "Segmentation, ECCV 2018; face-parsing variant and weights: zllrunning/face-parsing.PyTorch"
    )

    def __init__(
        self,
        num_classes: int = 19,
        labels: Sequence[str] = FACE_PARTS,
        base_width: int = 64,
        resolution: int = 512,
        input_scale: float = 1.0,
    ):
        super().__init__()
        self._set_parts(num_classes, labels, base_width, resolution, input_scale)
        w = base_width
        self.cp = ContextPath(w)
        self.ffm = FeatureFusion(4 * w, 4 * w)
        self.conv_out = SegmentationHead(4 * w, 4 * w, num_classes)
        self.conv_out16 = SegmentationHead(2 * w, w, num_classes)
        self.conv_out32 = SegmentationHead(2 * w, w, num_classes)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_std", std, persistent=False)

    def forward(
        self, x: torch.Tensor, aux: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Main logits (N, C, H, W) for x in [-1, 1]; with `aux`, (main, aux16, aux32)."""
        check_image(x)
        size = x.shape[2:]
        x = self._scaled_input(x)
        x = ((x + 1) * 0.5 - self.pixel_mean) / self.pixel_std  # [-1, 1] -> ImageNet stats
        feat8, context8, context16 = self.cp(x)
        main = _upsample(self.conv_out(self.ffm(feat8, context8)), size)
        if not aux:
            return main
        aux16 = _upsample(self.conv_out16(context8), size)
        aux32 = _upsample(self.conv_out32(context16), size)
        return main, aux16, aux32


def _upsample(logits: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=True)


@register_converter("face-parsing-bisenet")
def convert_face_parsing_bisenet(
    state: dict[str, torch.Tensor], options: ConvertOptions
) -> BiSeNet:
    """zllrunning/face-parsing.PyTorch `79999_iter.pth` -> BiSeNet (keys load one-to-one).

    Its classes are already in segan's FACE_PARTS order; `options.labels` may name the classes
    of a checkpoint trained on another label set.
    """
    width = require(state, "cp.resnet.conv1.weight", ndim=4).shape[0]
    num_classes = require(state, "conv_out.conv_out.weight", ndim=4).shape[0]
    labels = tuple(options.labels) if options.labels else FACE_PARTS
    if len(labels) != num_classes:
        raise ValueError(
            f"checkpoint key 'conv_out.conv_out.weight' has {num_classes} classes, but "
            f"{len(labels)} labels are given; pass ConvertOptions(labels=...) naming them"
        )
    model = BiSeNet(
        num_classes=num_classes,
        labels=list(labels),
        base_width=width,
        resolution=options.resolution or 512,
    )
    load_strict(model, state, "face-parsing-bisenet checkpoint")
    return model
