"""Hierarchical expression editors: a global generator plus one local generator per face region.

`SegHGAN` (Bodur, Bhattarai, Kim 2021): a face parser (BiSeNet or UNet) predicts soft part
masks; grouped into regions (eyes, brows, nose, mouth) and dilated differentiably, they select
what each local generator sees and blend the local outputs over the global one. Nothing is
cropped or thresholded, so the gradients of the generator losses reach the parser.

`BoxHGAN` (the Cascade EF-GAN style baseline the paper improves on): the same global + local
structure, but each region is a landmark bounding box: crop, edit at a fixed size, resize and
paste back. The boxes come from landmarks and are not differentiable.

The global generator is StarGAN's network with GANimation's output (`global_attention`, on
by default): an attention head beside its colour output, and `A * x + (1 - A) * C`, so the
global branch keeps the input's pixels where A is 1, as each branch of Cascade EF-GAN is
recalled to do (attention + colour maps). A plain StarGAN global branch (the option off) is
free to recolour everything, an invertible change the cycle loss allows and the critic cannot
tell from a real background. A plain StarGAN folder still starts the attentive branch: the
colour path loads, the attention head starts fresh. `local_attention` gives the local branches
the same output (A * x + (1 - A) * C, the head at its default initialisation, A near 0.5, as
in GANimation), so that a local branch changes only what its attention opens rather than
repainting its whole region.

Defaults: a StarGAN-style global generator (64 channels, 4 residual blocks) and local
generators of 16 channels (one downsampling, 2 residual blocks), sized so that one edit at
128 px (parse + edit) stays under 150 ms on a 2-core CPU (measured ~125 ms median).

Design choices where the paper is silent (kept configurable): regions and their class groups,
dilation radii, a softmax temperature on the parser, local generators that see the masked image
plus their mask, blending `(1 - sum w) * global + sum w_k * local_k` with weights normalised
where regions overlap, an optional refiner, and the parser run at the editor's resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segan.labels import EXPRESSIONS, MEAN_LANDMARKS, PART_INDEX
from segan.models import bisenet, unet  # noqa: F401  (registers the parsers)
from segan.models.base import (
    REGISTRY,
    Editor,
    EditOutput,
    Parser,
    SeganModel,
    check_condition,
    check_image,
    tile,
)
from segan.models.blocks import ResidualBlock, instance_norm
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
        self, in_channels: int, conv_dim: int, n_down: int, repeat_num: int, attention: bool = False
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
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), instance_norm(c // 2)]
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


def _check_regions(regions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
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
    ):
        super().__init__(conv_dim, repeat_num, labels, image_size)
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


def _local_attention(outs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor | None:
    """The local generators' attention maps stacked (N, R, H, W), or None without them."""
    if outs[0][1] is None:
        return None
    return torch.cat([a for _, a in outs], 1)


class _Hierarchy(Editor):
    """What both hierarchical editors share: the global generator, the local generators, the
    optional refiner, and the label checks."""

    condition_kind = "label"

    def _build(
        self,
        labels: Sequence[str],
        image_size: int,
        regions: Sequence[str],
        global_conv_dim: int,
        global_repeat: int,
        local_conv_dim: int,
        local_down: int,
        local_repeat: int,
        refiner: bool,
        global_attention: bool,
        local_attention: bool = False,
    ) -> None:
        self.labels = tuple(labels)
        self.image_size = image_size
        self.region_names = tuple(regions)
        global_cls = AttentiveStarGAN if global_attention else StarGAN
        self.global_g = global_cls(global_conv_dim, global_repeat, list(labels), image_size)
        in_ch = 3 + 1 + len(labels)  # masked image, its mask, the tiled label
        self.local_g = nn.ModuleDict(
            {
                r: LocalGenerator(in_ch, local_conv_dim, local_down, local_repeat, local_attention)
                for r in regions
            }
        )
        self.refiner = None
        if refiner:
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


class SegHGAN(_Hierarchy):
    """Segmentation-conditioned hierarchical GAN: parser soft masks route the local
    generators and blend them over the global one; the parser trains through them."""

    architecture = "seghgan"
    paper = (
        "Bodur, Bhattarai, Kim, A Unified Architecture of Semantic Segmentation and "
        "Hierarchical Generative Adversarial Networks for Expression Manipulation, 2021 "
        "(arXiv 2112.04603)"
    )

    def __init__(
        self,
        labels: Sequence[str] = EXPRESSIONS,
        image_size: int = 128,
        parser: Mapping | None = None,
        regions: Mapping[str, Sequence[str]] | None = None,
        dilation: Mapping[str, int] | None = None,
        temperature: float = 1.0,
        global_conv_dim: int = 64,
        global_repeat: int = 4,
        local_conv_dim: int = 16,
        local_down: int = 1,
        local_repeat: int = 2,
        refiner: bool = False,
        global_attention: bool = True,
        local_attention: bool = False,
        freeze_parser: bool = False,
        freeze_parser_bn: bool = True,
    ):
        super().__init__()
        parser = dict(parser or {"architecture": "bisenet"})
        arch = parser.pop("architecture", "bisenet")
        if arch not in REGISTRY or REGISTRY[arch].role != "parser":
            raise ValueError(f"parser architecture must be a face parser, got {arch!r}")
        self.parser: Parser = REGISTRY[arch](**parser)
        regions = _check_regions(regions or DEFAULT_REGIONS)
        dilation = dict(DEFAULT_DILATION if dilation is None else dilation)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)
        parts = self.parser.part_names
        missing = sorted({c for cl in regions.values() for c in cl} - set(parts))
        if missing:
            raise ValueError(f"the parser has no classes {missing} used by the regions")
        self.register_buffer("groups", part_groups(regions, parts), persistent=False)
        self.radii = dilation_radii(dilation, regions, image_size)
        self._build(
            labels,
            image_size,
            list(regions),
            global_conv_dim,
            global_repeat,
            local_conv_dim,
            local_down,
            local_repeat,
            refiner,
            global_attention,
            local_attention,
        )
        self.freeze_parser = bool(freeze_parser)
        if self.freeze_parser:
            self.parser.requires_grad_(False)
        # A pretrained parser fine-tuned on small GAN batches keeps its batch-norm statistics
        # (and no buffer changes means nothing for DDP to broadcast): Parser.train does it.
        self.freeze_parser_bn = self.parser.freeze_bn = bool(freeze_parser_bn)

    def parse(self, x: torch.Tensor, aux: bool = False):
        """Parser logits at the image size (and its auxiliary heads when `aux`)."""
        heads = self.parser(x, aux=True) if aux else (self.parser(x),)
        heads = tuple(
            h
            if h.shape[-2:] == x.shape[-2:]
            else F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
            for h in heads
        )
        return heads if aux else heads[0]

    def masks_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Soft region masks (N, R, H, W): grouped class probabilities, dilated."""
        probs = torch.softmax(logits / self.temperature, dim=1)
        return grouped_masks(probs, self.groups, self.radii)

    def region_masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(soft region masks (N, R, H, W), parser logits (N, 19, H, W)) for images x."""
        logits = self.parse(x)
        return self.masks_from_logits(logits), logits

    def edit(
        self, x: torch.Tensor, condition: torch.Tensor, masks: torch.Tensor
    ) -> tuple[torch.Tensor, EditOutput, torch.Tensor | None]:
        """(edited image, global generator's output, the local attentions (N, R, H, W) or
        None) given the region masks."""
        global_out = self.global_g.explain(x, condition)
        label = tile(condition, x.shape[-2:])
        outs = [
            self.local_g[name](
                torch.cat([x * masks[:, r : r + 1], masks[:, r : r + 1], label], 1), keep=x
            )
            for r, name in enumerate(self.region_names)
        ]
        out = blend(global_out.image, torch.stack([o for o, _ in outs], 1), masks)
        return self._refine(out, masks), global_out, _local_attention(outs)

    def forward(
        self,
        x: torch.Tensor,
        condition: torch.Tensor | None = None,
        explain: bool = False,
        parser_gan_scale: float = 1.0,
        parser_aux: bool = False,
        parse_only: bool = False,
    ):
        """The edited image (or EditOutput with `explain`). For training: `parser_gan_scale`
        scales the gradient the editing losses send into the parser, and `parser_aux` also
        returns every parser head in `extras["parser_heads"]` (for its segmentation loss);
        `parse_only` returns just the parser's heads at the image size (its own update, through
        the same module a distributed run wraps)."""
        if parse_only:
            return self.parse(x, aux=True)
        if condition is None:
            raise ValueError("an edit needs a condition (the target expression)")
        out = self.explain(x, condition, parser_gan_scale, parser_aux)
        return out if explain else out.image

    def explain(
        self,
        x: torch.Tensor,
        condition: torch.Tensor,
        parser_gan_scale: float = 1.0,
        parser_aux: bool = False,
    ) -> EditOutput:
        self._check(x, condition)
        heads = self.parse(x, aux=True) if parser_aux else (self.parse(x),)
        logits = heads[0]
        masks = self.masks_from_logits(scale_grad(logits, parser_gan_scale))
        out, global_out, local_attention = self.edit(x, condition, masks)
        extras = {"global": global_out.image}
        if local_attention is not None:
            extras["local_attention"] = local_attention
        if parser_aux:
            extras["parser_heads"] = heads
        return EditOutput(
            image=out,
            attention=global_out.attention,
            color=global_out.color,
            region_masks=masks,
            region_names=self.region_names,
            parser_logits=logits,
            extras=extras,
        )


def landmark_boxes(
    landmarks: torch.Tensor, regions: Sequence[str], margin: float, image_size: int
) -> torch.Tensor:
    """(N, R, 4) float boxes x0, y0, x1, y1 around each region's landmarks, grown by `margin`
    of the box size (at least 4 pixels each side) and clipped to the image."""
    boxes = []
    for r in regions:
        pts = landmarks[:, REGION_LANDMARKS[r]]
        lo, hi = pts.amin(1), pts.amax(1)
        pad = ((hi - lo) * margin).clamp(min=4.0)
        boxes.append(torch.cat([lo - pad, hi + pad], 1))
    return torch.stack(boxes, 1).clamp(0.0, image_size - 1.0)


def _default_landmarks(n: int, image_size: int, device) -> torch.Tensor:
    """Landmarks of an average aligned face (segan.labels.MEAN_LANDMARKS) in pixels of an
    `image_size` crop, for boxes when none are given: (n, 68, 2)."""
    mean = torch.tensor(MEAN_LANDMARKS, dtype=torch.float32) * image_size - 0.5
    return mean.to(device)[None].expand(n, -1, -1)


class BoxHGAN(_Hierarchy):
    """Landmark-box hierarchy (Cascade EF-GAN style): each region is cropped by a box around
    its landmarks, edited at a fixed size by its local generator, resized and pasted back over
    the global generator's output. The boxes are not differentiable."""

    architecture = "boxhgan"
    needs_landmarks = True
    paper = (
        "Wu, Zhang, Lu, Chen, Cascade EF-GAN: Progressive Facial Expression Editing with Local "
        "Focuses, CVPR 2020 (segan's landmark-box baseline of the hierarchy)"
    )

    def __init__(
        self,
        labels: Sequence[str] = EXPRESSIONS,
        image_size: int = 128,
        regions: Sequence[str] = ("eyes", "brows", "nose", "mouth"),
        crop_size: int = 32,
        margin: float = 0.25,
        global_conv_dim: int = 64,
        global_repeat: int = 4,
        local_conv_dim: int = 16,
        local_down: int = 1,
        local_repeat: int = 2,
        refiner: bool = False,
        global_attention: bool = True,
        local_attention: bool = False,
    ):
        super().__init__()
        unknown = [r for r in regions if r not in REGION_LANDMARKS]
        if unknown:
            raise ValueError(f"unknown box regions {unknown}; known: {sorted(REGION_LANDMARKS)}")
        if crop_size % (2**local_down):
            raise ValueError(f"crop_size {crop_size} must be divisible by 2**local_down")
        self.crop_size, self.margin = int(crop_size), float(margin)
        self._build(
            labels,
            image_size,
            list(regions),
            global_conv_dim,
            global_repeat,
            local_conv_dim,
            local_down,
            local_repeat,
            refiner,
            global_attention,
            local_attention,
        )
        self._mean_landmarks: torch.Tensor | None = None

    def forward(
        self,
        x: torch.Tensor,
        condition: torch.Tensor,
        landmarks: torch.Tensor | None = None,
        explain: bool = False,
    ):
        out = self.explain(x, condition, landmarks)
        return out if explain else out.image

    def boxes_for(self, x: torch.Tensor, landmarks: torch.Tensor | None) -> torch.Tensor:
        """(N, R, 4) pixel boxes from landmarks (N, 68, 2), or from the mean aligned face."""
        if landmarks is None:
            if self._mean_landmarks is None or self._mean_landmarks.device != x.device:
                self._mean_landmarks = _default_landmarks(1, self.image_size, x.device)[0]
            landmarks = self._mean_landmarks[None].expand(x.shape[0], -1, -1)
        if landmarks.shape[1:] != (68, 2) or landmarks.shape[0] != x.shape[0]:
            raise ValueError(f"landmarks must have shape (N, 68, 2), got {tuple(landmarks.shape)}")
        boxes = landmark_boxes(landmarks.to(x.dtype), self.region_names, self.margin, x.shape[-1])
        return boxes.round()

    def explain(
        self, x: torch.Tensor, condition: torch.Tensor, landmarks: torch.Tensor | None = None
    ) -> EditOutput:
        self._check(x, condition)
        n, size = x.shape[0], x.shape[-1]
        boxes = self.boxes_for(x, landmarks)
        global_out = self.global_g.explain(x, condition)
        out = global_out.image
        masks, outs = [], []
        ones = torch.ones(n, 1, size, size, device=x.device, dtype=x.dtype)
        label = tile(condition, (self.crop_size, self.crop_size))
        for r, name in enumerate(self.region_names):
            box = boxes[:, r]
            crop = _crop(torch.cat([x, ones], 1), box, self.crop_size)
            edited, attention = self.local_g[name](torch.cat([crop, label], 1))
            outs.append((edited, attention))
            pasted, inside = _paste(edited, box, size)
            out = torch.where(inside, pasted, out)
            masks.append(inside.to(x.dtype))
        weights = torch.cat(masks, 1)
        out = self._refine(out, weights)
        local_attention = _local_attention(outs)
        extras = {"global": global_out.image}
        if local_attention is not None:  # at the crop size
            extras["local_attention"] = local_attention
        return EditOutput(
            image=out,
            region_masks=weights,
            region_names=self.region_names,
            boxes=boxes,
            attention=global_out.attention,
            color=global_out.color,
            extras=extras,
        )


def _affine_for_box(box: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 2, 3) affine maps from a box's normalised coordinates to the image's (align_corners
    False convention: pixel i spans [i, i+1))."""
    x0, y0, x1, y1 = box.unbind(1)
    # Box covers pixels x0..x1 inclusive: edges at x0 and x1 + 1.
    cx = (x0 + x1 + 1.0) / size - 1.0
    cy = (y0 + y1 + 1.0) / size - 1.0
    sx = (x1 + 1.0 - x0) / size
    sy = (y1 + 1.0 - y0) / size
    zero = torch.zeros_like(cx)
    return torch.stack([torch.stack([sx, zero, cx], 1), torch.stack([zero, sy, cy], 1)], 1)


def _crop(image: torch.Tensor, box: torch.Tensor, crop_size: int) -> torch.Tensor:
    """Resample the box of every image to crop_size x crop_size (bilinear)."""
    theta = _affine_for_box(box, image.shape[-1])
    grid = F.affine_grid(theta, [image.shape[0], 1, crop_size, crop_size], align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", align_corners=False)


def _paste(crop: torch.Tensor, box: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize a crop back into its box of a size x size canvas: (pasted image, inside mask)."""
    n = crop.shape[0]
    ys = torch.arange(size, device=crop.device, dtype=crop.dtype)
    x0, y0, x1, y1 = (box[:, i, None] for i in range(4))
    # Pixel centres of the canvas in the crop's normalised coordinates.
    u = (ys[None, :] + 0.5 - x0) / (x1 + 1.0 - x0) * 2.0 - 1.0  # (N, W)
    v = (ys[None, :] + 0.5 - y0) / (y1 + 1.0 - y0) * 2.0 - 1.0  # (N, H)
    grid = torch.stack(
        [u[:, None, :].expand(n, size, size), v[:, :, None].expand(n, size, size)], -1
    )
    pasted = F.grid_sample(crop, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return pasted, box_inside(box, size)


def box_inside(box: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 1, size, size) bool: the pixels of each (N, 4) box x0, y0, x1, y1 (inclusive)."""
    ys = torch.arange(size, device=box.device, dtype=box.dtype)
    x0, y0, x1, y1 = (box[:, i, None] for i in range(4))
    inside_x = (ys[None, :] >= x0) & (ys[None, :] <= x1)
    inside_y = (ys[None, :] >= y0) & (ys[None, :] <= y1)
    return (inside_y[:, :, None] & inside_x[:, None, :])[:, None]


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
