"""A method as the trainer sees it: its networks, optimiser groups, update phases and losses
(`Task`), one update's inputs (`Step`) and which optimiser updates when (`Phase`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segan.models.base import REGISTRY
from segan.models.hub import load
from segan.train.config import ConfigError, DataConfig, TrainConfig

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


def kwargs_for(cls: type, kwargs: dict, section: str) -> dict:
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
    # the item keys every batch of its data holds (losses may read more: `data_needs`)
    item_keys: ClassVar[tuple[str, ...]] = ("image",)
    paper = ""
    LOSS: ClassVar[dict[str, float]] = {}
    architecture = ""
    find_unused_parameters = False
    gan = True
    can_freeze_bn = False  # optim.freeze_bn: parsers trained alone only
    # data.flip / data.jitter: only tasks whose labels are part masks alone (a mirrored face
    # would need its landmarks and action units mirrored too)
    can_augment = False
    # data.partial_labels: tasks that train a parser on part masks (segan.partial_labels)
    trains_parser = False
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
        if config.data.partial_labels and not self.trains_parser:
            raise ConfigError(
                "data.partial_labels: only for a task that trains a parser on part masks "
                f"(bisenet, unet, seghgan), not {self.name}"
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
        """Item keys the configured losses read beyond the method's own (`item_keys`),
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
        kwargs = kwargs_for(REGISTRY[self.architecture], self._section("model"), "model")
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
        for (section, key), folder in self.start_from.items():
            role, name = self.START_FROM[(section, key)]
            part = getattr(nets[role], name) if name else nets[role]
            trained = load(folder)
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


def one_hot(index: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(index, n).float()


def random_labels(n: int, classes: int, gen: torch.Generator, device) -> torch.Tensor:
    return torch.randint(0, classes, (n,), generator=gen).to(device)


def repeat_for(resolution: int) -> int:
    """PatchGAN depth: 6 at 128 px (a 2x2 critic map), fewer for small tests."""
    depth = 0
    while resolution // 2 ** (depth + 1) >= 2 and depth < 6:
        depth += 1
    return depth


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the network itself)."""
    return getattr(module, "module", module)
