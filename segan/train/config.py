"""Training configs as data: YAML files, `a.b=c` overrides, validation before any work starts.

A config has five sections. `data`, `optim` and `run` are typed dataclasses shared by every
method; `model`, `discriminator` and `loss` are free-form mappings that the method validates
(model kwargs against its architecture, loss weights against its known terms). An unknown key
or a value of the wrong type stops with a `ConfigError` that names the key.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from math import inf
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).parent / "configs"
MIXED_PRECISION = ("no", "fp16", "bf16")


class _Loader(yaml.SafeLoader):
    """YAML as users write numbers: `1e-4` is a float (YAML 1.1 would read a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def read_yaml(text: str) -> Any:
    """Plain data from YAML text, with exponent-only floats read as floats."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


class ConfigError(ValueError):
    """A bad training config: the message names the key and the problem."""


@dataclass
class DataConfig:
    """Where images come from."""

    dataset: str = "synthfaces"
    resolution: int = 128
    split: str = "train"
    path: str | None = None  # the dataset's root folder (real datasets)
    seed: int = 0
    size: int = 10_000_000  # SynthFaces items to draw from
    # seghgan: a second data stream of labelled masks for the parser (the paper: CelebAMask-HQ
    # beside AffectNet or RaFD): its segmentation loss on batches of parser_batch_size faces
    # (None: optim.batch_size) every parser_every steps, the parser's own update; None uses
    # the training batch's own masks (SynthFaces, FFHQ's mesh masks) in the generator's update.
    parser_dataset: str | None = None
    parser_path: str | None = None
    parser_batch_size: int | None = None
    parser_every: int = 1
    # SynthFaces only: keep people whose skin tone (0 darkest .. 1 lightest) is in [low, high)
    skin_tones: list[float] | None = None
    # real datasets: this share of every batch is SynthFaces faces (train split, same
    # resolution), for what the real labels lack (classes, rare expressions); 0 for none
    synthfaces_share: float = 0.0
    # real datasets with expression labels: each pass draws faces with weights
    # count(expression) ** -balance (0: every face once, as given; 1: every expression equally
    # often), so rare expressions are seen more often
    balance: float = 0.0
    # parsers: the share of faces mirrored, and the size of a random similarity jitter
    # (segan.train.augment.augment_parts); 0 for none
    flip: float = 0.0
    jitter: float = 0.0
    # parsers on masks with unknown pixels (mesh masks): mark those outside the face with the
    # classes they cannot be, for the `outside` loss (segan.partial_labels)
    partial_labels: bool = False


@dataclass
class OptimConfig:
    """Optimisers and schedule (paper defaults are set per method in its config file)."""

    batch_size: int = 16
    steps: int = 200_000
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    n_critic: int = 5
    decay_start: int = 100_000  # linear decay to zero from this step to the last
    grad_accum: int = 1
    ema: float = 0.999  # generator EMA decay (0 disables)
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    optimizer: str = "adam"  # adam | sgd
    warmup: int = 0  # linear learning-rate warm-up steps
    # GANs: the first critic_warmup steps update the critic only, so that a critic trained
    # from scratch learns the data before its gradients reach a generator that starts from
    # trained weights (model.init_weights)
    critic_warmup: int = 0
    schedule: str = "linear"  # linear (decay to 0 from decay_start) | poly (power 0.9) | constant
    # linear schedule with warm restarts: the [decay_start, end] of each earlier cycle, in
    # order; the lr decays to 0 over each and restarts at its end (a run continued past its
    # first schedule), then the last cycle decays from decay_start to steps
    restarts: list[list[int]] = field(default_factory=list)
    lr_parser: float = 1e-5  # the parser inside seghgan
    # ... and its optimiser: adam (a group of the generator's) or sgd (its own, momentum as
    # above, stepped with the generator: how a parser trained alone with SGD keeps training)
    parser_optimizer: str = "adam"
    # a parser trained alone: keep its batch-norm statistics fixed, as seghgan does for its
    # parser (the control that fine-tunes a parser alone for the joint-training claim)
    freeze_bn: bool = False


@dataclass
class RunConfig:
    """Where the run lives and how it reports."""

    output_dir: str = "runs/run"
    mixed_precision: str = "no"
    cpu: bool = False  # train on the CPU even where a GPU is available
    seed: int = 0
    log_every: int = 10
    sample_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    # "latest" (the run folder's newest checkpoint; refused when it has none), "auto" (the
    # newest if there is one, else a fresh start: for scripts rerun until done) or a
    # checkpoint folder
    resume: str | None = None
    stop_after: int | None = None  # end this session at this step (the schedule still spans
    # optim.steps), e.g. to train in chunks and resume
    # end this session at the first logged step past this many minutes of training, as at
    # stop_after (a checkpoint there, the model published at it): for machines lent for a
    # fixed time (a batch job's wall time, a working session), resumed later
    time_limit: float | None = None
    push_to_hub: str | None = None  # a Hub repo id or a local folder
    progress: bool = True


@dataclass
class TrainConfig:
    """The whole config of one training run."""

    method: str
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    model: dict[str, Any] = field(default_factory=dict)
    discriminator: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, float] = field(default_factory=dict)

    @property
    def end_step(self) -> int:
        """The step this session ends at: the schedule's end, or run.stop_after before it."""
        return min(self.optim.steps, self.run.stop_after or self.optim.steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


_SECTIONS = {"data": DataConfig, "optim": OptimConfig, "run": RunConfig}
_FREE = ("model", "discriminator", "loss")


def _check_type(key: str, value: Any, annotation: Any) -> Any:
    """The value if it fits the annotation (ints accepted for floats), else a ConfigError."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(key, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} is not a {annotation}")
    if origin is list:
        (inner,) = typing.get_args(annotation)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_check_type(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, bool):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise ConfigError(
            f"{key}: expected {annotation.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _build_section(name: str, cls: type, values: Any):
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise ConfigError(f"{name}: expected a mapping, got {values!r}")
    if name == "run" and values.get("mixed_precision") is False:
        # YAML 1.1 reads a bare `no` as false; Accelerate's spelling is the string "no".
        values = {**values, "mixed_precision": "no"}
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"unknown key {name}.{key} (known: {', '.join(sorted(known))})")
    checked = {k: _check_type(f"{name}.{k}", v, hints[k]) for k, v in values.items()}
    return cls(**checked)


def from_dict(raw: dict[str, Any]) -> TrainConfig:
    """A validated TrainConfig from plain data (unknown keys and bad types are errors)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping, got {type(raw).__name__}")
    allowed = {"method", *_SECTIONS, *_FREE}
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"unknown key {key} (known: {', '.join(sorted(allowed))})")
    if not isinstance(raw.get("method"), str):
        raise ConfigError("method: missing (e.g. method: stargan)")
    sections = {name: _build_section(name, cls, raw.get(name)) for name, cls in _SECTIONS.items()}
    free = {}
    for name in _FREE:
        value = raw.get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a mapping, got {value!r}")
        free[name] = dict(value)
    config = TrainConfig(method=raw["method"], **sections, **free)
    _check_values(config)
    return config


def _check_restarts(o: OptimConfig) -> None:
    """Earlier cycles must be [decay_start, end] spans in order, before the last decay."""
    previous = 0
    for i, cycle in enumerate(o.restarts):
        if len(cycle) != 2 or not previous <= cycle[0] < cycle[1]:
            raise ConfigError(
                f"optim.restarts[{i}]: [decay_start, end] with {previous} <= decay_start < end, "
                f"got {cycle}"
            )
        previous = cycle[1]
    if o.restarts and (o.schedule != "linear" or o.decay_start < previous):
        raise ConfigError(
            f"optim.restarts: a linear schedule whose decay_start ({o.decay_start}) comes after "
            f"the last restart ({previous}); schedule is {o.schedule!r}"
        )


def _check_values(c: TrainConfig) -> None:
    """Range checks that types cannot express."""
    positive = {
        "data.resolution": c.data.resolution,
        "optim.batch_size": c.optim.batch_size,
        "optim.steps": c.optim.steps,
        "optim.n_critic": c.optim.n_critic,
        "optim.grad_accum": c.optim.grad_accum,
        "run.log_every": c.run.log_every,
        "run.keep_checkpoints": c.run.keep_checkpoints,
        "data.parser_every": c.data.parser_every,
    }
    if c.data.parser_batch_size is not None:
        positive["data.parser_batch_size"] = c.data.parser_batch_size
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    lrs = {
        "optim.lr_g": c.optim.lr_g,
        "optim.lr_d": c.optim.lr_d,
        "optim.lr_parser": c.optim.lr_parser,
    }
    for key, value in lrs.items():
        if not 0 < value < inf:
            raise ConfigError(f"{key}: must be positive and finite, got {value}")
    if len(c.optim.betas) != 2 or not all(0 <= b < 1 for b in c.optim.betas):
        raise ConfigError(f"optim.betas: two values in [0, 1), got {c.optim.betas}")
    if not 0 <= c.optim.ema < 1:
        raise ConfigError(f"optim.ema: must lie in [0, 1), got {c.optim.ema}")
    if c.optim.schedule not in ("linear", "poly", "constant"):
        raise ConfigError(
            f"optim.schedule: 'linear', 'poly' or 'constant', got {c.optim.schedule!r}"
        )
    _check_restarts(c.optim)
    if not 0 <= c.optim.critic_warmup < c.optim.steps:
        raise ConfigError(
            f"optim.critic_warmup: steps in [0, optim.steps={c.optim.steps}), got "
            f"{c.optim.critic_warmup}"
        )
    for key in ("optimizer", "parser_optimizer"):
        if getattr(c.optim, key) not in ("adam", "sgd"):
            raise ConfigError(f"optim.{key}: 'adam' or 'sgd', got {getattr(c.optim, key)!r}")
    if c.run.mixed_precision not in MIXED_PRECISION:
        raise ConfigError(
            f"run.mixed_precision: one of {MIXED_PRECISION}, got {c.run.mixed_precision!r}"
        )
    if not 0 <= c.data.flip <= 1:
        raise ConfigError(f"data.flip: a share of faces in [0, 1], got {c.data.flip!r}")
    if not 0 <= c.data.jitter <= 0.5:
        raise ConfigError(f"data.jitter: in [0, 0.5], got {c.data.jitter!r}")
    tones = c.data.skin_tones
    if tones is not None and (len(tones) != 2 or not 0 <= tones[0] < tones[1] <= 1):
        raise ConfigError(f"data.skin_tones: [low, high] with 0 <= low < high <= 1, got {tones}")
    if c.run.time_limit is not None and not 0 <= c.run.time_limit < inf:
        raise ConfigError(f"run.time_limit: minutes >= 0, got {c.run.time_limit!r}")
    for key in ("sample_every", "checkpoint_every"):
        if getattr(c.run, key) < 0:
            raise ConfigError(f"run.{key}: must be >= 0, got {getattr(c.run, key)}")
    for key, value in c.loss.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < inf:
            raise ConfigError(f"loss.{key}: a finite non-negative number, got {value!r}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """'optim.lr_g=2e-4' -> (['optim', 'lr_g'], 0.0002); values are read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, value = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"override {text!r} has no key")
    try:
        parsed = read_yaml(value) if value.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: cannot read the value: {err}") from None
    return path, parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of raw with each `a.b=c` applied (sections are created as needed)."""
    out = yaml.safe_load(yaml.safe_dump(raw))  # deep copy of plain data
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part} is not a section")
            node = child
        node[path[-1]] = value
    return out


def builtin_configs() -> list[str]:
    """Names of the configs shipped with segan (usable instead of a path)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _find(source: str | Path, relative_to: Path | None = None) -> Path:
    """A config file: a path (relative to the including file first) or a shipped name."""
    candidates = [Path(source)]
    if relative_to is not None:
        candidates.insert(0, relative_to / str(source))
    candidates.append(CONFIG_DIR / f"{source}.yaml")
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        f"config {source} is neither a file nor a shipped config ({', '.join(builtin_configs())})"
    )


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """base with update laid over it; mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_raw(source: str | Path, _seen: tuple[Path, ...] = (), _relative: Path | None = None):
    """A config file's plain data with its `extends:` chain resolved (no validation)."""
    path = _find(source, _relative).resolve()
    if path in _seen:
        chain = " -> ".join(str(p.name) for p in (*_seen, path))
        raise ConfigError(f"extends: a config includes itself ({chain})")
    try:
        raw = read_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping, got {type(raw).__name__}")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends: expected a config name or path, got {parent!r}")
    return merge(read_raw(parent, (*_seen, path), path.parent), raw)


def load_config(source: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """A validated config from a YAML file (or a shipped config's name) plus overrides.

    A file may start from another with `extends: NAME_OR_PATH`; its own keys are laid over.
    """
    return from_dict(apply_overrides(read_raw(source), list(overrides)))


# What a resumed run may not change: the networks its checkpoint holds and the data they see.
# Keys naming where a network starts from (`*weights`) do not matter once it resumes.
RESUME_FIXED = (
    "method",
    "model",
    "discriminator",
    "data.dataset",
    "data.resolution",
    "data.parser_dataset",
    "optim.ema",
)


def _fixed_values(config: TrainConfig) -> dict[str, Any]:
    raw = config.to_dict()
    out: dict[str, Any] = {}
    for key in RESUME_FIXED:
        section, _, name = key.partition(".")
        value = raw[section] if not name else raw[section][name]
        if isinstance(value, dict):
            for k, v in value.items():
                if not k.endswith("weights"):
                    out[f"{section}.{k}"] = v
        else:
            out[key] = value > 0 if key == "optim.ema" else value
    return out


def check_resumable(config: TrainConfig, saved: TrainConfig, where: Path) -> None:
    """Refuse to resume a run whose networks or data this config changes, naming the key."""
    mine, theirs = _fixed_values(config), _fixed_values(saved)
    for key in sorted(set(mine) | set(theirs)):
        if mine.get(key) != theirs.get(key):
            raise ConfigError(
                f"{key}: {mine.get(key)!r} here, {theirs.get(key)!r} in {where}; a resumed run "
                "keeps its networks (resume with `segan train --resume RUN` alone, or start a "
                "new run folder with model.init_weights=RUN/model to fine-tune)"
            )


def resume_config(run_dir: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """The config a run folder was trained with (its `config.yaml`), set to continue from its
    newest checkpoint to the end of its schedule; overrides may change the schedule and
    reporting (run.stop_after and run.time_limit among them), not the networks."""
    run_dir = Path(run_dir)
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"--resume {run_dir}: no config.yaml there; not a run folder")
    # a stop point or time limit belongs to the session that set it, not to the run; the
    # trainer refuses overrides that change the networks (check_resumable)
    fixed = [
        "run.stop_after=null",
        "run.time_limit=null",
        *overrides,
        f"run.output_dir={run_dir}",
        "run.resume=latest",
    ]
    return from_dict(apply_overrides(read_raw(saved), fixed))
