"""The label-conditioned GANs: StarGAN and SARGAN (a target expression label)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from segan.labels import (
    EXPRESSIONS,
    NUM_EXPRESSIONS,
)
from segan.models.base import REGISTRY
from segan.models.discriminators import PatchDiscriminator
from segan.train import losses as L
from segan.train.methods.task import (
    Step,
    Task,
    Terms,
    kwargs_for,
    one_hot,
    random_labels,
    repeat_for,
)
from segan.visualize import grid, to_uint8

# --- label-conditioned GANs: StarGAN, SARGAN ----------------------------------------------


def label_d_loss(
    d: nn.Module, g: nn.Module, s: Step, gp_weight: float, cls_weight: float
) -> tuple[torch.Tensor, Terms]:
    """WGAN-GP critic with expression classification of the real images (StarGAN)."""
    b = s.batch
    with torch.no_grad():
        fake = g(b["image"], b["c_trg"])
    real_score, real_cls = d(b["image"])
    fake_score, _ = d(fake)
    adv = L.wasserstein_d(real_score, fake_score)
    cls = L.classification(real_cls, b["label"])
    gp = L.gradient_penalty(lambda x: d(x)[0], b["image"], fake, s.scale, s.inv_scale)
    total = adv + cls_weight * cls + gp_weight * gp
    return total, {"d_adv": adv.detach(), "d_cls": cls.detach(), "gp": gp.detach()}


def label_g_loss(
    d: nn.Module, g: nn.Module, s: Step, cls_weight: float, rec_weight: float
) -> tuple[torch.Tensor, Terms]:
    """Adversarial + target classification + cycle reconstruction (StarGAN)."""
    b = s.batch
    fake = g(b["image"], b["c_trg"])
    score, cls_logits = d(fake)
    adv = L.wasserstein_g(score)
    cls = L.classification(cls_logits, b["target"])
    rec = L.l1(g(fake, b["c_org"]), b["image"])
    total = adv + cls_weight * cls + rec_weight * rec
    return total, {"g_adv": adv.detach(), "g_cls": cls.detach(), "rec": rec.detach()}


class LabelGAN(Task):
    """StarGAN-style training for label-conditioned editors."""

    item_keys = ("image", "expression")

    def networks(self) -> dict[str, nn.Module]:
        kwargs = self.model_kwargs()
        kwargs.setdefault("labels", list(EXPRESSIONS))
        generator = REGISTRY[self.architecture](**kwargs)
        d_kwargs = kwargs_for(PatchDiscriminator, self._section("discriminator"), "discriminator")
        d_kwargs.setdefault("image_size", self.resolution)
        d_kwargs.setdefault("num_outputs", len(generator.labels))
        d_kwargs.setdefault("repeat_num", repeat_for(self.resolution))
        return {"generator": generator, "discriminator": PatchDiscriminator(**d_kwargs)}

    def prepare(self, batch, gen):
        n, device = batch["image"].shape[0], batch["image"].device
        batch["label"] = batch["expression"]
        batch["target"] = random_labels(n, NUM_EXPRESSIONS, gen, device)
        batch["c_org"] = one_hot(batch["label"], NUM_EXPRESSIONS)
        batch["c_trg"] = one_hot(batch["target"], NUM_EXPRESSIONS)
        return batch

    def d_loss(self, s):
        w = s.weights
        return label_d_loss(s.nets["discriminator"], s.nets["generator"], s, w["gp"], w["cls"])

    def g_loss(self, s):
        w = s.weights
        return label_g_loss(s.nets["discriminator"], s.nets["generator"], s, w["cls"], w["rec"])

    def samples(self, model, fixed):
        return label_grid(model, fixed["image"])


@torch.no_grad()
def label_grid(model: nn.Module, images: torch.Tensor, extra=None) -> np.ndarray:
    """Rows: each input, then its edit to every expression (then extra rows)."""
    rows = []
    for i in range(images.shape[0]):
        x = images[i : i + 1].expand(NUM_EXPRESSIONS, -1, -1, -1)
        edits = model(x, torch.eye(NUM_EXPRESSIONS, device=images.device))
        rows.append(torch.cat([images[i : i + 1], edits]))
    tiles = to_uint8(torch.cat(rows))
    if extra is not None:
        tiles = np.concatenate([tiles, extra])
    return grid(tiles, NUM_EXPRESSIONS + 1)


class StarGANTask(LabelGAN):
    name = "stargan"
    architecture = "stargan"
    paper = "Choi et al., StarGAN, CVPR 2018"
    LOSS: ClassVar[dict[str, float]] = {"gp": 10.0, "cls": 1.0, "rec": 10.0}


class SARGANTask(LabelGAN):
    name = "sargan"
    architecture = "sargan"
    paper = "Akram and Khan, SARGAN, IEEE TCSVT 2023"
    LOSS: ClassVar[dict[str, float]] = {"gp": 10.0, "cls": 1.0, "rec": 1.0}  # released code
