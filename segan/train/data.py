"""Training batches: a pure function of (step, micro-batch, rank), so runs resume exactly.

SynthFaces batches are rendered on the training device from item indices computed from the
step; every rank draws different items. The real datasets are read from a folder written by
`segan prepare` (memory-mapped crops, no JPEG decoding), with items drawn by the same rule from
a fixed permutation. Targets (labels or AUs to edit to) come from a generator seeded by the
same numbers.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from segan.data.cache import PreparedFaces, is_prepared
from segan.data.catalog import DATASETS as REAL_DATASETS
from segan.data.records import DataError
from segan.synth.dataset import SynthFaces
from segan.train.config import ConfigError, DataConfig

if TYPE_CHECKING:  # the methods import this module; a task is only passed in
    from segan.train.methods.task import Task

DATASETS = ("synthfaces", *REAL_DATASETS)


def _kind(dataset: str) -> str:
    """A dataset's name as a qualifier ("affectnet "), nothing for the generic "folder"."""
    return "" if dataset == "folder" else f"{dataset} "


def parser_stream(config: DataConfig) -> DataConfig | None:
    """The data of the parser's own stream of labelled masks (data.parser_dataset at
    data.parser_path, training split, a seed of its own), or None when there is none."""
    if config.parser_dataset is None:
        return None
    return dataclasses.replace(
        config,
        dataset=config.parser_dataset,
        path=config.parser_path,
        split="train",
        seed=config.seed + 1,
        parser_dataset=None,
        parser_path=None,
        synthfaces_share=0.0,
        balance=0.0,
        flip=0.0,
        jitter=0.0,
    )


def check_data(config: DataConfig, task: Task | None = None) -> None:
    """Stop before any work when the data a config names (and its parser stream's) cannot be
    trained on here: with `task`, the method that trains on it, also when the data lacks the
    item keys the method trains on (`task.item_keys`) or its configured losses read
    (`task.data_needs()`)."""
    needs = {} if task is None else task.data_needs()
    keys = () if task is None else task.item_keys
    _check_folder(config, task.name if task else None, keys, needs, "data.path")
    stream = parser_stream(config)
    if stream is not None:
        needs = {"mask": "data.parser_dataset"}
        _check_folder(stream, None, (), needs, "data.parser_path", "data.parser_dataset")


def _check_folder(
    config: DataConfig,
    method: str | None,
    keys: tuple[str, ...],
    needs: dict[str, str],
    path_key: str,
    dataset_key: str = "data.dataset",
) -> None:
    if config.dataset not in DATASETS:
        raise ConfigError(f"{dataset_key}: unknown dataset {config.dataset!r}; known: {DATASETS}")
    if config.dataset == "synthfaces":
        return  # renders every key
    if config.path is None:
        raise ConfigError(
            f"{path_key}: {config.dataset} is read from a prepared folder; run `segan prepare "
            f"{config.dataset} ROOT OUT --resolution {config.resolution}` and set {path_key}=OUT"
        )
    if not is_prepared(config.path):
        raise ConfigError(
            f"{path_key}={config.path} is not a prepared {_kind(config.dataset)}folder; run "
            f"`segan prepare {config.dataset} {config.path} OUT --resolution "
            f"{config.resolution}` and set {path_key}=OUT"
        )
    prepared = PreparedFaces(config.path)
    if prepared.resolution != config.resolution:
        raise ConfigError(
            f"data.resolution={config.resolution} but {path_key}={config.path} was prepared at "
            f"{prepared.resolution} px; set data.resolution={prepared.resolution} or prepare again"
        )
    missing = [k for k in keys if k not in prepared.keys]
    if missing:
        raise ConfigError(
            f"{path_key}={config.path}: {method} trains on {missing}, which this prepared "
            f"{prepared.name} lacks (it has {list(prepared.keys)})"
            + ("; prepare it with --aus OPENFACE_OUTPUT" if "aus" in missing else "")
            + ("; prepare it with --option landmarks=mesh" if "landmarks" in missing else "")
        )
    for key, setting in needs.items():
        if key not in prepared.keys:
            raise ConfigError(
                f"{setting}: needs each item's {key!r}, which {path_key}={config.path} "
                f"({prepared.name}) lacks (it has {list(prepared.keys)}); "
                + ("set it to 0 or " if setting.startswith("loss.") else "")
                + f"train on data with {key!r}"
            )


class BatchSource:
    """What every batch source shares: this process's place in the run, and the rule that
    turns (step, micro-batch, rank) into item slots and a seeded target generator."""

    dataset: SynthFaces | PreparedFaces

    def __init__(
        self,
        config: DataConfig,
        batch_size: int,
        grad_accum: int = 1,
        rank: int = 0,
        world: int = 1,
        device: torch.device | str = "cpu",
    ):
        self.batch_size, self.grad_accum = batch_size, grad_accum
        self.rank, self.world, self.device = rank, world, torch.device(device)
        self.seed = config.seed
        self.dataset = self._open(config)

    def _open(self, config: DataConfig) -> SynthFaces | PreparedFaces:
        raise NotImplementedError

    def _first_slot(self, step: int, micro: int) -> int:
        """Index of this batch's first item in the run's endless stream of items."""
        return ((step * self.grad_accum + micro) * self.world + self.rank) * self.batch_size

    def generator(self, step: int, micro: int = 0) -> torch.Generator:
        """A CPU generator for this batch's random targets."""
        key = (((self.seed * 1_000_003 + step) * 64 + micro) * 4096 + self.rank) % (2**62)
        return torch.Generator().manual_seed(key)


class SynthFacesSource(BatchSource):
    """Deterministic SynthFaces batches for one process of a (possibly distributed) run."""

    def _open(self, config: DataConfig) -> SynthFaces:
        tones = tuple(config.skin_tones) if config.skin_tones else None
        return SynthFaces(
            config.split, config.size, config.resolution, config.seed, skin_tones=tones
        )

    def indices(self, step: int, micro: int = 0) -> torch.Tensor:
        start = self._first_slot(step, micro)
        return (start + torch.arange(self.batch_size)) % len(self.dataset)

    def batch(self, step: int, micro: int = 0) -> dict[str, torch.Tensor]:
        return self.dataset.batch(self.indices(step, micro), device=self.device)

    def fixed(self, n: int, split: str = "val") -> dict[str, torch.Tensor]:
        """The same n held-out faces for every sample grid of a run."""
        ds = SynthFaces(
            split,
            max(n, 8),
            self.dataset.resolution,
            seed=self.seed,
            skin_tones=self.dataset.skin_tones,
        )
        return ds.batch(range(n), device=self.device)


class PreparedSource(BatchSource):
    """Batches from a prepared folder: item slots as for SynthFaces, through a fixed
    permutation of the items (a new one each pass), so any step's batch is known exactly."""

    def _open(self, config: DataConfig) -> PreparedFaces:
        self._orders: dict[int, np.ndarray] = {}
        try:
            dataset = PreparedFaces(config.path)
        except DataError as err:
            raise ConfigError(f"data.path: {err}") from None
        self._weights = None
        if config.balance:
            self._weights = balance_weights(dataset, config.balance, config.path)
        return dataset

    def _order(self, epoch: int) -> np.ndarray:
        """The items of pass `epoch`: a permutation, or with data.balance a weighted draw."""
        if epoch not in self._orders:
            if len(self._orders) > 2:
                self._orders.clear()
            rng = np.random.default_rng([self.seed, epoch])
            n = len(self.dataset)
            if self._weights is None:
                self._orders[epoch] = rng.permutation(n)
            else:
                self._orders[epoch] = rng.choice(n, size=n, replace=True, p=self._weights)
        return self._orders[epoch]

    def indices(self, step: int, micro: int = 0) -> torch.Tensor:
        n = len(self.dataset)
        absolute = self._first_slot(step, micro) + np.arange(self.batch_size)
        epochs, positions = absolute // n, absolute % n
        out = np.empty(self.batch_size, np.int64)
        for epoch in np.unique(epochs):
            here = epochs == epoch
            out[here] = self._order(int(epoch))[positions[here]]
        return torch.from_numpy(out)

    def batch(self, step: int, micro: int = 0) -> dict[str, torch.Tensor]:
        out = self.dataset.batch(self.indices(step, micro))
        return {k: v.to(self.device) for k, v in out.items()}

    def fixed(self, n: int, split: str = "val") -> dict[str, torch.Tensor]:
        """The first n items (the same for every sample grid of a run)."""
        out = self.dataset.batch(range(min(n, len(self.dataset))))
        return {k: v.to(self.device) for k, v in out.items()}


def balance_weights(dataset: PreparedFaces, balance: float, path: str | None) -> np.ndarray:
    """Per-item draw probabilities count(expression) ** -balance, normalised; ConfigError when
    `balance` lies outside 0..1 or the folder has no expression labels."""
    if not 0.0 <= balance <= 1.0:
        raise ConfigError(f"data.balance must lie in 0..1, got {balance}")
    if "expression" not in dataset.keys:
        raise ConfigError(
            f"data.balance={balance}: {path} has no expression labels to balance "
            f"(it has {list(dataset.keys)})"
        )
    labels = np.asarray(dataset.arrays["expression"], np.int64)
    counts = np.bincount(labels)
    weights = counts[labels].astype(np.float64) ** -float(balance)
    return weights / weights.sum()


class MixedSource:
    """Batches of a prepared real dataset with a fixed share of SynthFaces faces appended: two
    sources, each with its own part of the batch and its own deterministic item rule, so the
    mixed batch of any step is known exactly. Items keep the keys both sources have."""

    def __init__(self, config: DataConfig, batch_size: int, *args):
        share = config.synthfaces_share
        synth_n = round(batch_size * share)
        if not 0.0 < share < 1.0 or synth_n in (0, batch_size):
            raise ConfigError(
                f"data.synthfaces_share={share} leaves no faces of one kind in a batch of "
                f"{batch_size}; use a share that gives both at least one"
            )
        self.real = PreparedSource(config, batch_size - synth_n, *args)
        synth = dataclasses.replace(config, dataset="synthfaces", split="train", path=None)
        self.synth = SynthFacesSource(synth, synth_n, *args)
        self.dataset = self.real.dataset
        self.keys = tuple(k for k in self.real.dataset.keys if k in SYNTH_KEYS)

    def generator(self, step: int, micro: int = 0) -> torch.Generator:
        return self.real.generator(step, micro)

    def _join(self, real: dict, synth: dict) -> dict[str, torch.Tensor]:
        return {k: torch.cat([real[k], synth[k].to(real[k].dtype)]) for k in self.keys}

    def batch(self, step: int, micro: int = 0) -> dict[str, torch.Tensor]:
        return self._join(self.real.batch(step, micro), self.synth.batch(step, micro))

    def fixed(self, n: int, split: str = "val") -> dict[str, torch.Tensor]:
        """The real source's first faces, then as many SynthFaces validation faces."""
        return self._join(self.real.fixed(n, split), self.synth.fixed(n, split))


# The keys a SynthFaces item carries.
SYNTH_KEYS = ("image", "mask", "expression", "aus", "landmarks")


def make_source(
    config: DataConfig, batch_size: int, grad_accum: int, rank: int, world: int, device
) -> BatchSource | MixedSource:
    """The batch source a data config names."""
    check_data(config)
    if config.synthfaces_share and config.dataset != "synthfaces":
        return MixedSource(config, batch_size, grad_accum, rank, world, device)
    cls = SynthFacesSource if config.dataset == "synthfaces" else PreparedSource
    return cls(config, batch_size, grad_accum, rank, world, device)
