"""Training batches: a pure function of (step, micro-batch, rank), so runs resume exactly.

SynthFaces batches are rendered on the training device from item indices computed from the
step; every rank draws different items. Targets (labels or AUs to edit to) come from a
generator seeded by the same numbers.
"""

from __future__ import annotations

import torch

from segan.data.synthfaces import SynthFaces
from segan.train.config import ConfigError, DataConfig

DATASETS = ("synthfaces",)
# Datasets the shipped paper configs name; their readers come with segan.data's dataset module.
PAPER_DATASETS = ("affectnet", "rafd", "kdef", "celebamaskhq")


def check_data(config: DataConfig) -> None:
    """Stop before any work when the data a config names cannot be trained on here."""
    for key, name in (
        ("data.dataset", config.dataset),
        ("data.parser_dataset", config.parser_dataset),
    ):
        if name is None or name in DATASETS:
            continue
        if name in PAPER_DATASETS:
            raise ConfigError(
                f"{key}: {name!r} is a paper dataset whose reader this version of segan does "
                f"not have yet; train on {', '.join(DATASETS)} (e.g. {key}=synthfaces)"
            )
        raise ConfigError(
            f"{key}: unknown dataset {name!r}; known: {', '.join(DATASETS + PAPER_DATASETS)}"
        )


class SynthFacesSource:
    """Deterministic SynthFaces batches for one process of a (possibly distributed) run."""

    def __init__(
        self,
        config: DataConfig,
        batch_size: int,
        grad_accum: int = 1,
        rank: int = 0,
        world: int = 1,
        device: torch.device | str = "cpu",
    ):
        self.dataset = SynthFaces(config.split, config.size, config.resolution, config.seed)
        self.batch_size, self.grad_accum = batch_size, grad_accum
        self.rank, self.world, self.device = rank, world, torch.device(device)
        self.seed = config.seed

    def indices(self, step: int, micro: int = 0) -> torch.Tensor:
        slot = (step * self.grad_accum + micro) * self.world + self.rank
        start = slot * self.batch_size
        return (start + torch.arange(self.batch_size)) % len(self.dataset)

    def generator(self, step: int, micro: int = 0) -> torch.Generator:
        """A CPU generator for this batch's random targets."""
        key = (((self.seed * 1_000_003 + step) * 64 + micro) * 4096 + self.rank) % (2**62)
        return torch.Generator().manual_seed(key)

    def batch(self, step: int, micro: int = 0) -> dict[str, torch.Tensor]:
        return self.dataset.batch(self.indices(step, micro), device=self.device)

    def fixed(self, n: int, split: str = "val") -> dict[str, torch.Tensor]:
        """The same n held-out faces for every sample grid of a run."""
        ds = SynthFaces(split, max(n, 8), self.dataset.resolution, seed=self.seed)
        return ds.batch(range(n), device=self.device)


def make_source(
    config: DataConfig, batch_size: int, grad_accum: int, rank: int, world: int, device
) -> SynthFacesSource:
    """The batch source a data config names."""
    check_data(config)
    return SynthFacesSource(config, batch_size, grad_accum, rank, world, device)
