"""RetinaFace with a MobileNet-0.25 body: face boxes and five landmarks in real photographs.

The network is Deng et al.'s RetinaFace (CVPR 2020) in the small configuration published by
biubug6/Pytorch_Retinaface (MIT), whose weights `mobilenet0.25_Final.pth` (1.8 MB, trained on
WIDER FACE) it loads unchanged:

- body: MobileNetV1 at width 0.25 in three stages, whose outputs (64, 128 and 256 channels at
  strides 8, 16 and 32) feed
- a feature pyramid with 64 channels per level (1x1 lateral convolutions, nearest upsampling
  from the coarser level, a 3x3 merge), then
- one SSH context module per level (3x3, 5x5 and 7x7 receptive fields as stacked 3x3
  convolutions, concatenated to 32 + 16 + 16 channels), then
- per level, 1x1 heads for 2 anchors each: face/background logits (2 x 2), box offsets (2 x 4)
  and five landmark offsets (2 x 10).

Anchors are squares centred on each cell, of sides 16 and 32 px at stride 8, 64 and 128 at
stride 16, 256 and 512 at stride 32; offsets are decoded SSD-style with variances 0.1 (centres
and landmarks, in anchor sides) and 0.2 (log sizes). The network takes BGR pixels minus the mean
(104, 117, 123), unscaled, at any height and width.

Module and parameter names follow the checkpoint's keys, so that it loads without a key table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import nms

from segan.assets import locate

__all__ = [
    "MEAN_BGR",
    "MIN_SIZES",
    "NMS_IOU",
    "STEPS",
    "VARIANCES",
    "WORKING_SIDE",
    "Detection",
    "RetinaFaceDetector",
    "RetinaFaceNet",
    "decode",
    "load_checkpoint",
    "prior_boxes",
    "prior_count",
]

MEAN_BGR = (104.0, 117.0, 123.0)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))  # anchor sides in input pixels, per level
STEPS = (8, 16, 32)  # the levels' strides
VARIANCES = (0.1, 0.2)  # centre/landmark offsets in anchor sides x 0.1; log sizes x 0.2
ANCHORS_PER_CELL = 2
LEAKY_SLOPE = 0.1  # every leaky activation of the 0.25 body, its pyramid and context modules

# The longer side photos are shrunk to before detection: a call costs about 65 ms of one CPU
# core (some 40 ms on two idle cores), and faces down to about 6% of the photo's longer side
# (30 px at this size) score above 0.8 (benchmarks/detector.py).
WORKING_SIDE = 512
NMS_IOU = 0.4  # overlap above which the lower-scoring of two face boxes is dropped


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, act: bool = True) -> nn.Module:
    """Convolution without bias, batch norm and (when `act`) a leaky ReLU: keys 0, 1 (2)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.LeakyReLU(LEAKY_SLOPE, inplace=True))
    return nn.Sequential(*layers)


def _separable(cin: int, cout: int, stride: int) -> nn.Module:
    """MobileNetV1's depthwise 3x3 then pointwise 1x1, each with batch norm and a leaky ReLU:
    keys 0, 1 (2) for the depthwise part, 3, 4 (5) for the pointwise part."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    )


class MobileNetBody(nn.Module):
    """MobileNetV1 x0.25 without its classifier; returns the three stages' outputs
    (64, 128, 256 channels at strides 8, 16, 32)."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            _conv_bn(3, 8, stride=2),
            _separable(8, 16, 1),
            _separable(16, 32, 2),
            _separable(32, 32, 1),
            _separable(32, 64, 2),
            _separable(64, 64, 1),
        )
        self.stage2 = nn.Sequential(
            _separable(64, 128, 2), *(_separable(128, 128, 1) for _ in range(5))
        )
        self.stage3 = nn.Sequential(_separable(128, 256, 2), _separable(256, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return [c1, c2, self.stage3(c2)]


class FeaturePyramid(nn.Module):
    """Top-down pyramid: 1x1 laterals to `width` channels; each finer level adds the coarser
    one upsampled (nearest) to its size and merges the sum with a 3x3 convolution."""

    def __init__(self, in_channels: tuple[int, int, int] = (64, 128, 256), width: int = 64):
        super().__init__()
        self.output1 = _conv_bn(in_channels[0], width, kernel=1)
        self.output2 = _conv_bn(in_channels[1], width, kernel=1)
        self.output3 = _conv_bn(in_channels[2], width, kernel=1)
        self.merge1 = _conv_bn(width, width)
        self.merge2 = _conv_bn(width, width)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        p3 = self.output3(features[2])
        p2 = self.output2(features[1])
        p2 = self.merge2(p2 + F.interpolate(p3, size=p2.shape[-2:], mode="nearest"))
        p1 = self.output1(features[0])
        p1 = self.merge1(p1 + F.interpolate(p2, size=p1.shape[-2:], mode="nearest"))
        return [p1, p2, p3]


class ContextModule(nn.Module):
    """SSH context module: half the output channels from one 3x3 convolution, a quarter each from
    two and three stacked 3x3 convolutions (5x5 and 7x7 receptive fields, sharing the first),
    concatenated and rectified. The last convolution of each branch has no activation."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        half, quarter = channels // 2, channels // 4
        self.conv3X3 = _conv_bn(channels, half, act=False)
        self.conv5X5_1 = _conv_bn(channels, quarter)
        self.conv5X5_2 = _conv_bn(quarter, quarter, act=False)
        self.conv7X7_2 = _conv_bn(quarter, quarter)
        self.conv7x7_3 = _conv_bn(quarter, quarter, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.conv5X5_1(x)
        branches = [
            self.conv3X3(x),
            self.conv5X5_2(shared),
            self.conv7x7_3(self.conv7X7_2(shared)),
        ]
        return F.relu(torch.cat(branches, dim=1))


class _Head(nn.Module):
    """A 1x1 convolution predicting `values` numbers per anchor, reshaped to
    (N, H * W * anchors, values) in row-major cell order, anchors fastest."""

    def __init__(self, channels: int, values: int, anchors: int = ANCHORS_PER_CELL) -> None:
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(channels, anchors * values, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.values)


class RetinaFaceNet(nn.Module):
    """The network: (N, 3, H, W) mean-subtracted BGR in, per anchor (see `prior_boxes`) the
    face/background logits (N, P, 2), box offsets (N, P, 4) and landmark offsets (N, P, 10)."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.body = MobileNetBody()
        self.fpn = FeaturePyramid((64, 128, 256), width)
        self.ssh1 = ContextModule(width)
        self.ssh2 = ContextModule(width)
        self.ssh3 = ContextModule(width)
        levels = len(STEPS)
        self.ClassHead = nn.ModuleList(_Head(width, 2) for _ in range(levels))
        self.BboxHead = nn.ModuleList(_Head(width, 4) for _ in range(levels))
        self.LandmarkHead = nn.ModuleList(_Head(width, 10) for _ in range(levels))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pyramid = self.fpn(self.body(x))
        features = [
            ssh(p) for ssh, p in zip((self.ssh1, self.ssh2, self.ssh3), pyramid, strict=True)
        ]

        def run(heads: nn.ModuleList) -> torch.Tensor:
            return torch.cat([head(f) for head, f in zip(heads, features, strict=True)], dim=1)

        return run(self.ClassHead), run(self.BboxHead), run(self.LandmarkHead)


def prior_count(height: int, width: int) -> int:
    """The number of anchors for an input of `height` x `width` pixels."""
    return sum(
        math.ceil(height / s) * math.ceil(width / s) * len(m)
        for s, m in zip(STEPS, MIN_SIZES, strict=True)
    )


def prior_boxes(height: int, width: int) -> torch.Tensor:
    """The anchors of an input of `height` x `width` pixels as (P, 3) rows of centre x, centre y
    and side, in input pixels, in the order of the network's outputs."""
    levels = []
    for step, sides in zip(STEPS, MIN_SIZES, strict=True):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        cy, cx = torch.meshgrid(
            (torch.arange(rows, dtype=torch.float32) + 0.5) * step,
            (torch.arange(cols, dtype=torch.float32) + 0.5) * step,
            indexing="ij",
        )
        centres = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2).expand(-1, len(sides), 2)
        side = torch.tensor(sides, dtype=torch.float32).reshape(1, -1, 1).expand(rows * cols, -1, 1)
        levels.append(torch.cat([centres, side], dim=-1).reshape(-1, 3))
    return torch.cat(levels)


@lru_cache(maxsize=16)
def _cached_priors(height: int, width: int, device: torch.device) -> torch.Tensor:
    """`prior_boxes` for the detector, kept for the last few working sizes (read only)."""
    return prior_boxes(height, width).to(device)


def decode(
    loc: torch.Tensor, landmarks: torch.Tensor, priors: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes (P, 4) as x0, y0, x1, y1 and landmarks (P, 5, 2) as x, y, in input pixels, from the
    network's offsets (P, 4) and (P, 10) and the anchors (P, 3) of `prior_boxes`."""
    centre, side = priors[:, None, :2], priors[:, None, 2:]
    box_centre = centre[:, 0] + loc[:, :2] * VARIANCES[0] * side[:, 0]
    box_size = side[:, 0] * torch.exp(loc[:, 2:] * VARIANCES[1])
    boxes = torch.cat([box_centre - box_size / 2, box_centre + box_size / 2], dim=1)
    points = centre + landmarks.reshape(-1, 5, 2) * VARIANCES[0] * side
    return boxes, points


def load_checkpoint(net: RetinaFaceNet, path: str | Path) -> RetinaFaceNet:
    """Load the weights in `path` into `net` with strict key and shape checks.

    The file is read with `torch.load(weights_only=True)` (tensors only, never code); a
    `module.` prefix (from DataParallel) is removed. A file that is not a readable checkpoint, or
    whose keys or shapes differ from the network's, raises ValueError naming the file and the
    first key that differs."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, foreign pickle, not a torch file at all
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {err}") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = net.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise ValueError(f"{path} is not a RetinaFace MobileNet-0.25 checkpoint: no {key!r}")
        if state[key].shape != value.shape:
            raise ValueError(
                f"{path} is not a RetinaFace MobileNet-0.25 checkpoint: {key!r} has shape "
                f"{tuple(state[key].shape)}, the network's is {tuple(value.shape)}"
            )
    extra = [k for k in state if k not in expected]
    if extra:
        raise ValueError(
            f"{path} is not a RetinaFace MobileNet-0.25 checkpoint: unexpected key {extra[0]!r}"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
        )
    net.load_state_dict(state, strict=True)
    return net


@dataclass(frozen=True, eq=False)
class Detection:
    """One face in a photo, in the photo's pixel coordinates.

    `box` is x, y (top-left corner), w, h; it may reach past the photo's edges for a face cut by
    them. `score` is the network's face probability (0..1). `points` is (5, 2) float32 x, y, in
    this order for an upright face: the eye on the image's left (the person's right eye), the eye
    on the image's right, the nose tip, the mouth corner on the image's left, the one on the
    image's right. The order turns with the face: in a face upside down the first eye is the one
    on the image's right (still the person's right eye), so an alignment from these points
    brings the face upright.
    """

    box: tuple[float, float, float, float]
    score: float
    points: np.ndarray

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


def _check_rgb(rgb: object) -> np.ndarray:
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"expected an (H, W, 3) uint8 RGB numpy array, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB array, got shape {rgb.shape} of {rgb.dtype}"
        )
    return rgb


class RetinaFaceDetector:
    """Faces in RGB photos with RetinaFace MobileNet-0.25: boxes, scores and five landmarks.

    `from_file` loads the published weights; the constructor takes a network (for example one
    with random weights, in tests). The network runs on `device` in the channels-last layout,
    about a fifth faster than the default layout on a CPU.
    """

    def __init__(self, net: RetinaFaceNet, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.net = net.eval().to(self.device, memory_format=torch.channels_last)

    @classmethod
    def from_file(
        cls, path: str | Path | None = None, device: str | torch.device = "cpu"
    ) -> RetinaFaceDetector:
        """The detector with the weights at `path`, else wherever `segan.assets.locate` finds
        `mobilenet0.25_Final.pth` (SHA-256 checked; `segan fetch retinaface` gets it)."""
        return cls(load_checkpoint(RetinaFaceNet(), locate("retinaface", path)), device)

    @torch.inference_mode()
    def detect(
        self,
        rgb: np.ndarray,
        min_score: float = 0.8,
        min_size: float = 20.0,
        max_side: int | None = WORKING_SIDE,
    ) -> list[Detection]:
        """The faces in `rgb` ((H, W, 3) uint8), largest box first.

        A photo whose longer side exceeds `max_side` is shrunk to it (area interpolation)
        before the network runs; `None` runs at full size. Smaller photos are not enlarged.
        Faces scoring below `min_score`, or whose box has a side shorter than `min_size` photo
        pixels, are dropped; of boxes overlapping by more than `NMS_IOU` the best scoring stays.
        """
        rgb = np.ascontiguousarray(_check_rgb(rgb))
        height, width = rgb.shape[:2]
        scale = 1.0 if max_side is None else min(1.0, max_side / max(height, width))
        work_w, work_h = max(1, round(width * scale)), max(1, round(height * scale))
        if (work_w, work_h) != (width, height):
            rgb = cv2.resize(rgb, (work_w, work_h), interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.float32)
        bgr -= np.float32(MEAN_BGR)
        # an NCHW view of HWC memory, which is the channels-last layout the network runs in
        x = torch.from_numpy(bgr).to(self.device).permute(2, 0, 1).unsqueeze(0)
        logits, loc, landmarks = (t[0] for t in self.net(x))
        scores = logits.softmax(dim=-1)[:, 1]
        keep = torch.nonzero(scores >= min_score).squeeze(1)
        if keep.numel() == 0:
            return []
        priors = _cached_priors(work_h, work_w, self.device)[keep]
        boxes, points = decode(loc[keep], landmarks[keep], priors)
        stretch = torch.tensor([width / work_w, height / work_h], device=self.device)
        boxes = boxes * stretch.repeat(2)
        points = points * stretch
        sides = torch.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        big = sides >= min_size
        boxes, points, scores = boxes[big], points[big], scores[keep][big]
        best = nms(boxes, scores, NMS_IOU)
        found = [
            Detection(
                box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
                score=float(score),
                points=pts.astype(np.float32),
            )
            for (x0, y0, x1, y1), score, pts in zip(
                boxes[best].tolist(), scores[best].tolist(), points[best].cpu().numpy(), strict=True
            )
        ]
        return sorted(found, key=lambda d: d.area, reverse=True)
