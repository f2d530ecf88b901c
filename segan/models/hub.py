"""`segan.load`: open any segan model folder or Hub repo, whatever its architecture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from segan.bundled import is_bundled, resolve
from segan.models.base import REGISTRY, SeganModel

CONFIG_NAME = "config.json"
REACH_TIMEOUT_S = 3.0  # how long to wait for the Hub to answer a connection before giving up


def hub_unreachable(timeout: float = REACH_TIMEOUT_S) -> str | None:
    """Why the Hugging Face Hub cannot be reached right now (offline mode, no route, no name
    resolution), or None when a connection to its endpoint opens within `timeout` seconds.
    A quick answer, so that a missing network reads as one line instead of the retries a
    download goes through."""
    import socket
    import threading
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    url = urlparse(constants.ENDPOINT)
    host, port = (
        url.hostname or "huggingface.co",
        url.port or (443 if url.scheme == "https" else 80),
    )
    outcome: list[str | None] = []

    def probe() -> None:  # name resolution has no timeout of its own: run it aside
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(f"{host}:{port} cannot be reached ({err.strerror or err})")

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return f"{host}:{port} did not answer within {timeout:g} s"
    return outcome[0]


def _looks_like_path(text: str) -> bool:
    """A spec that can only be meant as a folder (a Hub id is `name` or `owner/name`)."""
    return text.startswith(("/", "./", "../", "~")) or "\\" in text or text.count("/") > 1


def read_config(path_or_repo_id: str | Path, revision: str | None = None) -> dict:
    """The config.json of a local model folder or a Hub repo (Hub offline mode is honoured)."""
    path = Path(path_or_repo_id)
    if path.is_dir():
        config_file = path / CONFIG_NAME
        if not config_file.is_file():
            raise FileNotFoundError(f"{path} is not a segan model folder: it has no {CONFIG_NAME}")
    elif path.exists():
        raise ValueError(f"{path} is a file; segan.load expects a model folder or a Hub repo id")
    elif _looks_like_path(str(path_or_repo_id)):
        raise FileNotFoundError(f"{path_or_repo_id}: no such model folder")
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        repo = str(path_or_repo_id)
        try:  # a cached repo opens without the network
            config_file = Path(
                hf_hub_download(repo, CONFIG_NAME, revision=revision, local_files_only=True)
            )
        except LocalEntryNotFoundError:
            why = hub_unreachable()
            if why is not None:
                raise FileNotFoundError(
                    f"{repo!r} is neither a local folder nor a cached Hub repo, and the Hub "
                    f"cannot be reached: {why}"
                ) from None
            try:
                config_file = Path(hf_hub_download(repo, CONFIG_NAME, revision=revision))
            except HfHubHTTPError as err:
                raise FileNotFoundError(f"no {CONFIG_NAME} for Hub repo {repo!r}: {err}") from None
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_file} is not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_file} must hold a JSON object")
    return config


def load(
    path_or_repo_id: str | Path,
    *,
    revision: str | None = None,
    device: str = "cpu",
) -> SeganModel:
    """The model saved in a local folder, on the Hub, or bundled with segan (`bundled:NAME`),
    as its own class, in eval mode.

    The class comes from config.json's `architecture`; weights must be safetensors and must
    match the architecture key for key.
    """
    import segan.models  # noqa: F401  (registers every architecture)

    if is_bundled(path_or_repo_id):
        path_or_repo_id = resolve(str(path_or_repo_id))
    config = read_config(path_or_repo_id, revision)
    arch = config.get("architecture")
    if arch is None:
        raise ValueError(f"{path_or_repo_id}: config.json has no 'architecture' entry")
    if arch not in REGISTRY:
        raise ValueError(
            f"{path_or_repo_id}: unknown architecture {arch!r}; known: {sorted(REGISTRY)}"
        )
    model = REGISTRY[arch].from_pretrained(
        str(path_or_repo_id), revision=revision, map_location=device
    )
    return apply_training_record(model, config.get("training") or {})


def apply_training_record(model: SeganModel, training: dict[str, Any]) -> SeganModel:
    """Give `model` what its training record (config.json's `training`) says about the faces
    it learnt from: how they were cut (`alignment`) and the dataset (`trained_on`)."""
    if training.get("alignment") is not None:
        model.alignment = str(training["alignment"])
    if training.get("dataset") is not None:
        model.trained_on = str(training["dataset"])
    return model
