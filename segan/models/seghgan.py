"""SegHGAN (Bodur, Bhattarai, Kim 2021): a face parser (BiSeNet or UNet) predicts soft part
masks; grouped into regions (eyes, brows, nose, mouth) and dilated differentiably, they select
what each local generator sees and blend the local outputs over the global one. Nothing is
cropped or thresholded, so the gradients of the generator losses reach the parser.

Design choices where the paper is silent (kept configurable): regions and their class groups,
dilation radii, a softmax temperature on the parser, local generators that see the masked image
plus their mask, blending `(1 - sum w) * global + sum w_k * local_k` with weights normalised
where regions overlap, an optional refiner, and the parser run at the editor's resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from segan.labels import EXPRESSIONS
from segan.models import bisenet, unet  # noqa: F401  (registers the parsers)
from segan.models.base import (
    REGISTRY,
    EditOutput,
    Parser,
    tile,
)
from segan.models.hierarchical import (
    DEFAULT_DILATION,
    DEFAULT_REGIONS,
    Hierarchy,
    blend,
    check_regions,
    dilation_radii,
    grouped_masks,
    local_attention_of,
    part_groups,
    scale_grad,
)


class SegHGAN(Hierarchy):
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
        upsample: str = "transposed",
        freeze_parser: bool = False,
        freeze_parser_bn: bool = True,
    ):
        super().__init__()
        parser = dict(parser or {"architecture": "bisenet"})
        arch = parser.pop("architecture", "bisenet")
        if arch not in REGISTRY or REGISTRY[arch].role != "parser":
            raise ValueError(f"parser architecture must be a face parser, got {arch!r}")
        self.parser: Parser = REGISTRY[arch](**parser)
        regions = check_regions(regions or DEFAULT_REGIONS)
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
        self._build(list(regions))
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
        return self._refine(out, masks), global_out, local_attention_of(outs)

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
