"""What the training benchmarks share: timed update cycles of a Trainer and the process's peak
memory (imported by train.py and paper_smoke.py, which run as scripts from this folder)."""

from __future__ import annotations

import resource
import time

import torch


def rss_mib() -> float:
    """This process's peak resident set so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_cycles(trainer, first_step: int, cycle: int, cycles: int, device: str) -> list[float]:
    """Seconds of each of `cycles` update cycles of `cycle` steps from `first_step` (the device
    synchronised around each)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times, step = [], first_step
    for _ in range(cycles):
        sync()
        t0 = time.perf_counter()
        for _ in range(cycle):
            trainer.train_step(step)
            step += 1
        sync()
        times.append(time.perf_counter() - t0)
    return times
