"""What the hierarchical editors share: a global generator plus one local generator per face
region (segan.models.seghgan, segan.models.boxhgan), their region tables and blending, and
their critic (a global PatchGAN and one per region).

The global generator is StarGAN's network with GANimation's output (`global_attention`, on by
default): an attention head beside its colour output, and `A * x + (1 - A) * C`, so the global
branch keeps the input's pixels where A is 1, as Cascade EF-GAN's branches do (attention +
colour maps). Without it a StarGAN global branch is free to recolour everything, an invertible
change the cycle loss allows and the critic cannot tell from a real background. A plain
StarGAN folder still starts the attentive branch: the colour path loads, the attention head
starts fresh. `local_attention` gives the local branches the same output (the head at its
default initialisation, A near 0.5, as in GANimation), so that a local branch changes only what
its attention opens rather than repainting its whole region.

Defaults: a StarGAN-style global generator (64 channels, 4 residual blocks) and local
generators of 16 channels (one downsampling, 2 residual blocks), sized for an interactive edit
at 128 px on a CPU (benchmarks/inference.py measures it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segan.labels import EXPRESSIONS, PART_INDEX
from segan.models.base import (
    Editor,
    EditOutput,
    SeganModel,
    check_condition,
    check_image,
    tile,
)
from segan.models.blocks import ResidualBlock, instance_norm, upsampling
from segan.models.discriminators import PatchDiscriminator
from segan.models.stargan import StarGAN, check_edit_inputs

# Regions as groups of the 19 part classes (names, so any parser order maps by name).
DEFAULT_REGIONS: dict[str, list[str]] = {
    "eyes": ["l_eye", "r_eye"],
    "brows": ["l_brow", "r_brow"],
    "nose": ["nose"],
    "mouth": ["mouth", "u_lip", "l_lip"],
}
# Dilation in pixels at 128 px (scaled with the image size): room for an opening mouth, raised
# brows and widened eyes.
DEFAULT_DILATION: dict[str, int] = {"eyes": 3, "brows": 3, "nose": 2, "mouth": 5}
# iBUG-68 landmark indices of each region, for the box baseline.
REGION_LANDMARKS: dict[str, list[int]] = {
    "eyes": list(range(36, 48)),
    "brows": list(range(17, 27)),
    "nose": list(range(27, 36)),
    "mouth": list(range(48, 68)),
}


class LocalGenerator(nn.Module):
    """A small encoder-decoder for one region: (masked image, mask, tiled label) -> RGB.

    7x7 conv, `n_down` strided 4x4 convs, `repeat_num` residual blocks, as many transposed
    convs, 7x7 conv, tanh; instance norm without running statistics. With `attention`, a 7x7
    attention head beside the colour output (GANimation's, as each branch of Cascade EF-GAN
    has): the output is A * keep + (1 - A) * C, keeping the given pixels where A is 1.
    """

    def __init__(
        self,
        in_channels: int,
        conv_dim: int,
        n_down: int,
        repeat_num: int,
        attention: bool = False,
        upsample: str = "transposed",
    ):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, conv_dim, 7, 1, 3, bias=False),
            instance_norm(conv_dim),
            nn.ReLU(inplace=True),
        ]
        c = conv_dim
        for _ in range(n_down):
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), instance_norm(c * 2)]
            layers += [nn.ReLU(inplace=True)]
            c *= 2
        layers += [ResidualBlock(c) for _ in range(repeat_num)]
        for _ in range(n_down):
            layers += [upsampling(c, c // 2, upsample), instance_norm(c // 2)]
            layers += [nn.ReLU(inplace=True)]
            c //= 2
        layers += [nn.Conv2d(c, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)  # features, then the colour conv and tanh
        self.attention = nn.Conv2d(c, 1, 7, 1, 3) if attention else None

    def forward(
        self, x: torch.Tensor, keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(output RGB, attention A or None); `keep` is what A = 1 keeps (x's RGB channels
        when not given)."""
        if self.attention is None:
            return self.main(x), None
        features = self.main[:-2](x)
        color = self.main[-1](self.main[-2](features))
        a = torch.sigmoid(self.attention(features))
        keep = x[:, :3] if keep is None else keep
        return a * keep + (1 - a) * color, a


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; multiplies the gradient by `factor` on the way back."""

    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """x unchanged, with its gradient scaled by `factor` (0 blocks, 1 passes)."""
    return x if factor == 1.0 else _ScaleGrad.apply(x, factor)


def check_regions(regions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    out = {}
    for name, classes in regions.items():
        unknown = [c for c in classes if c not in PART_INDEX]
        if unknown or not classes:
            raise ValueError(f"region {name!r} names unknown part classes {unknown or classes}")
        out[str(name)] = [str(c) for c in classes]
    if not out:
        raise ValueError("at least one region is needed")
    return out


def soft_dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow soft masks (N, R, H, W) by `radius` pixels: max-pool (differentiable almost
    everywhere, gradients reach the pixel that set each maximum) then a 3x3 feather."""
    if radius > 0:
        mask = F.max_pool2d(mask, 2 * radius + 1, stride=1, padding=radius)
    return F.avg_pool2d(mask, 3, stride=1, padding=1, count_include_pad=False)


def part_groups(regions: Mapping[str, Sequence[str]], parts: Sequence[str]) -> torch.Tensor:
    """(R, C) 0/1 matrix: which of the parser's C part classes make up each region."""
    groups = torch.zeros(len(regions), len(parts))
    for r, classes in enumerate(regions.values()):
        for c in classes:
            groups[r, list(parts).index(c)] = 1.0
    return groups


def dilation_radii(
    dilation: Mapping[str, int], regions: Sequence[str], image_size: int
) -> tuple[int, ...]:
    """Each region's dilation in pixels at `image_size`, from radii given at 128 px."""
    return tuple(round(dilation.get(r, 0) * image_size / 128) for r in regions)


def grouped_masks(probs: torch.Tensor, groups: torch.Tensor, radii: Sequence[int]) -> torch.Tensor:
    """Soft region masks (N, R, H, W): part probabilities (N, C, H, W) summed per region
    (`groups`, R x C) and each region dilated by its radius."""
    masks = torch.einsum("nchw,rc->nrhw", probs, groups.to(probs.dtype))
    dilated = [soft_dilate(masks[:, r : r + 1], k) for r, k in enumerate(radii)]
    return torch.cat(dilated, 1).clamp(0.0, 1.0)


def blend(
    global_out: torch.Tensor, local_outs: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """(1 - sum w) * global + sum w_k * local_k, with weights scaled down where they overlap.

    global_out (N, 3, H, W), local_outs (N, R, 3, H, W), weights (N, R, H, W) in [0, 1].
    """
    total = weights.sum(1, keepdim=True)
    weights = weights / total.clamp(min=1.0)
    keep = 1.0 - weights.sum(1, keepdim=True)
    return keep * global_out + (weights[:, :, None] * local_outs).sum(1)


class AttentiveStarGAN(StarGAN):
    """StarGAN's network as the colour map C, a 7x7 attention head A on its last features
    (GANimation's output): the edit is A * x + (1 - A) * C, A = 1 keeping the input pixel.

    The head starts at A = sigmoid(3) = 0.95 everywhere (zero weights, bias 3): the branch
    starts close to copying its input and opens where the losses ask for change, while its
    colour path (from a trained StarGAN) already recolours everything.
    """

    # Keys a start from a plain StarGAN (model.global_weights) leaves at their init.
    fresh_on_transfer = ("attention_head.weight", "attention_head.bias")
    INITIAL_KEEP_LOGIT = 3.0

    def __init__(
        self,
        conv_dim: int = 64,
        repeat_num: int = 6,
        labels: Sequence[str] = EXPRESSIONS,
        image_size: int = 128,
        upsample: str = "transposed",
    ):
        super().__init__(conv_dim, repeat_num, labels, image_size, upsample)
        self.attention_head = nn.Conv2d(conv_dim, 1, 7, 1, 3)
        nn.init.zeros_(self.attention_head.weight)
        nn.init.constant_(self.attention_head.bias, self.INITIAL_KEEP_LOGIT)

    def explain(self, x: torch.Tensor, condition: torch.Tensor) -> EditOutput:
        c = check_edit_inputs(x, condition, len(self.labels))
        features = self.main[:-2](torch.cat([x, tile(c, x.shape[-2:])], dim=1))
        color = self.main[-1](self.main[-2](features))
        attention = torch.sigmoid(self.attention_head(features))
        return EditOutput(
            image=attention * x + (1 - attention) * color, attention=attention, color=color
        )


def local_attention_of(outs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor | None:
    """The local generators' attention maps stacked (N, R, H, W), or None without them."""
    if outs[0][1] is None:
        return None
    return torch.cat([a for _, a in outs], 1)


class Hierarchy(Editor):
    """What both hierarchical editors share: the global generator, the local generators, the
    optional refiner, and the label checks."""

    condition_kind = "label"

    def _build(self, regions: Sequence[str]) -> None:
        """The global and local generators and the refiner, from the constructor's arguments
        (`self.config` holds every one, defaults included)."""
        c = self.config
        labels, image_size = c["labels"], c["image_size"]
        global_cls = AttentiveStarGAN if c["global_attention"] else StarGAN
        self.labels = tuple(labels)
        self.image_size = image_size
        self.region_names = tuple(regions)
        upsample = c.get("upsample", "transposed")
        self.global_g = global_cls(
            c["global_conv_dim"], c["global_repeat"], list(labels), image_size, upsample
        )
        in_ch = 3 + 1 + len(labels)  # masked image, its mask, the tiled label
        self.local_g = nn.ModuleDict(
            {
                r: LocalGenerator(
                    in_ch,
                    c["local_conv_dim"],
                    c["local_down"],
                    c["local_repeat"],
                    c["local_attention"],
                    upsample,
                )
                for r in regions
            }
        )
        self.refiner = None
        if c["refiner"]:
            r = len(regions)
            self.refiner = nn.Sequential(
                nn.Conv2d(3 + r, 32, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(32, 3, 3, 1, 1)
            )

    def _check(self, x: torch.Tensor, condition: torch.Tensor) -> None:
        check_image(x)
        check_condition(condition, x.shape[0], len(self.labels))
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"{self.architecture} edits {self.image_size}x{self.image_size} faces, "
                f"got {tuple(x.shape[-2:])}"
            )

    def _refine(self, out: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.refiner is None:
            return out
        return (out + self.refiner(torch.cat([out, weights], 1))).clamp(-1.0, 1.0)


class HierarchicalDiscriminator(SeganModel):
    """The global critic and one critic per region for the hierarchical editors.

    `forward(x, region_masks)` returns {"global": (patch, logits), region: (patch, logits)};
    each region critic sees the image multiplied by its (soft or box) mask.
    """

    architecture = "hierarchical-discriminator"
    role = "discriminator"
    paper = "PatchGAN critics with expression classifiers, global and per region"

    def __init__(
        self,
        image_size: int = 128,
        num_labels: int = len(EXPRESSIONS),
        regions: Sequence[str] = ("eyes", "brows", "nose", "mouth"),
        conv_dim: int = 64,
        repeat_num: int = 6,
        local_conv_dim: int = 32,
        local_repeat_num: int = 5,
    ):
        super().__init__()
        self.region_names = tuple(regions)
        self.global_d = PatchDiscriminator(image_size, conv_dim, repeat_num, num_labels)
        self.local_d = nn.ModuleDict(
            {
                r: PatchDiscriminator(image_size, local_conv_dim, local_repeat_num, num_labels)
                for r in regions
            }
        )

    def forward(
        self, x: torch.Tensor, region_masks: torch.Tensor
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        check_image(x)
        if region_masks.shape[1] != len(self.region_names):
            raise ValueError(
                f"expected {len(self.region_names)} region masks, got {region_masks.shape[1]}"
            )
        out = {"global": self.global_d(x)}
        for r, name in enumerate(self.region_names):
            out[name] = self.local_d[name](x * region_masks[:, r : r + 1])
        return out
