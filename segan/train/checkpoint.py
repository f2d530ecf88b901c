"""A run's training state on disk, in formats that cannot execute code.

A checkpoint is a folder `checkpoints/step_<n>/`:

    networks/<role>.safetensors      each network's weights (unwrapped from DDP)
    optimizers/<name>.safetensors    an optimiser's tensors (moments, step counts)
    optimizers/<name>.json           its hyper-parameters and any non-tensor state
    ema.safetensors                  the EMA copy of the published network, if the run keeps one
    rng/<rank>.safetensors, .json    each process's torch (CPU and accelerator), NumPy and Python
                                     generator states
    scaler.json                      the fp16 loss scaler's state, for fp16 runs
    state.json                       the format, the step and the loss sums of the log interval

It is written into `checkpoints/.step_<n>.partial/`, `state.json` last, and renamed to
`step_<n>` only when complete; a checkpoint is deleted (the oldest beyond
`run.keep_checkpoints`, or the same step saved again) by renaming it out of those names first.
A run killed while saving or deleting never leaves a folder that looks like a checkpoint and
is not one. Reading refuses any file that is not safetensors or JSON (pickles above all,
such as the `.pkl` files of Accelerate's own `save_state`), naming the file.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from segan.models.base import load_error

FORMAT = "segan-checkpoint/1"
STATE_FILE = "state.json"
_STEP_NAME = re.compile(r"step_(\d+)")
_READABLE = {".safetensors", ".json"}


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read, with the file and what is wrong."""


# --- where checkpoints are ------------------------------------------------------------------


def checkpoint_folder(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}"


def checkpoints(run_dir: Path) -> list[Path]:
    """A run's checkpoint folders (`checkpoints/step_<n>`), oldest first. Folders being
    written (`.step_<n>.partial`) are not among them."""
    root = Path(run_dir) / "checkpoints"
    folders = [p for p in root.glob("step_*") if p.is_dir() and _STEP_NAME.fullmatch(p.name)]
    return sorted(folders, key=checkpoint_step)


def checkpoint_step(folder: Path) -> int:
    """The step a checkpoint folder (`step_<n>`) was saved at."""
    match = _STEP_NAME.fullmatch(Path(folder).name)
    if match is None:
        raise CheckpointError(f"{folder}: not a checkpoint folder (step_<n>)")
    return int(match.group(1))


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1] if found else None


# --- tensors and plain data -----------------------------------------------------------------


def _write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(path))
    except SafetensorError as err:  # the file system refused the write (full, too large)
        raise OSError(errno.EIO, f"writing {path.name}: {err}", str(path)) from None


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the checkpoint")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the checkpoint")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None


# --- optimisers -----------------------------------------------------------------------------


def optimizer_files(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimiser's state dict as (tensors by "<param>.<key>", the rest as JSON data)."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for pid, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{key}"] = value
            else:
                plain.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "state": plain}


def optimizer_state(tensors: dict[str, torch.Tensor], plain: dict) -> dict:
    """The inverse of `optimizer_files`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    for pid, entry in plain.get("state", {}).items():
        state.setdefault(int(pid), {}).update(entry)
    return {"state": state, "param_groups": plain["param_groups"]}


# --- random generators ----------------------------------------------------------------------


def rng_files() -> tuple[dict[str, torch.Tensor], dict]:
    """This process's generator states: torch's as tensors, NumPy's and Python's as data."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    plain = {
        "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "gauss": gauss},
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
    }
    return tensors, plain


def restore_rng(tensors: dict[str, torch.Tensor], plain: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = sorted((k for k in tensors if k.startswith("cuda.")), key=lambda k: int(k[5:]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    n = plain["numpy"]
    keys = tensors["numpy"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    p = plain["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


# --- writing --------------------------------------------------------------------------------


def partial_folder(final: Path) -> Path:
    return final.parent / f".{final.name}.partial"


def write_main(
    partial: Path,
    nets: dict[str, nn.Module],
    optimizers: dict[str, Any],
    ema: nn.Module | None,
    scaler: Any | None,
) -> None:
    """The state every process shares (networks, optimisers, EMA, scaler): the main process
    writes it into the partial folder."""
    for role, net in nets.items():
        _write_tensors(partial / "networks" / f"{role}.safetensors", net.state_dict())
    for name, optimizer in optimizers.items():
        tensors, plain = optimizer_files(optimizer.state_dict())
        _write_tensors(partial / "optimizers" / f"{name}.safetensors", tensors)
        _write_json(partial / "optimizers" / f"{name}.json", plain)
    if ema is not None:
        _write_tensors(partial / "ema.safetensors", ema.state_dict())
    if scaler is not None:
        _write_json(partial / "scaler.json", scaler.state_dict())


def write_rng(partial: Path, rank: int) -> None:
    """This process's generators, into the partial folder."""
    tensors, plain = rng_files()
    _write_tensors(partial / "rng" / f"{rank}.safetensors", tensors)
    _write_json(partial / "rng" / f"{rank}.json", plain)


def finish(partial: Path, final: Path, state: dict) -> None:
    """Write `state.json` last and move the complete folder to its name (a folder already
    there, the same step saved again by a resumed run, is moved aside first: `final` is at
    every moment either whole or absent)."""
    _write_json(partial / STATE_FILE, {"format": FORMAT, **state})
    replaced = final.exists()
    if replaced:
        _set_aside(final)
    os.replace(partial, final)
    if replaced:
        _clear_aside(final.parent)


def remove(folder: Path) -> None:
    """Delete a checkpoint folder: renamed out of the checkpoints' names first, so that a run
    killed while deleting leaves no half-deleted checkpoint among them (the next deletion
    clears what it left)."""
    _set_aside(folder)
    _clear_aside(folder.parent)


def _clear_aside(root: Path) -> None:
    for aside in root.glob(".step_*.removed"):
        shutil.rmtree(aside, ignore_errors=True)


def _set_aside(folder: Path) -> Path:
    """Rename `folder` to a hidden name that `checkpoints` does not list; returns it."""
    aside = folder.parent / f".{folder.name}.removed"
    if aside.exists():  # left by a run killed while deleting
        shutil.rmtree(aside, ignore_errors=True)
    os.replace(folder, aside)
    return aside


def discard(partial: Path) -> None:
    shutil.rmtree(partial, ignore_errors=True)


# --- reading --------------------------------------------------------------------------------


def check_folder(folder: Path) -> dict:
    """The checkpoint's `state.json` after refusing any file that could execute code."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix not in _READABLE:
            raise CheckpointError(
                f"{path}: not a file segan reads from a checkpoint (only safetensors and JSON; "
                "pickled state can run code when loaded). A checkpoint written by Accelerate's "
                "save_state (segan's earlier format) cannot be resumed; start a fresh run from "
                "the run's model folder instead (model.init_weights=RUN/model)"
            )
    state = _read_json(folder / STATE_FILE)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{folder / STATE_FILE}: format {found!r}, expected {FORMAT!r}")
    return state


def read_network(folder: Path, role: str) -> dict[str, torch.Tensor]:
    return _read_tensors(Path(folder) / "networks" / f"{role}.safetensors")


def read_ema(folder: Path) -> dict[str, torch.Tensor]:
    return _read_tensors(Path(folder) / "ema.safetensors")


def read_optimizer(folder: Path, name: str) -> dict:
    base = Path(folder) / "optimizers" / name
    tensors = _read_tensors(base.with_suffix(".safetensors"))
    return optimizer_state(tensors, _read_json(base.with_suffix(".json")))


def read_rng(folder: Path, rank: int) -> tuple[dict[str, torch.Tensor], dict] | None:
    """A process's generator states, or None when the run saved fewer processes."""
    base = Path(folder) / "rng" / str(rank)
    if not base.with_suffix(".json").is_file():
        return None
    return _read_tensors(base.with_suffix(".safetensors")), _read_json(base.with_suffix(".json"))


def read_scaler(folder: Path) -> dict | None:
    path = Path(folder) / "scaler.json"
    return _read_json(path) if path.is_file() else None


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    """Load weights, naming the file when they do not fit the network the config builds."""

    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(
            f"{where}: does not fit the network this config builds ({load_error(err)})"
        ) from None
