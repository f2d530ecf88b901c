"""What each method trains: its networks, optimiser groups, update phases and losses.

The trainer is one loop for every method. A method (a `Task`) supplies:
- `networks()`: its networks by role ("generator" + "discriminator", or "model"), which
  `build()` returns after loading any trained folders the config names (`START_FROM`);
- `phases`: which optimiser updates at which step (`n_critic` for GANs);
- the losses of each phase as free functions returning `(total, terms)`;
- what gets published (the EMA generator or the model) and its sample grid.
Loss weights default to the papers' (see each `LOSS` table) and are overridden by `loss.*`.
"""

from segan.train.config import ConfigError, TrainConfig
from segan.train.methods.au import FineGrainedTask, GANimationTask
from segan.train.methods.hierarchy import BoxHGANTask, SegHGANTask
from segan.train.methods.label import SARGANTask, StarGANTask
from segan.train.methods.supervised import (
    BiSeNetTask,
    ClassifierTask,
    RegressorTask,
    UNetTask,
    parser_loss,
)
from segan.train.methods.task import Phase, Step, Task

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


__all__ = ["TASKS", "Phase", "Step", "Task", "make_task", "parser_loss", "register"]
