"""One rank of a distributed test run (launched by torchrun from test_train.py).

Trains a config with the real Trainer, then writes what this rank ended with: its distributed
setup, a digest of its first batch (ranks must see different data) and digests of every
network's parameters (ranks must agree).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

from segan.train.config import load_config
from segan.train.trainer import Trainer


def digest(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    out_dir, name, *overrides = sys.argv[1:]
    trainer = Trainer(load_config(name, overrides))
    acc = trainer.accelerator
    first = trainer.source.batch(0)["image"]
    streams = {k: digest([s.batch(0)["image"]]) for k, s in trainer.sources.items()}
    initial = {k: digest(acc.unwrap_model(n).parameters()) for k, n in trainer.nets.items()}
    trainer.fit()
    report = {
        "rank": acc.process_index,
        "num_processes": acc.num_processes,
        "distributed_type": str(acc.distributed_type),
        "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "first_batch": digest([first]),
        "streams": streams,
        "initial": initial,
        "final": {k: digest(acc.unwrap_model(n).parameters()) for k, n in trainer.nets.items()},
        "ema": digest(trainer.ema.model.parameters()) if trainer.ema is not None else None,
    }
    Path(out_dir, f"rank{acc.process_index}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
