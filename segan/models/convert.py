"""Import of published checkpoints into segan model folders.

`convert(kind, checkpoint, out_dir)` reads a third-party checkpoint with
`torch.load(weights_only=True)` (pickled code is refused), maps its keys onto a segan network
built from the checkpoint's own shapes, loads them strictly and writes a folder that
`segan.load` opens. Each kind registers a function `(state_dict, options) -> SeganModel` with
`@register_converter`; the helpers here give every converter the same strict checks and the
same error messages (naming the first offending key).
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from segan.models.base import SeganModel


@dataclass
class ConvertOptions:
    """What a checkpoint does not say about itself."""

    resolution: int | None = None  # image size the model was trained at
    labels: tuple[str, ...] | None = None  # condition names, in the checkpoint's order


# The condition order of each kind's published checkpoints (by the number of conditions), as
# their training code indexed them; a converted model keeps it and its card says so.
LABEL_ORDERS: dict[str, dict[int, str]] = {
    "stargan": {
        5: "CelebA attributes as yunjey/stargan's --selected_attrs lists them",
        8: "RaFD's expression folders in alphabetical order, as torchvision's ImageFolder "
        "indexes them (angry, contemptuous, disgusted, fearful, happy, neutral, sad, surprised)",
    },
    "sargan": {
        7: "KDEF's expression codes in alphabetical order, as torchvision's ImageFolder indexes "
        "them (AFS, ANS, DIS, HAS, NES, SAS, SUS)",
    },
    "ganimation": {17: "GANimation's 17 OpenFace action units in its own order"},
}

Converter = Callable[[dict[str, torch.Tensor], ConvertOptions], SeganModel]
CONVERTERS: dict[str, Converter] = {}
# Containers some training scripts wrap their state dicts in.
_WRAPPERS = ("state_dict", "model", "model_state_dict", "net", "G", "generator")


def known_kinds() -> list[str]:
    """The checkpoint kinds `convert` reads."""
    import segan.models  # noqa: F401  (registers every converter)

    return sorted(CONVERTERS)


def register_converter(kind: str) -> Callable[[Converter], Converter]:
    """Register `fn` as the converter of checkpoints of `kind` (e.g. "stargan")."""

    def wrap(fn: Converter) -> Converter:
        if kind in CONVERTERS:
            raise ValueError(f"converter {kind!r} is registered twice")
        CONVERTERS[kind] = fn
        return fn

    return wrap


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's state dict, read without executing pickled code (nn.DataParallel's
    `module.` prefix removed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if "Unsupported global" in text or "GLOBAL" in text:
            name = text.split("GLOBAL", 1)[-1].split()[0] if "GLOBAL" in text else "?"
            raise ValueError(
                f"{path} holds pickled code or objects other than tensors ({name}); refusing to "
                "load it: only plain state dicts are read"
            ) from None
        raise ValueError(f"{path} is not a readable PyTorch checkpoint") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {err}") from None
    if isinstance(obj, Mapping):
        for wrapper in _WRAPPERS:
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping) and inner and len(obj) <= 4:
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(f"{path} is not a state dict (found {type(obj).__name__})")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ValueError(
                f"{path} is not a state dict: entry {key!r} holds a {type(value).__name__}, "
                "not a tensor"
            )
    # nn.DataParallel saves every key as `module.<key>`.
    if all(key.startswith("module.") for key in obj):
        return {key[len("module.") :]: value for key, value in obj.items()}
    return dict(obj)


def require(state: Mapping[str, torch.Tensor], key: str, ndim: int | None = None) -> torch.Tensor:
    """The tensor under `key`, or a ValueError naming the key that is missing or malformed."""
    if key not in state:
        raise ValueError(f"checkpoint has no key {key!r}")
    value = state[key]
    if ndim is not None and value.dim() != ndim:
        raise ValueError(
            f"checkpoint key {key!r} has shape {tuple(value.shape)}, expected {ndim} dimensions"
        )
    return value


def load_strict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load a mapped state dict; any missing, extra or misshapen key stops with its name."""
    expected = model.state_dict()
    for key, value in state.items():
        if key not in expected:
            raise ValueError(f"{source}: unexpected key {key!r} for {type(model).__name__}")
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(
                f"{source}: key {key!r} has shape {tuple(value.shape)}, "
                f"{type(model).__name__} expects {tuple(expected[key].shape)}"
            )
    missing = [k for k in expected if k not in state]
    if missing:
        raise ValueError(f"{source}: missing key {missing[0]!r} ({len(missing)} missing)")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert(
    kind: str,
    checkpoint: str | Path,
    out_dir: str | Path | None = None,
    options: ConvertOptions | None = None,
) -> SeganModel:
    """Convert a published checkpoint; writes a segan model folder when `out_dir` is given."""
    import segan.models  # noqa: F401  (registers every converter)

    if kind not in CONVERTERS:
        raise ValueError(f"unknown checkpoint kind {kind!r}; known kinds: {sorted(CONVERTERS)}")
    state = read_checkpoint(checkpoint)
    options = options or ConvertOptions()
    model = CONVERTERS[kind](state, options)
    model.eval()
    if out_dir is not None:
        source = {"kind": kind, "file": Path(checkpoint).name, "sha256": sha256(checkpoint)}
        order = label_order(kind, model, options)
        if order is not None:
            source["label_order"] = order
        card = {"converted from": _card_text(source, model)}
        model.save_pretrained(out_dir, config={"converted_from": source}, model_card_kwargs=card)
    return model


def label_order(kind: str, model: SeganModel, options: ConvertOptions) -> str | None:
    """Where a converted model's condition order comes from (None for unconditioned kinds)."""
    names = model.config.get("labels") or model.config.get("aus")
    if not names:
        return None
    if options.labels is not None:
        return "as given (--labels), in the checkpoint's order"
    known = LABEL_ORDERS.get(kind, {}).get(len(names))
    return f"the published checkpoint's: {known}" if known else None


def _card_text(source: dict, model: SeganModel) -> str:
    names = model.config.get("labels") or model.config.get("aus")
    lines = [f"{source['kind']} checkpoint `{source['file']}` (SHA-256 {source['sha256']})."]
    if names:
        order = source.get("label_order", "the checkpoint's")
        lines.append(f"Conditions, in order: {', '.join(map(str, names))} ({order}).")
    return "\n\n".join(lines)
