"""The supervised models: the parsers and the evaluators (expression classifier, AU regressor)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from segan.labels import (
    AU_MAX_INTENSITY,
)
from segan.models.base import REGISTRY
from segan.partial_labels import allowed_classes, hard_labels, mark_outside
from segan.train import losses as L
from segan.train.augment import augment_parts
from segan.train.methods.task import Task, kwargs_for, unwrap
from segan.visualize import colorize_mask, grid, to_uint8

# --- supervised: parsers and evaluators ----------------------------------------------------


def parser_loss(
    objective: str,
    heads: list[torch.Tensor],
    mask: torch.Tensor,
    w: dict[str, float],
    allowed: dict[int, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A parser's own objective (`Parser.objective`), returning (total, main-head loss):
    "ohem", OHEM cross-entropy on the main head plus `aux` times the auxiliary heads (BiSeNet,
    face-parsing.PyTorch); "cross_entropy" on the one head (the UNet, CelebAMask-HQ). `dice`
    adds that weight of the main head's soft-Dice loss (0 in both papers' recipes). With
    `allowed` (`segan.partial_labels`), the mask's partial labels add `outside` times their
    loss on every head, weighted as the cross-entropy weighs the heads; without it they count
    as unknown."""
    hard = hard_labels(mask)
    aux = w.get("aux", 1.0) if objective == "ohem" else 0.0
    if objective == "ohem":
        per = [L.ohem_segmentation(h, hard, w.get("ohem_thresh", 0.7)) for h in heads]
        total, main = per[0] + aux * sum(per[1:]), per[0]
    else:
        total = main = L.segmentation(heads[0], hard)
    if w.get("dice", 0.0):
        total = total + w["dice"] * L.soft_dice(heads[0], hard)
    if allowed and w.get("outside", 0.0):
        per = [L.partial_nll(h, mask, allowed) for h in heads[: len(heads) if aux else 1]]
        total = total + w["outside"] * (per[0] + aux * sum(per[1:]))
    return total, main


def parser_targets(
    mask: torch.Tensor, partial: bool
) -> tuple[torch.Tensor, dict[int, torch.Tensor] | None]:
    """A batch's masks for `parser_loss`, and the class sets of their partial labels: with
    `partial` (data.partial_labels) the unknown pixels outside each face are marked
    (`segan.partial_labels.mark_outside`), else the masks are as read and no sets."""
    if not partial:
        return mask, None
    return mark_outside(mask), allowed_classes(mask.device)


class ParserTask(Task):
    """A face parser alone on labelled masks (BiSeNet: OHEM on its three heads)."""

    item_keys = ("image", "mask")

    gan = False
    can_freeze_bn = True
    can_augment = True
    trains_parser = True
    LOSS: ClassVar[dict[str, float]] = {
        "aux": 1.0,
        "ohem_thresh": 0.7,
        "dice": 0.0,
        "outside": 1.0,
    }
    START_FROM: ClassVar[dict[tuple[str, str], tuple[str, str]]] = {
        ("model", "init_weights"): ("model", "")
    }

    def networks(self):
        kwargs = kwargs_for(REGISTRY[self.architecture], self._section("model"), "model")
        model = REGISTRY[self.architecture](**kwargs)
        model.freeze_bn = self.config.optim.freeze_bn
        return {"model": model}

    def model_loss(self, s):
        model, b, w = s.nets["model"], s.batch, s.weights
        data = self.config.data
        mask, allowed = parser_targets(b["mask"], data.partial_labels)
        image, mask = augment_parts(b["image"], mask, data.flip, data.jitter)
        heads = model(image, aux=True)
        total, main = parser_loss(unwrap(model).objective, heads, mask, w, allowed)
        return total, {"seg": main.detach(), "total": total.detach()}

    def samples(self, model, fixed):
        pred = model(fixed["image"]).argmax(1)
        tiles = np.concatenate(
            [to_uint8(fixed["image"]), colorize_mask(pred), colorize_mask(fixed["mask"])]
        )
        return grid(tiles, fixed["image"].shape[0])


class BiSeNetTask(ParserTask):
    name = "bisenet"
    architecture = "bisenet"
    paper = "Yu et al., BiSeNet, ECCV 2018 (face-parsing.PyTorch recipe)"


class UNetTask(ParserTask):
    name = "unet"
    architecture = "unet"
    paper = "Lee et al., MaskGAN / CelebAMask-HQ UNet, CVPR 2020"
    LOSS: ClassVar[dict[str, float]] = {"dice": 0.0, "outside": 1.0}


class ClassifierTask(Task):
    """The expression classifier used as an evaluator."""

    name = "classifier"
    item_keys = ("image", "expression")
    architecture = "expression-classifier"
    paper = "He et al., ResNet-18 (segan's expression evaluator)"
    gan = False
    START_FROM = ParserTask.START_FROM

    def networks(self):
        kwargs = kwargs_for(REGISTRY[self.architecture], self._section("model"), "model")
        kwargs.setdefault("image_size", self.resolution)
        return {"model": REGISTRY[self.architecture](**kwargs)}

    def model_loss(self, s):
        logits = s.nets["model"](s.batch["image"])
        loss = L.classification(logits, s.batch["expression"])
        accuracy = (logits.argmax(1) == s.batch["expression"]).float().mean()
        return loss, {"ce": loss.detach(), "acc": accuracy.detach()}


class RegressorTask(ClassifierTask):
    """The AU-intensity regressor used as an evaluator."""

    name = "regressor"
    item_keys = ("image", "aus")
    architecture = "au-regressor"
    paper = "He et al., ResNet-18 (segan's AU evaluator)"

    def model_loss(self, s):
        pred = s.nets["model"](s.batch["image"])
        loss = L.au_regression(pred / AU_MAX_INTENSITY, s.batch["aus"] / AU_MAX_INTENSITY)
        mae = (pred - s.batch["aus"]).abs().mean()
        return loss, {"mse": loss.detach(), "mae": mae.detach()}
