"""Training state on disk: nothing that can execute code is ever loaded, a killed run resumes
exactly from its last complete checkpoint, and a failed write names the folder and keeps the
previous checkpoint. Real processes, real files."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny import TINY

from segan.train import checkpoint as ckpt
from segan.train.checkpoint import CheckpointError, check_folder, checkpoints, latest_checkpoint
from segan.train.config import load_config
from segan.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
NAME = "stargan_synthfaces"
ARGS = [
    "data.resolution=32",
    "optim.batch_size=2",
    "optim.n_critic=2",
    "run.log_every=1",
    "run.progress=false",
    "run.sample_every=0",
    *TINY[NAME],
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _config(out: Path, steps: int, *extra: str):
    return load_config(NAME, [*ARGS, f"optim.steps={steps}", f"run.output_dir={out}", *extra])


def _command(out: Path, steps: int, *extra: str) -> list[str]:
    args = [*ARGS, f"optim.steps={steps}", f"run.output_dir={out}", *extra]
    return [sys.executable, "-m", "segan.train", NAME, *args]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, env=ENV, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


class _WritesAFile:
    """A pickle whose loading creates a file: what a tampered checkpoint can hold."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_pickle_in_a_checkpoint_is_refused_by_name_and_never_loaded(tmp_path, capsys):
    out = tmp_path / "run"
    train(_config(out, 2, "run.checkpoint_every=1"))
    folder = latest_checkpoint(out)
    marker = tmp_path / "pwned"
    planted = folder / "custom_checkpoint_0.pkl"
    planted.write_bytes(pickle.dumps(_WritesAFile(marker)))
    with pytest.raises(CheckpointError, match=r"custom_checkpoint_0\.pkl: not a file segan reads"):
        train(_config(out, 4, "run.checkpoint_every=1", "run.resume=latest"))
    assert not marker.exists()
    # the command line: one line naming the file, exit status 1, no traceback
    result = subprocess.run(
        _command(out, 4, "run.resume=latest"), capture_output=True, text=True, env=ENV, cwd=ROOT
    )
    assert result.returncode == 1, result.stderr
    assert "checkpoint error:" in result.stderr and str(planted) in result.stderr
    assert "Traceback" not in result.stderr and not marker.exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("networks/generator.safetensors", r"generator\.safetensors: not a readable safetensors"),
        ("rng/0.json", r"rng.0\.json: not valid JSON"),
        ("state.json", r"state\.json: not valid JSON"),
    ],
)
def test_a_damaged_checkpoint_file_is_named(tmp_path, damage, message):
    out = tmp_path / "run"
    train(_config(out, 2, "run.checkpoint_every=1"))
    (latest_checkpoint(out) / damage).write_bytes(os.urandom(256))
    with pytest.raises(CheckpointError, match=message):
        train(_config(out, 4, "run.resume=latest"))


def test_a_half_written_checkpoint_is_never_chosen(tmp_path):
    out = tmp_path / "run"
    train(_config(out, 2, "run.checkpoint_every=1"))
    partial = out / "checkpoints" / ".step_0000003.partial"
    (partial / "networks").mkdir(parents=True)
    (partial / "networks" / "generator.safetensors").write_bytes(b"\0" * 10)
    assert latest_checkpoint(out).name == "step_0000002"
    train(_config(out, 4, "run.checkpoint_every=1", "run.resume=latest"))
    assert [p.name for p in checkpoints(out)][-2:] == ["step_0000003", "step_0000004"]
    assert not partial.exists()


def test_killed_at_random_points_resumes_to_the_uninterrupted_weights(tmp_path):
    """kill -9 twice at random moments (in steps and in checkpoint writes alike), resume
    each time: every checkpoint left is complete, and the end is bit-identical."""
    steps = 40
    extra = ("run.checkpoint_every=1", "run.keep_checkpoints=3")
    whole = tmp_path / "whole"
    subprocess.run(
        _command(whole, steps, *extra), check=True, env=ENV, cwd=ROOT, capture_output=True
    )
    out = tmp_path / "killed"
    rng = random.Random(7)
    for _ in range(2):
        proc = subprocess.Popen(
            _command(out, steps, *extra, "run.resume=auto"),
            env=ENV,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # wait for a newer checkpoint than the run had (the count alone stays at
        # keep_checkpoints once pruning starts), then kill at a random moment after it
        start = [p.name for p in checkpoints(out)][-1:]
        deadline = time.time() + 120
        while (
            [p.name for p in checkpoints(out)][-1:] == start
            and time.time() < deadline
            and proc.poll() is None
        ):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for folder in checkpoints(out):
            check_folder(folder)  # complete and readable, whatever the kill interrupted
    _run(_command(out, steps, *extra, "run.resume=latest"))
    a, b = (
        load_file(whole / "model" / "model.safetensors"),
        load_file(out / "model" / "model.safetensors"),
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_killed_while_being_deleted_or_replaced_is_not_listed(tmp_path, monkeypatch):
    """Deleting (pruning) and replacing (the same step saved again) rename the folder out of
    the checkpoints' names first: a run killed in the middle of either lists only whole
    checkpoints."""
    out = tmp_path / "run"
    train(_config(out, 3, "run.checkpoint_every=1", "run.keep_checkpoints=5"))
    first, second, third = checkpoints(out)

    def killed(path, *args, **kwargs):  # the process dies after removing one file
        next(p for p in Path(path).rglob("*") if p.is_file()).unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        ckpt.remove(first)
    partial = ckpt.partial_folder(third)
    shutil.copytree(second, partial)
    with pytest.raises(KeyboardInterrupt):
        ckpt.finish(partial, third, json.loads((second / "state.json").read_text()))
    monkeypatch.undo()
    assert checkpoints(out) == [second, third]
    for folder in checkpoints(out):
        check_folder(folder)  # whole
    ckpt.remove(second)  # the next deletion clears what the killed one left
    assert checkpoints(out) == [third]
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_0000003"]


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_failed_checkpoint_write_stops_with_the_folder_and_keeps_the_last_one(tmp_path):
    """Writes refused by the operating system (a file-size limit, as on a full disk): the run
    stops with one line naming the folder, the reason and the intact checkpoint, leaves no
    partial folder, and resumes from that checkpoint once writes succeed."""
    out = tmp_path / "run"
    subprocess.run(
        _command(out, 2, "run.checkpoint_every=1"),
        check=True,
        env=ENV,
        cwd=ROOT,
        capture_output=True,
    )
    size = (latest_checkpoint(out) / "networks" / "generator.safetensors").stat().st_size
    result = subprocess.run(
        _command(out, 4, "run.checkpoint_every=1", "run.resume=latest"),
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size(size // 2),
    )
    assert result.returncode == 1, result.stderr
    assert "cannot write checkpoint" in result.stderr and "step_0000003" in result.stderr
    assert "File too large" in result.stderr and "step_0000002" in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in checkpoints(out)] == ["step_0000001", "step_0000002"]
    assert not list((out / "checkpoints").glob(".*partial"))
    _run(_command(out, 4, "run.checkpoint_every=1", "run.resume=latest"))
    assert latest_checkpoint(out).name == "step_0000004" and (out / "model").is_dir()
