"""The evaluators behind segan's metrics: an expression classifier and an AU regressor.

Both are ResNet-18s (He et al. 2016) built with random weights (a constructor never downloads
anything), trained by segan and published like any other model. `width` scales the four stages
(width, 2x, 4x, 8x channels); at 64, the paper's width, the layout and parameter names are
torchvision's `resnet18`, so its checkpoints load unchanged. They take segan
images, (N, 3, H, W) in [-1, 1] with H, W >= 32, and map them to ImageNet statistics
internally, so pretrained ImageNet weights could be converted in later without changing the
callers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segan.labels import AU_IDS, AU_MAX_INTENSITY, EXPRESSIONS, au_index
from segan.models.base import SeganModel, check_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_SIZE = 32  # ResNet-18 downsamples by 32


class _BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 strided conv-BN) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + shortcut)


class ResNet18(nn.Module):
    """ResNet-18 with stage widths (w, 2w, 4w, 8w); torchvision's names and init at w = 64.

    `maxpool=False` drops the stem's max-pool (the first stage runs at 1/2 scale, not 1/4) and
    `stem_stride=1` the stem's stride too (the first stage at full scale): the usual changes for
    small inputs, where a 64 px face's brows move by a pixel or two between expressions."""

    def __init__(
        self, num_outputs: int, width: int = 64, maxpool: bool = True, stem_stride: int = 2
    ):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
        self.conv1 = nn.Conv2d(3, width, 7, stem_stride, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if maxpool else nn.Identity()
        c = width
        for i in range(4):
            c_out = width * 2**i
            stride = 1 if i == 0 else 2
            stage = nn.Sequential(_BasicBlock(c, c_out, stride), _BasicBlock(c_out, c_out, 1))
            setattr(self, f"layer{i + 1}", stage)
            c = c_out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_outputs)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ResNet18Evaluator(SeganModel):
    """A randomly initialised ResNet-18 with `num_outputs` linear outputs on segan images."""

    def __init__(
        self, num_outputs: int, width: int = 64, maxpool: bool = True, stem_stride: int = 2
    ):
        super().__init__()
        self.backbone = ResNet18(num_outputs, width, maxpool, stem_stride)
        # Non-persistent: derived constants, not weights (absent from model.safetensors).
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def raw_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Raw outputs (N, num_outputs) for images in [-1, 1]."""
        check_image(x)
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(
                f"{type(self).__name__} needs images of at least {MIN_SIZE}x{MIN_SIZE} px, "
                f"got x of shape {tuple(x.shape)}"
            )
        return self.backbone(((x + 1) / 2 - self.mean) / self.std)


class ExpressionClassifier(ResNet18Evaluator):
    """Expression logits (N, len(labels)) for the expression-accuracy metrics."""

    architecture = "expression-classifier"
    role = "evaluator"
    paper = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (ResNet-18)"

    def __init__(
        self,
        labels: Sequence[str] = EXPRESSIONS,
        image_size: int = 128,
        width: int = 64,
        maxpool: bool = True,
        stem_stride: int = 2,
    ):
        labels = [str(name) for name in labels]
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be at least two distinct names, got {labels}")
        super().__init__(len(labels), width, maxpool, stem_stride)
        self.labels = tuple(labels)
        self.image_size = image_size  # the size it is trained at (any size >= 32 runs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.raw_outputs(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted class index (N,) into `labels`."""
        return self(x).argmax(1)


class AURegressor(ResNet18Evaluator):
    """AU intensities (N, len(aus)) on OpenFace's 0..5 scale, for the AU-error metrics.

    The output is bounded: 5 * sigmoid(linear output), so it can never leave [0, 5]; train it
    against the raw intensities (or compare `output / 5` with segan's model inputs).
    """

    architecture = "au-regressor"
    role = "evaluator"
    paper = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (ResNet-18)"

    def __init__(
        self,
        aus: Sequence[int] = AU_IDS,
        image_size: int = 128,
        width: int = 64,
        maxpool: bool = True,
        stem_stride: int = 2,
    ):
        aus = [int(a) for a in aus]
        for a in aus:
            au_index(a)  # raises for an AU segan does not know
        if not aus or len(set(aus)) != len(aus):
            raise ValueError(f"aus must be a non-empty list of distinct AU ids, got {aus}")
        super().__init__(len(aus), width, maxpool, stem_stride)
        self.aus = tuple(aus)
        self.image_size = image_size  # the size it is trained at (any size >= 32 runs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return AU_MAX_INTENSITY * torch.sigmoid(self.raw_outputs(x))
