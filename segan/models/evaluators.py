"""The evaluators behind segan's metrics: an expression classifier and an AU regressor.

Both are torchvision ResNet-18s built with random weights (`weights=None`: a constructor never
downloads anything), trained by segan and published like any other model. They take segan
images, (N, 3, H, W) in [-1, 1] with H, W >= 32, and map them to ImageNet statistics
internally, so pretrained ImageNet weights could be converted in later without changing the
callers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.models import resnet18

from segan.labels import AU_IDS, AU_MAX_INTENSITY, EXPRESSIONS, au_index
from segan.models.base import SeganModel, check_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_SIZE = 32  # ResNet-18 downsamples by 32


class ResNet18Evaluator(SeganModel):
    """A randomly initialised ResNet-18 with `num_outputs` linear outputs on segan images."""

    def __init__(self, num_outputs: int):
        super().__init__()
        self.backbone = resnet18(weights=None, num_classes=num_outputs)
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

    def __init__(self, labels: Sequence[str] = EXPRESSIONS, image_size: int = 128):
        labels = [str(name) for name in labels]
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be at least two distinct names, got {labels}")
        super().__init__(len(labels))
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

    def __init__(self, aus: Sequence[int] = AU_IDS, image_size: int = 128):
        aus = [int(a) for a in aus]
        for a in aus:
            au_index(a)  # raises for an AU segan does not know
        if not aus or len(set(aus)) != len(aus):
            raise ValueError(f"aus must be a non-empty list of distinct AU ids, got {aus}")
        super().__init__(len(aus))
        self.aus = tuple(aus)
        self.image_size = image_size  # the size it is trained at (any size >= 32 runs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return AU_MAX_INTENSITY * torch.sigmoid(self.raw_outputs(x))
