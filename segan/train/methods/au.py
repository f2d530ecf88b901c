"""The AU-conditioned GANs: GANimation (absolute target AUs) and the fine-grained model
(relative AUs)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from segan.labels import (
    AU_MAX_INTENSITY,
    EXPRESSION_AUS,
    NUM_EXPRESSIONS,
    PRESET_AU_INTENSITY,
)
from segan.models.base import REGISTRY, EditOutput
from segan.models.discriminators import PatchDiscriminator
from segan.train import losses as L
from segan.train.methods.task import Step, Task, Terms, kwargs_for, repeat_for
from segan.visualize import grid, to_uint8

# --- AU-conditioned GANs: GANimation, fine-grained -------------------------------------------


def au_targets(aus: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Target AUs / 5: another image's AUs plus U(-0.1, 0.1) noise (GANimation)."""
    n = aus.shape[0]
    shift = int(torch.randint(1, max(n, 2), (1,), generator=gen)) if n > 1 else 0
    other = torch.roll(aus, shifts=shift, dims=0)
    noise = (torch.rand(other.shape, generator=gen) * 0.2 - 0.1).to(aus.device)
    return (other + noise).clamp(0.0, 1.0)


class AUGAN(Task):
    """Shared by the AU-conditioned editors: AU targets, AU-regression critic."""

    item_keys = ("image", "aus")

    def networks(self) -> dict[str, nn.Module]:
        generator = REGISTRY[self.architecture](**self.model_kwargs())
        d_kwargs = kwargs_for(PatchDiscriminator, self._section("discriminator"), "discriminator")
        d_kwargs.setdefault("image_size", self.resolution)
        d_kwargs.setdefault("num_outputs", len(generator.aus))
        d_kwargs.setdefault("repeat_num", repeat_for(self.resolution))
        d_kwargs.setdefault("head", "regress")
        d_kwargs.update(self.discriminator_defaults)
        return {"generator": generator, "discriminator": PatchDiscriminator(**d_kwargs)}

    discriminator_defaults: ClassVar[dict] = {}

    def prepare(self, batch, gen):
        batch["aus_org"] = batch["aus"] / AU_MAX_INTENSITY
        batch["aus_trg"] = au_targets(batch["aus_org"], gen)
        return batch

    def samples(self, model, fixed):
        return _au_grid(model, fixed, relative=model.condition_kind == "relative_aus")


@torch.no_grad()
def _au_grid(model: nn.Module, fixed: dict, relative: bool) -> np.ndarray:
    """Rows: each input, then its edit to every expression's prototype AUs (at the preset
    intensity), relative to the input's AUs for an editor conditioned on AU changes."""
    images, src = fixed["image"], fixed["aus"] / AU_MAX_INTENSITY
    targets = (EXPRESSION_AUS * PRESET_AU_INTENSITY / AU_MAX_INTENSITY).to(images.device)
    rows, attention = [], []
    for i in range(images.shape[0]):
        x = images[i : i + 1].expand(NUM_EXPRESSIONS, -1, -1, -1)
        cond = targets - src[i : i + 1] if relative else targets
        out = model.explain(x, cond)
        rows.append(torch.cat([images[i : i + 1], out.image]))
        if out.attention is not None:
            a = out.attention.expand(-1, 3, -1, -1) * 2 - 1
            attention.append(torch.cat([torch.ones_like(images[i : i + 1]), a]))
    tiles = to_uint8(torch.cat(rows + attention))
    return grid(tiles, NUM_EXPRESSIONS + 1)


def au_d_loss(s: Step, condition: torch.Tensor) -> tuple[torch.Tensor, Terms]:
    """WGAN-GP critic with AU regression of the real images (GANimation, fine-grained);
    `condition` is what the generator is given for the fakes (absolute or relative AUs)."""
    d, g, b, w = s.nets["discriminator"], s.nets["generator"], s.batch, s.weights
    with torch.no_grad():
        fake = g(b["image"], condition)
    real_score, real_aus = d(b["image"])
    fake_score, _ = d(fake)
    adv = L.wasserstein_d(real_score, fake_score)
    cond = L.au_regression(real_aus, b["aus_org"])
    gp = L.gradient_penalty(lambda x: d(x)[0], b["image"], fake, s.scale, s.inv_scale)
    total = adv + w["cond"] * cond + w["gp"] * gp
    return total, {"d_adv": adv.detach(), "d_cond": cond.detach(), "gp": gp.detach()}


def attention_terms(fake: EditOutput, rec: EditOutput) -> tuple[torch.Tensor, torch.Tensor]:
    """GANimation's attention terms over both passes: the mean of A and its total variation
    (summed, as in the original)."""
    attention = torch.cat([fake.attention, rec.attention])
    return attention.mean(), L.total_variation(attention, reduction="sum")


class GANimationTask(AUGAN):
    name = "ganimation"
    architecture = "ganimation"
    paper = "Pumarola et al., GANimation, ECCV 2018"
    # cond: GANimation's 4000 applies to a batch-summed MSE at batch 25: 160 per mean MSE.
    LOSS: ClassVar[dict[str, float]] = {
        "gp": 10.0,
        "cond": 160.0,
        "cyc": 10.0,
        "mask": 0.1,
        "mask_smooth": 1e-5,
        # not in the paper (0: off): L1 between the input and its edit towards its own AUs,
        # the fine-grained model's null-edit term, so that an edit keeps what it is not asked
        # to move
        "rec": 0.0,
    }

    def d_loss(self, s):
        return au_d_loss(s, s.batch["aus_trg"])

    def g_loss(self, s):
        d, g, b, w = s.nets["discriminator"], s.nets["generator"], s.batch, s.weights
        out = g(b["image"], b["aus_trg"], explain=True)
        score, aus = d(out.image)
        back = g(out.image, b["aus_org"], explain=True)
        adv = L.wasserstein_g(score)
        cond = L.au_regression(aus, b["aus_trg"])
        cyc = L.l1(back.image, b["image"])
        mask, smooth = attention_terms(out, back)
        total = (
            adv + w["cond"] * cond + w["cyc"] * cyc + w["mask"] * mask + w["mask_smooth"] * smooth
        )
        terms = {"g_adv": adv, "g_cond": cond, "cyc": cyc, "mask": mask, "mask_tv": smooth}
        if w["rec"] > 0:
            terms["rec"] = L.l1(g(b["image"], b["aus_org"]), b["image"])
            total = total + w["rec"] * terms["rec"]
        return total, {k: v.detach() for k, v in terms.items()}


class FineGrainedTask(AUGAN):
    name = "finegrained"
    architecture = "finegrained"
    paper = "Ling et al., Toward Fine-grained Facial Expression Manipulation, ECCV 2020"
    LOSS: ClassVar[dict[str, float]] = {
        "gp": 10.0,
        "cond": 150.0,
        "rec": 30.0,
        "cyc": 30.0,
        "tv": 1e-5,
    }
    discriminator_defaults: ClassVar[dict] = {"first_kernel": 5, "bias": False}

    def d_loss(self, s):
        return au_d_loss(s, s.batch["aus_trg"] - s.batch["aus_org"])

    def g_loss(self, s):
        d, g, b, w = s.nets["discriminator"], s.nets["generator"], s.batch, s.weights
        rel = b["aus_trg"] - b["aus_org"]
        fake = g(b["image"], rel)
        score, aus = d(fake)
        adv = L.wasserstein_g(score)
        cond = L.au_regression(aus, b["aus_trg"])
        rec = L.l1(g(b["image"], torch.zeros_like(rel)), b["image"])
        cyc = L.l1(g(fake, -rel), b["image"])
        tv = L.total_variation(fake, reduction="sum")
        total = adv + w["cond"] * cond + w["rec"] * rec + w["cyc"] * cyc + w["tv"] * tv
        terms = {"g_adv": adv, "g_cond": cond, "rec": rec, "cyc": cyc, "tv": tv}
        return total, {k: v.detach() for k, v in terms.items()}
