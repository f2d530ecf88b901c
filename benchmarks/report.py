"""What the benchmarks share when they report: the description of the machine a run measured and
the writing of its results, `NAME.json` (the figures) beside `NAME.md` (the table shown in the
README). Imported by the benchmarks, which run as scripts from this folder."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

# where the benchmarks write by default (their --out)
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """The machine a run measured: its processor (or architecture), CPU cores, the threads torch
    uses now, torch's version, and the CUDA device's name (None without one). Call it after the
    benchmark sets torch's threads, so that `cpu_threads` is what the run used."""
    return {
        "machine": platform.processor() or platform.machine(),
        "cpu_cores": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def write_results(out: Path, stem: str, info: dict, markdown: str | None) -> None:
    """Write `info` to `out/stem.json` (indented by 2) and `markdown` to `out/stem.md`, each
    ending in one newline, creating `out` if needed. With `markdown` None only the JSON is
    written and an existing `stem.md` is left as it is."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(info, indent=2) + "\n")
    if markdown is not None:
        (out / f"{stem}.md").write_text(markdown.rstrip("\n") + "\n")
