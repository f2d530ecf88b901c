"""Writing a run's model folder (weights, config, model card) and publishing it.

`save_model` writes `model/` with `save_pretrained` and a card naming the method, its paper,
the data, the resolved config, the hardware and the last metrics. `push` uploads a model folder
to a Hub repo id, or copies it into a local folder (a Hub-layout stand-in, used offline).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from segan.data.catalog import DATA_ALIGNMENT, DATA_TERMS
from segan.models.hub import hub_unreachable

if TYPE_CHECKING:
    from accelerate import Accelerator


def describe_hardware(accelerator: Accelerator, mixed_precision: str) -> str:
    """One line on what a run trains on: processes, distribution, device, precision."""
    acc = accelerator
    device = (
        torch.cuda.get_device_name(acc.device)
        if acc.device.type == "cuda"
        else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    )
    return (
        f"{acc.num_processes} process(es), {acc.distributed_type}, {device}, "
        f"mixed precision {mixed_precision}"
    )


def hardware_record(previous: str, hardware: str, step: int) -> str:
    """hardware.txt after a (re)start at `step`: the first line says what the run started on;
    a resumed run on other hardware (threads, precision, devices) adds "from step N: ..."."""
    lines = previous.strip().splitlines() if step > 0 else []
    if not lines:
        return hardware + "\n"
    last = lines[-1].split(": ", 1)[1] if lines[-1].startswith("from step ") else lines[-1]
    if last != hardware:
        lines.append(f"from step {step}: {hardware}")
    return "\n".join(lines) + "\n"


def training_record(config, step: int) -> dict[str, Any]:
    """config.json's `training` entry of a run's model at `step`: the method, the steps, the
    resolution, the dataset and how its faces were cut (`segan.load` reads the last two)."""
    return {
        "method": config.method,
        "steps": step,
        "resolution": config.data.resolution,
        "dataset": config.data.dataset,
        "alignment": DATA_ALIGNMENT.get(config.data.dataset, "box"),
    }


def save_with_card(
    model,
    folder: str | Path,
    config,
    task,
    step: int,
    training: str,
    metrics: str,
    after: dict[str, int] | None = None,
) -> None:
    """`model.save_pretrained(folder)` with the card every segan run writes (method, data,
    `training`, `metrics`, the resolved config) and the run's method, steps and resolution;
    `after`: the earlier stages it started from and their steps."""
    data = (
        f"{config.data.dataset} ({config.data.split} split, {config.data.resolution} px"
        + (f", {config.data.path}" if config.data.path else "")
        + ")"
    )

    terms = DATA_TERMS.get(config.data.dataset)
    if config.data.synthfaces_share:
        data += f", with {config.data.synthfaces_share:g} of every batch SynthFaces faces"
    if config.data.partial_labels:
        data += (
            "; outside the face oval of the mesh masks, partial labels (no face part there, "
            "and no skin beside or below the face: segan.partial_labels)"
        )
    card = {
        "method": f"{task.name}: {task.paper}",
        "data": data,
        "licence": terms[1] if terms else None,
        "license": terms[0] if terms else None,
        "training": training,
        "metrics": metrics,
        "training config": "```yaml\n" + config.to_yaml() + "```",
    }
    made = training_record(config, step)
    if after:
        made["after"] = dict(after)
    model.save_pretrained(folder, config={"training": made}, model_card_kwargs=card)


def save_model(
    model,
    model_dir: Path,
    config,
    task,
    step: int,
    processes: int,
    hardware: str,
    metrics: dict[str, Any],
) -> None:
    """A run's published network, saved with its training story in the model card: `step`
    steps on `processes` processes of `hardware` (describe_hardware), its last `metrics`."""
    training = (
        f"{step} steps, batch {config.optim.batch_size} x "
        f"{config.optim.grad_accum} accumulation x {processes} "
        f"processes; {hardware}; segan trainer"
    )
    if model_dir.exists():
        shutil.rmtree(model_dir)
    save_with_card(
        model,
        model_dir,
        config,
        task,
        step,
        training,
        "```json\n" + json.dumps(metrics, indent=2, default=str) + "\n```",
    )
    (model_dir / "training_config.yaml").write_text(config.to_yaml())


def is_local_target(target: str) -> bool:
    return target.startswith(("/", "./", "../", "file://")) or Path(target).is_dir()


def _check_model_folder(model_dir: Path) -> None:
    if not (model_dir / "config.json").is_file() or not (model_dir / "model.safetensors").is_file():
        raise FileNotFoundError(f"{model_dir} is not a segan model folder (config + weights)")


def _check_repo_id(repo_id: str) -> None:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(c.isspace() for c in repo_id):
        raise ValueError(f"{repo_id!r} is not a Hub repo id (expected user/name)")


def publish_to_cache(model_dir: str | Path, repo_id: str, cache_dir: str | Path) -> Path:
    """Write a model folder into a Hugging Face cache as revision `main` of `repo_id`.

    The layout is the one `hf_hub_download` reads (blobs, snapshots/<commit>, refs/main), so
    `segan.load(repo_id)` with `HF_HUB_CACHE=cache_dir HF_HUB_OFFLINE=1` finds it: a way to
    seed air-gapped machines, and the offline stand-in for an upload in tests.
    """
    model_dir = Path(model_dir)
    _check_model_folder(model_dir)
    _check_repo_id(repo_id)
    files = sorted(f for f in model_dir.iterdir() if f.is_file())
    root = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1()
    blobs = {}
    for f in files:
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        blobs[f.name] = digest
        commit.update(f"{f.name}\0{digest}\n".encode())
    sha = commit.hexdigest()
    snapshot = root / "snapshots" / sha
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for f in files:
        blob = root / "blobs" / blobs[f.name]
        if not blob.exists():
            shutil.copy2(f, blob)
        link = snapshot / f.name
        if link.exists() or link.is_symlink():
            link.unlink()
        try:
            link.symlink_to(Path("..", "..", "blobs", blobs[f.name]))
        except OSError:  # no symlinks (some Windows setups): the cache then holds copies
            shutil.copy2(f, link)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(sha)
    return snapshot


def push(model_dir: str | Path, target: str, cache_dir: str | Path | None = None) -> str:
    """Publish a model folder: to a Hub repo id, into a local folder (file://, a path), or,
    with `cache_dir`, into a local Hugging Face cache under the repo id."""
    model_dir = Path(model_dir)
    _check_model_folder(model_dir)
    if cache_dir is not None:
        return str(publish_to_cache(model_dir, target, cache_dir))
    if is_local_target(target):
        dest = Path(target.removeprefix("file://"))
        dest.mkdir(parents=True, exist_ok=True)
        for f in model_dir.iterdir():
            if f.is_file():
                shutil.copy2(f, dest / f.name)
        return str(dest)
    _check_repo_id(target)
    from huggingface_hub import HfApi

    why = hub_unreachable()
    if why is not None:
        raise RuntimeError(
            f"cannot push to the Hub repo {target!r}: {why}. Push later with "
            f"`segan push {model_dir.parent} {target}`, or give a local folder"
        )
    api = HfApi()
    api.create_repo(target, exist_ok=True)
    info = api.upload_folder(repo_id=target, folder_path=str(model_dir), commit_message="segan")
    return str(info)
