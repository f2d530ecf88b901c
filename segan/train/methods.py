"""What each method trains: its networks, optimiser groups, update phases and losses.

The trainer is one loop for every method. A method (a `Task`) supplies:
- `networks()`: its networks by role ("generator" + "discriminator", or "model"), which
  `build()` returns after loading any trained folders the config names (`START_FROM`);
- `phases`: which optimiser updates at which step (`n_critic` for GANs);
- the losses of each phase as free functions returning `(total, terms)`;
- what gets published (the EMA generator or the model) and its sample grid.
Loss weights default to the papers' (see each `LOSS` table) and are overridden by `loss.*`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segan.labels import (
    AU_MAX_INTENSITY,
    EXPRESSION_AUS,
    EXPRESSIONS,
    NUM_EXPRESSIONS,
    PRESET_AU_INTENSITY,
)
from segan.models.base import REGISTRY, EditOutput, SeganModel
from segan.models.discriminators import PatchDiscriminator
from segan.models.hierarchical import HierarchicalDiscriminator
from segan.train import losses as L
from segan.train.augment import augment_parts
from segan.train.config import ConfigError, DataConfig, TrainConfig
from segan.train.data import parser_stream
from segan.visualize import colorize_mask, grid, to_uint8

Terms = dict[str, torch.Tensor]


@dataclass
class Phase:
    """One update: the optimiser it steps (and any others stepped with it), how often, its
    loss, and the data stream its batches come from ("main": data.*; others: Task.streams)."""

    name: str
    every: int
    loss: Callable[[Step], tuple[torch.Tensor, Terms]]
    also: tuple[str, ...] = ()
    stream: str = "main"


@dataclass
class Step:
    """What a loss sees: the (prepared) networks, the batch, the weights, the step."""

    nets: dict[str, nn.Module]
    batch: dict[str, torch.Tensor]
    weights: dict[str, float]
    step: int
    scale: Callable[[torch.Tensor], torch.Tensor] | None = None  # fp16 loss scaling
    inv_scale: float = 1.0


def _kwargs_for(cls: type, kwargs: dict, section: str) -> dict:
    """kwargs checked against cls's constructor: an unknown one is a ConfigError."""
    params = inspect.signature(cls.__init__).parameters
    for key in kwargs:
        if key not in params or key == "self":
            known = ", ".join(p for p in params if p != "self")
            raise ConfigError(f"{section}.{key}: not an argument of {cls.__name__} ({known})")
    return dict(kwargs)


class Task:
    """Base of every method."""

    name = ""
    paper = ""
    LOSS: ClassVar[dict[str, float]] = {}
    architecture = ""
    find_unused_parameters = False
    gan = True
    can_freeze_bn = False  # optim.freeze_bn: parsers trained alone only
    # data.flip / data.jitter: only tasks whose labels are part masks alone (a mirrored face
    # would need its landmarks and action units mirrored too)
    can_augment = False
    parser_stream = False  # reads data.parser_dataset: a second stream of masks for its parser
    # Config keys naming trained model folders (a path, a Hub id or bundled:NAME) that
    # networks start from instead of their random init, as (section, key) -> (role,
    # sub-network; "" for the whole network). model.init_weights fine-tunes a published
    # model; discriminator.init_weights starts the critic from an exported one.
    START_FROM: ClassVar[dict[tuple[str, str], tuple[str, str]]] = {
        ("model", "init_weights"): ("generator", ""),
        ("discriminator", "init_weights"): ("discriminator", ""),
    }

    def __init__(self, config: TrainConfig):
        self.config = config
        unknown = sorted(set(config.loss) - set(self.LOSS))
        if unknown:
            raise ConfigError(
                f"loss.{unknown[0]}: not a loss term of {self.name} "
                f"(terms: {', '.join(sorted(self.LOSS)) or 'none'})"
            )
        self.weights = {**self.LOSS, **config.loss}
        if config.optim.freeze_bn and not self.can_freeze_bn:
            raise ConfigError(
                f"optim.freeze_bn: only for a parser trained alone, not {self.name} "
                "(seghgan keeps its parser's batch norm fixed with model.freeze_parser_bn)"
            )
        if (config.data.flip or config.data.jitter) and not self.can_augment:
            raise ConfigError(
                f"data.flip / data.jitter: only for a parser trained alone, not {self.name} "
                "(its landmarks and action units are not mirrored or moved)"
            )
        if config.data.parser_dataset is not None and not self.parser_stream:
            raise ConfigError(
                f"data.parser_dataset: only a GAN that trains a parser inside it (seghgan) "
                f"reads a parser stream, not {self.name}; a parser alone trains on "
                "data.dataset"
            )
        self.resolution = config.data.resolution
        self.start_from: dict[tuple[str, str], str] = {
            (sec, key): folder
            for sec, key in self.START_FROM
            if (folder := getattr(config, sec).get(key))
        }

    def data_needs(self) -> dict[str, str]:
        """Item keys the configured losses read beyond the method's own (data.METHOD_KEYS),
        each with the setting that asks for it."""
        return {}

    def streams(self) -> dict[str, tuple[DataConfig, int]]:
        """Data streams besides the main one that phases read (Phase.stream), each with its
        data config and batch size."""
        return {}

    # --- networks ----------------------------------------------------------------------
    def _section(self, section: str) -> dict:
        """A config section without its start-from keys (kept in self.start_from)."""
        skip = {key for sec, key in self.START_FROM if sec == section}
        return {k: v for k, v in getattr(self.config, section).items() if k not in skip}

    def model_kwargs(self) -> dict:
        kwargs = _kwargs_for(REGISTRY[self.architecture], self._section("model"), "model")
        if "image_size" in inspect.signature(REGISTRY[self.architecture].__init__).parameters:
            kwargs.setdefault("image_size", self.resolution)
        return kwargs

    def networks(self) -> dict[str, nn.Module]:
        """The method's networks by role, freshly initialised."""
        raise NotImplementedError

    def build(self) -> dict[str, nn.Module]:
        """The networks, each starting from the trained folder the config names, if any."""
        nets = self.networks()
        self._start_from_trained(nets)
        return nets

    def _start_from_trained(self, nets: dict[str, nn.Module]) -> None:
        """Load each start-from folder into the network (or sub-network) it names."""
        import segan

        for (section, key), folder in self.start_from.items():
            role, name = self.START_FROM[(section, key)]
            part = getattr(nets[role], name) if name else nets[role]
            trained = segan.load(folder)
            where = f"{role}'s {name}" if name else role
            misfit = (
                f"{section}.{key}={folder}: its {type(trained).__name__} does not fit this "
                f"{where} ({type(part).__name__}; set the same widths and depth)"
            )
            try:
                missing, unexpected = part.load_state_dict(trained.state_dict(), strict=False)
            except RuntimeError as err:
                raise ConfigError(f"{misfit}: {str(err).splitlines()[0]}") from err
            # a part may have heads the trained model lacks (an attentive global branch
            # started from a plain StarGAN): those, and only those, keep their init
            missing = sorted(set(missing) - set(getattr(part, "fresh_on_transfer", ())))
            if missing or unexpected:
                raise ConfigError(
                    f"{misfit}: missing keys {missing[:3]}, unexpected keys {unexpected[:3]}"
                )

    def param_groups(self, nets: dict[str, nn.Module]) -> dict[str, list[dict]]:
        """Parameters of each optimiser (with per-group learning-rate factors)."""
        o = self.config.optim
        if not self.gan:
            return {"model": [{"params": list(nets["model"].parameters()), "lr": o.lr_g}]}
        return {
            "d": [{"params": list(nets["discriminator"].parameters()), "lr": o.lr_d}],
            "g": [{"params": list(nets["generator"].parameters()), "lr": o.lr_g}],
        }

    def optimizer_kind(self, name: str) -> str:
        """adam or sgd for the optimiser of `name` in param_groups."""
        return self.config.optim.optimizer

    @property
    def phases(self) -> list[Phase]:
        if not self.gan:
            return [Phase("model", 1, self.model_loss)]
        return [Phase("d", 1, self.d_loss), Phase("g", self.config.optim.n_critic, self.g_loss)]

    def published(self, nets: dict[str, nn.Module]) -> str:
        """The role whose weights the run publishes (its EMA copy when there is one)."""
        return "generator" if self.gan else "model"

    # --- data --------------------------------------------------------------------------
    def prepare(self, batch: dict[str, torch.Tensor], gen: torch.Generator) -> dict:
        """Add what the losses need (targets) to a batch; `gen` makes it deterministic."""
        return batch

    # --- losses ------------------------------------------------------------------------
    def d_loss(self, s: Step) -> tuple[torch.Tensor, Terms]:
        raise NotImplementedError

    def g_loss(self, s: Step) -> tuple[torch.Tensor, Terms]:
        raise NotImplementedError

    def model_loss(self, s: Step) -> tuple[torch.Tensor, Terms]:
        raise NotImplementedError

    # --- pictures ----------------------------------------------------------------------
    def samples(self, model: nn.Module, fixed: dict[str, torch.Tensor]) -> np.ndarray | None:
        return None


def _one_hot(index: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(index, n).float()


def _random_labels(n: int, classes: int, gen: torch.Generator, device) -> torch.Tensor:
    return torch.randint(0, classes, (n,), generator=gen).to(device)


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

    def networks(self) -> dict[str, nn.Module]:
        kwargs = self.model_kwargs()
        kwargs.setdefault("labels", list(EXPRESSIONS))
        generator = REGISTRY[self.architecture](**kwargs)
        d_kwargs = _kwargs_for(PatchDiscriminator, self._section("discriminator"), "discriminator")
        d_kwargs.setdefault("image_size", self.resolution)
        d_kwargs.setdefault("num_outputs", len(generator.labels))
        d_kwargs.setdefault("repeat_num", _repeat_for(self.resolution))
        return {"generator": generator, "discriminator": PatchDiscriminator(**d_kwargs)}

    def prepare(self, batch, gen):
        n, device = batch["image"].shape[0], batch["image"].device
        batch["label"] = batch["expression"]
        batch["target"] = _random_labels(n, NUM_EXPRESSIONS, gen, device)
        batch["c_org"] = _one_hot(batch["label"], NUM_EXPRESSIONS)
        batch["c_trg"] = _one_hot(batch["target"], NUM_EXPRESSIONS)
        return batch

    def d_loss(self, s):
        w = s.weights
        return label_d_loss(s.nets["discriminator"], s.nets["generator"], s, w["gp"], w["cls"])

    def g_loss(self, s):
        w = s.weights
        return label_g_loss(s.nets["discriminator"], s.nets["generator"], s, w["cls"], w["rec"])

    def samples(self, model, fixed):
        return _label_grid(model, fixed["image"])


def _repeat_for(resolution: int) -> int:
    """PatchGAN depth: 6 at 128 px (a 2x2 critic map), fewer for small tests."""
    depth = 0
    while resolution // 2 ** (depth + 1) >= 2 and depth < 6:
        depth += 1
    return depth


@torch.no_grad()
def _label_grid(model: nn.Module, images: torch.Tensor, extra=None) -> np.ndarray:
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

    def networks(self) -> dict[str, nn.Module]:
        generator = REGISTRY[self.architecture](**self.model_kwargs())
        d_kwargs = _kwargs_for(PatchDiscriminator, self._section("discriminator"), "discriminator")
        d_kwargs.setdefault("image_size", self.resolution)
        d_kwargs.setdefault("num_outputs", len(generator.aus))
        d_kwargs.setdefault("repeat_num", _repeat_for(self.resolution))
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
    inner = _unwrap(d)
    return lambda x: inner.local_d[name](x)[0]


def _unwrap(module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)


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
        d_kwargs = _kwargs_for(
            HierarchicalDiscriminator, self._section("discriminator"), "discriminator"
        )
        d_kwargs.setdefault("image_size", self.resolution)
        d_kwargs.setdefault("num_labels", len(generator.labels))
        d_kwargs.setdefault("regions", list(generator.region_names))
        d_kwargs.setdefault("repeat_num", _repeat_for(self.resolution))
        d_kwargs.setdefault("local_repeat_num", max(_repeat_for(self.resolution) - 1, 1))
        return {"generator": generator, "discriminator": HierarchicalDiscriminator(**d_kwargs)}

    def samples(self, model, fixed):
        """The label grid, then a row with each input's region masks."""
        x = fixed["image"]
        labels = torch.arange(x.shape[0], device=x.device) % NUM_EXPRESSIONS
        out = model.explain(x, _one_hot(labels, NUM_EXPRESSIONS))
        masks = out.region_masks.sum(1, keepdim=True).clamp(max=1).expand(-1, 3, -1, -1)
        extra = to_uint8(masks * 2 - 1)
        fill = (-extra.shape[0]) % (NUM_EXPRESSIONS + 1)
        blank = np.full((fill, *extra.shape[1:]), 255, np.uint8)
        return _label_grid(model, x, extra=np.concatenate([extra, blank]))


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
    }

    parser_stream = True

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
        seg, main = parser_loss(
            _unwrap(s.nets["generator"]).parser.objective, heads, s.batch["mask"], s.weights
        )
        return s.weights["seg"] * seg, {"seg_stream": main.detach()}

    def d_loss(self, s):
        g = _unwrap(s.nets["generator"])
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
        parser = _unwrap(g).parser
        if "mask" in b and not _unwrap(g).freeze_parser and w["seg"] > 0:
            # the parser keeps its own objective (OHEM on BiSeNet's three heads), so joint
            # training optimises what training alone did, plus the scaled GAN gradient
            seg, main = parser_loss(parser.objective, out.extras["parser_heads"], b["mask"], w)
            total = total + w["seg"] * seg
            terms["seg"] = main.detach()
        return total, terms

    def _forward_kwargs(self, s: Step) -> dict:
        return {"parser_gan_scale": s.weights["parser_gan"], "parser_aux": True}


class BoxHGANTask(HierarchyTask):
    name = "boxhgan"
    architecture = "boxhgan"
    paper = "Wu et al., Cascade EF-GAN, CVPR 2020 (landmark-box hierarchy baseline)"

    def d_loss(self, s):
        g = _unwrap(s.nets["generator"])
        with torch.no_grad():
            out = g.explain(s.batch["image"], s.batch["c_trg"], s.batch["landmarks"])
        return hierarchy_d_loss(s.nets["discriminator"], out.image, out.region_masks, s)

    def g_loss(self, s):
        g, b = s.nets["generator"], s.batch
        out = g(b["image"], b["c_trg"], b["landmarks"], explain=True)
        rec = g(out.image, b["c_org"], b["landmarks"], explain=True)
        return hierarchy_g_loss(s.nets["discriminator"], out, rec, s)


# --- supervised: parsers and evaluators ----------------------------------------------------


def parser_loss(
    objective: str, heads: list[torch.Tensor], mask: torch.Tensor, w: dict[str, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A parser's own objective (`Parser.objective`), returning (total, main-head loss):
    "ohem", OHEM cross-entropy on the main head plus `aux` times the auxiliary heads (BiSeNet,
    face-parsing.PyTorch); "cross_entropy" on the one head (the UNet, CelebAMask-HQ). `dice`
    adds that weight of the main head's soft-Dice loss (0 in both papers' recipes)."""
    if objective == "ohem":
        per = [L.ohem_segmentation(h, mask, w.get("ohem_thresh", 0.7)) for h in heads]
        total, main = per[0] + w.get("aux", 1.0) * sum(per[1:]), per[0]
    else:
        total = main = L.segmentation(heads[0], mask)
    if w.get("dice", 0.0):
        total = total + w["dice"] * L.soft_dice(heads[0], mask)
    return total, main


class ParserTask(Task):
    """A face parser alone on labelled masks (BiSeNet: OHEM on its three heads)."""

    gan = False
    can_freeze_bn = True
    can_augment = True
    LOSS: ClassVar[dict[str, float]] = {"aux": 1.0, "ohem_thresh": 0.7, "dice": 0.0}
    START_FROM: ClassVar[dict[tuple[str, str], tuple[str, str]]] = {
        ("model", "init_weights"): ("model", "")
    }

    def networks(self):
        kwargs = _kwargs_for(REGISTRY[self.architecture], self._section("model"), "model")
        model = REGISTRY[self.architecture](**kwargs)
        model.freeze_bn = self.config.optim.freeze_bn
        return {"model": model}

    def model_loss(self, s):
        model, b, w = s.nets["model"], s.batch, s.weights
        data = self.config.data
        image, mask = augment_parts(b["image"], b["mask"], data.flip, data.jitter)
        heads = model(image, aux=True)
        total, main = parser_loss(_unwrap(model).objective, heads, mask, w)
        return total, {"seg": main.detach()}

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
    LOSS: ClassVar[dict[str, float]] = {"dice": 0.0}


class ClassifierTask(Task):
    """The expression classifier used as an evaluator."""

    name = "classifier"
    architecture = "expression-classifier"
    paper = "He et al., ResNet-18 (segan's expression evaluator)"
    gan = False
    START_FROM = ParserTask.START_FROM

    def networks(self):
        kwargs = _kwargs_for(REGISTRY[self.architecture], self._section("model"), "model")
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
    architecture = "au-regressor"
    paper = "He et al., ResNet-18 (segan's AU evaluator)"

    def model_loss(self, s):
        pred = s.nets["model"](s.batch["image"])
        loss = L.au_regression(pred / AU_MAX_INTENSITY, s.batch["aus"] / AU_MAX_INTENSITY)
        mae = (pred - s.batch["aus"]).abs().mean()
        return loss, {"mse": loss.detach(), "mae": mae.detach()}


TASKS: dict[str, type[Task]] = {}


def register(*tasks: type[Task]) -> None:
    for t in tasks:
        TASKS[t.name] = t


register(
    StarGANTask,
    SARGANTask,
    GANimationTask,
    FineGrainedTask,
    SegHGANTask,
    BoxHGANTask,
    BiSeNetTask,
    UNetTask,
    ClassifierTask,
    RegressorTask,
)


def make_task(config: TrainConfig) -> Task:
    """The method a config names, validated (unknown losses or model kwargs stop here)."""
    if config.method not in TASKS:
        raise ConfigError(f"method: unknown {config.method!r}; known: {', '.join(sorted(TASKS))}")
    return TASKS[config.method](config)


__all__ = ["TASKS", "HierarchicalDiscriminator", "Phase", "SeganModel", "Step", "Task"]
