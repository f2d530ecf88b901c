"""The hierarchical editors: SegHGAN (a parser's masks, trained end to end) and BoxHGAN
(landmark boxes)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from segan.labels import (
    EXPRESSIONS,
    NUM_EXPRESSIONS,
)
from segan.models.base import REGISTRY, EditOutput
from segan.models.hierarchical import HierarchicalDiscriminator
from segan.train import losses as L
from segan.train.config import DataConfig
from segan.train.data import parser_stream
from segan.train.methods.au import attention_terms
from segan.train.methods.label import LabelGAN, label_grid
from segan.train.methods.supervised import parser_loss, parser_targets
from segan.train.methods.task import (
    Phase,
    Step,
    Task,
    Terms,
    kwargs_for,
    one_hot,
    repeat_for,
    unwrap,
)
from segan.visualize import to_uint8

# --- hierarchical editors: seghgan, boxhgan ----------------------------------------------


def hierarchy_d_loss(
    d: nn.Module, fake: torch.Tensor, masks: torch.Tensor, s: Step
) -> tuple[torch.Tensor, Terms]:
    """Global and per-region WGAN-GP critics with expression classification of real images;
    the region critics see the images times their region masks."""
    b, w = s.batch, s.weights
    real_out, fake_out = d(b["image"], masks), d(fake, masks)
    names = list(real_out)
    total, terms = 0.0, {}
    for name in names:
        weight = 1.0 if name == "global" else w["local"] / (len(names) - 1)
        adv = L.wasserstein_d(real_out[name][0], fake_out[name][0])
        cls = L.classification(real_out[name][1], b["label"])
        if name == "global":
            critic, real, fk = (lambda x: d.__call__(x, masks)["global"][0]), b["image"], fake
        else:
            r = names.index(name) - 1
            m = masks[:, r : r + 1]
            critic = _region_critic(d, name, masks)
            real, fk = b["image"] * m, fake * m
        gp = L.gradient_penalty(critic, real, fk, s.scale, s.inv_scale)
        total = total + weight * (adv + w["cls"] * cls + w["gp"] * gp)
        terms[f"d_adv_{name}"], terms[f"gp_{name}"] = adv.detach(), gp.detach()
        terms[f"d_cls_{name}"] = cls.detach()
    return total, terms


def _region_critic(d: nn.Module, name: str, masks: torch.Tensor):
    """The critic score of one region for already-masked images (for the penalty)."""
    inner = unwrap(d)
    return lambda x: inner.local_d[name](x)[0]


def hierarchy_g_loss(
    d: nn.Module, fake: EditOutput, rec: EditOutput, s: Step
) -> tuple[torch.Tensor, Terms]:
    """Global and per-region adversarial + classification terms, the cycle, and GANimation's
    attention terms for an attentive global branch (its mean A and total variation)."""
    b, w = s.batch, s.weights
    out = d(fake.image, fake.region_masks)
    total, terms = 0.0, {}
    for name, (score, logits) in out.items():
        weight = 1.0 if name == "global" else w["local"] / (len(out) - 1)
        adv, cls = L.wasserstein_g(score), L.classification(logits, b["target"])
        total = total + weight * (adv + w["cls"] * cls)
        terms[f"g_adv_{name}"], terms[f"g_cls_{name}"] = adv.detach(), cls.detach()
    rec_loss = L.l1(rec.image, b["image"])
    terms["rec"] = rec_loss.detach()
    total = total + w["rec"] * rec_loss
    if fake.attention is not None:
        mask, smooth = attention_terms(fake, rec)
        total = total + w["mask"] * mask + w["mask_smooth"] * smooth
        terms["mask"], terms["mask_tv"] = mask.detach(), smooth.detach()
    if "local_attention" in fake.extras:  # attentive local branches: the same smoothness
        local = torch.cat([fake.extras["local_attention"], rec.extras["local_attention"]])
        smooth = L.total_variation(local, reduction="sum")
        total = total + w["mask_smooth"] * smooth
        terms["local_mask"], terms["local_mask_tv"] = local.mean().detach(), smooth.detach()
    return total, terms


class HierarchyTask(LabelGAN):
    """Shared by seghgan and boxhgan: a hierarchical discriminator over the regions."""

    # The attentive global branch's attention terms: GANimation's smoothness (1e-5); its
    # penalty on mean A (0.1) is off: it keeps GANimation's one branch from copying its input,
    # but here the local generators make the regional changes, and its steady gradient pulls
    # A down everywhere (docs/bundled-models.md).
    LOSS: ClassVar[dict[str, float]] = {
        "gp": 10.0,
        "cls": 1.0,
        "rec": 10.0,
        "local": 1.0,
        "mask": 0.0,
        "mask_smooth": 1e-5,
    }
    # model.global_weights=checkpoints/stargan-base starts the global branch from a trained
    # StarGAN of the same width and depth, discriminator.global_weights the global critic from
    # a trained StarGAN critic.
    START_FROM: ClassVar[dict[tuple[str, str], tuple[str, str]]] = {
        **Task.START_FROM,
        ("model", "global_weights"): ("generator", "global_g"),
        ("discriminator", "global_weights"): ("discriminator", "global_d"),
    }

    def networks(self) -> dict[str, nn.Module]:
        kwargs = self.model_kwargs()
        kwargs.setdefault("labels", list(EXPRESSIONS))
        generator = REGISTRY[self.architecture](**kwargs)
        d_kwargs = kwargs_for(
            HierarchicalDiscriminator, self._section("discriminator"), "discriminator"
        )
        d_kwargs.setdefault("image_size", self.resolution)
        d_kwargs.setdefault("num_labels", len(generator.labels))
        d_kwargs.setdefault("regions", list(generator.region_names))
        d_kwargs.setdefault("repeat_num", repeat_for(self.resolution))
        d_kwargs.setdefault("local_repeat_num", max(repeat_for(self.resolution) - 1, 1))
        return {"generator": generator, "discriminator": HierarchicalDiscriminator(**d_kwargs)}

    def samples(self, model, fixed):
        """The label grid, then a row with each input's region masks."""
        x = fixed["image"]
        labels = torch.arange(x.shape[0], device=x.device) % NUM_EXPRESSIONS
        out = model.explain(x, one_hot(labels, NUM_EXPRESSIONS))
        masks = out.region_masks.sum(1, keepdim=True).clamp(max=1).expand(-1, 3, -1, -1)
        extra = to_uint8(masks * 2 - 1)
        fill = (-extra.shape[0]) % (NUM_EXPRESSIONS + 1)
        blank = np.full((fill, *extra.shape[1:]), 255, np.uint8)
        return label_grid(model, x, extra=np.concatenate([extra, blank]))


class SegHGANTask(HierarchyTask):
    """The unified segmentation + hierarchical GAN: the parser trains through the masks."""

    name = "seghgan"
    architecture = "seghgan"
    paper = "Bodur, Bhattarai, Kim 2021 (arXiv 2112.04603)"
    LOSS: ClassVar[dict[str, float]] = {
        **HierarchyTask.LOSS,
        "seg": 1.0,  # cross-entropy of the parser on labelled masks, in every parser update
        "parser_gan": 1.0,  # scale of the GAN gradient that reaches the parser
        "aux": 1.0,  # BiSeNet's auxiliary heads in the parser's objective
        "ohem_thresh": 0.7,  # BiSeNet's OHEM threshold (face-parsing.PyTorch)
        "dice": 0.0,  # soft-Dice weight in the parser's objective (losses.soft_dice)
        "outside": 1.0,  # partial labels' weight there (data.partial_labels)
    }

    parser_stream = True
    trains_parser = True

    def data_needs(self) -> dict[str, str]:
        if self._has_stream or self.config.model.get("freeze_parser"):
            return {}
        if self.weights["seg"] > 0:
            return {"mask": f"loss.seg={self.weights['seg']:g}"}
        return {}

    @property
    def _has_stream(self) -> bool:
        """Whether the parser learns its segmentation from a stream of its own (the paper's
        CelebAMask-HQ beside AffectNet or RaFD) rather than the training batch's masks."""
        return self.config.data.parser_dataset is not None and not self.config.model.get(
            "freeze_parser"
        )

    @property
    def find_unused_parameters(self) -> bool:
        # the stream's update runs the generator for its parser alone
        return self._has_stream

    def streams(self) -> dict[str, tuple[DataConfig, int]]:
        if not self._has_stream:
            return {}
        data = self.config.data
        return {
            "parser": (parser_stream(data), data.parser_batch_size or self.config.optim.batch_size)
        }

    # model.parser_weights: a trained parser folder (bundled:bisenet) to fine-tune jointly.
    # BiSeNet's auxiliary heads only train through the segmentation loss (aux=True).
    START_FROM: ClassVar[dict[tuple[str, str], tuple[str, str]]] = {
        **HierarchyTask.START_FROM,
        ("model", "parser_weights"): ("generator", "parser"),
    }

    def param_groups(self, nets):
        o = self.config.optim
        g = nets["generator"]
        parser = {id(p) for p in g.parser.parameters()}
        rest = [p for p in g.parameters() if id(p) not in parser]
        groups = {
            "d": [{"params": list(nets["discriminator"].parameters()), "lr": o.lr_d}],
            "g": [{"params": rest, "lr": o.lr_g}],
        }
        if not g.freeze_parser:
            own = {"params": list(g.parser.parameters()), "lr": o.lr_parser}
            if self._parser_apart:
                groups["parser"] = [own]
            else:
                groups["g"].append(own)
        return groups

    @property
    def _parser_apart(self) -> bool:
        """Whether the parser trains with an optimiser of its own (stepped with the generator)."""
        o = self.config.optim
        if self.config.model.get("freeze_parser"):
            return False
        return o.parser_optimizer != o.optimizer or self._has_stream

    def optimizer_kind(self, name: str) -> str:
        o = self.config.optim
        return o.parser_optimizer if name == "parser" else o.optimizer

    @property
    def phases(self) -> list[Phase]:
        phases = super().phases
        if self._parser_apart:
            d, g = phases
            phases = [d, Phase(g.name, g.every, g.loss, also=("parser",))]
        if self._has_stream:
            every = self.config.data.parser_every
            phases.append(Phase("parser", every, self.parser_stream_loss, stream="parser"))
        return phases

    def parser_stream_loss(self, s):
        """The parser's own objective on a batch of its mask stream (run through the
        generator, so that its gradients are averaged over processes like the rest)."""
        heads = s.nets["generator"](s.batch["image"], parse_only=True)
        mask, allowed = parser_targets(s.batch["mask"], self.config.data.partial_labels)
        seg, main = parser_loss(
            unwrap(s.nets["generator"]).parser.objective, heads, mask, s.weights, allowed
        )
        return s.weights["seg"] * seg, {"seg_stream": main.detach()}

    def d_loss(self, s):
        g = unwrap(s.nets["generator"])
        with torch.no_grad():
            masks = g.masks_from_logits(g.parse(s.batch["image"]))
            fake = g.edit(s.batch["image"], s.batch["c_trg"], masks)[0]
        return hierarchy_d_loss(s.nets["discriminator"], fake, masks, s)

    def g_loss(self, s):
        g, b, w = s.nets["generator"], s.batch, s.weights
        out = g(b["image"], b["c_trg"], explain=True, **self._forward_kwargs(s))
        # the cycle's gradient reaches the parser at the same scale as the other GAN terms
        rec = g(out.image, b["c_org"], explain=True, parser_gan_scale=w["parser_gan"])
        total, terms = hierarchy_g_loss(s.nets["discriminator"], out, rec, s)
        parser = unwrap(g).parser
        if "mask" in b and not unwrap(g).freeze_parser and w["seg"] > 0:
            # the parser keeps its own objective (OHEM on BiSeNet's three heads), so joint
            # training optimises what training alone did, plus the scaled GAN gradient
            mask, allowed = parser_targets(b["mask"], self.config.data.partial_labels)
            heads = out.extras["parser_heads"]
            seg, main = parser_loss(parser.objective, heads, mask, w, allowed)
            total = total + w["seg"] * seg
            terms["seg"] = main.detach()
        return total, terms

    def _forward_kwargs(self, s: Step) -> dict:
        return {"parser_gan_scale": s.weights["parser_gan"], "parser_aux": True}


class BoxHGANTask(HierarchyTask):
    name = "boxhgan"
    item_keys = ("image", "expression", "landmarks")
    architecture = "boxhgan"
    paper = "Wu et al., Cascade EF-GAN, CVPR 2020 (landmark-box hierarchy baseline)"

    def d_loss(self, s):
        g = unwrap(s.nets["generator"])
        with torch.no_grad():
            out = g.explain(s.batch["image"], s.batch["c_trg"], s.batch["landmarks"])
        return hierarchy_d_loss(s.nets["discriminator"], out.image, out.region_masks, s)

    def g_loss(self, s):
        g, b = s.nets["generator"], s.batch
        out = g(b["image"], b["c_trg"], b["landmarks"], explain=True)
        rec = g(out.image, b["c_org"], b["landmarks"], explain=True)
        return hierarchy_g_loss(s.nets["discriminator"], out, rec, s)
