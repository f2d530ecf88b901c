"""segan's trainer: one Accelerate loop for every method (see trainer.py and methods.py).

`accelerate launch -m segan.train CONFIG [key=value ...]` or `segan train ...`.
"""

from segan.train.config import ConfigError, TrainConfig, load_config
from segan.train.trainer import Trainer, train

__all__ = ["ConfigError", "TrainConfig", "Trainer", "load_config", "train"]
