"""The base of every segan network: Hub I/O (safetensors + config.json), a registry, roles.

Every top-level network subclasses `SeganModel`. Its `__init__` takes only JSON-serialisable
arguments (they become config.json through huggingface_hub's PyTorchModelHubMixin), and the
class declares:

- `architecture`: the registry name written into config.json, read back by `segan.load`;
- `role`: "parser", "editor", "discriminator" or "evaluator";
- `paper`: the citation shown in the model card.

Uniform calls: a parser `model(x)` returns main logits (N, 19, H, W) (`aux=True` adds its
auxiliary heads); an editor `model(x, condition)` returns the edited image and
`model.explain(x, condition)` returns an `EditOutput` with what the app shows. Images are
(N, 3, H, W) in [-1, 1]; AU conditions are intensities / 5 (absolute, or relative for
`finegrained`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

REGISTRY: dict[str, type[SeganModel]] = {}
ROLES = ("parser", "editor", "discriminator", "evaluator")
WEIGHTS_NAME = "model.safetensors"


@dataclass
class EditOutput:
    """An edit and what explains it (each extra is None where a model has no such thing)."""

    image: torch.Tensor  # (N, 3, H, W) in [-1, 1]
    attention: torch.Tensor | None = None  # (N, 1, H, W) in [0, 1]; 1 keeps the input pixel
    color: torch.Tensor | None = None  # (N, 3, H, W) colour map of attention models
    region_masks: torch.Tensor | None = None  # (N, R, H, W) soft masks of the local regions
    region_names: tuple[str, ...] = ()
    parser_logits: torch.Tensor | None = None  # (N, 19, H, W)
    boxes: torch.Tensor | None = None  # (N, R, 4) x0, y0, x1, y1 pixel boxes (boxhgan)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class SeganModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="segan",
    tags=["segan", "facial-expression-editing"],
    license="apache-2.0",
):
    """Base class: registry, role, architecture name in the config, safetensors-only loading."""

    architecture: ClassVar[str] = ""
    role: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    # how the faces it learnt from were cut out of their photos: "box" (a square around the
    # face, as SynthFaces and the publishers' crops are) or "ffhq" (FFHQ's landmark alignment);
    # `segan.load` reads it from the training record in config.json
    alignment: str = "box"
    # the dataset it learnt from, as its training record in config.json names it ("synthfaces",
    # "ffhq", ...); None when the record names none
    trained_on: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("architecture", "")
        if name:
            if cls.role not in ROLES:
                raise TypeError(f"{cls.__name__}.role must be one of {ROLES}, got {cls.role!r}")
            if name in REGISTRY and REGISTRY[name] is not cls:
                raise TypeError(f"architecture {name!r} is registered twice")
            REGISTRY[name] = cls

    @property
    def config(self) -> dict[str, Any]:
        """The JSON config: constructor arguments plus the architecture name."""
        config = dict(self._hub_mixin_config or {})
        config["architecture"] = self.architecture
        return config

    def generate_model_card(self, *args: Any, **kwargs: Any):
        """A model card naming the architecture, its paper, its size and its config.

        Keyword arguments (e.g. `training`, `metrics`, `data` from the trainer) are rendered as
        extra sections.
        """
        import json

        from huggingface_hub import ModelCard, ModelCardData

        info = self._hub_mixin_info
        data = ModelCardData(**info.model_card_data.to_dict())
        data.tags = sorted(set((data.tags or []) + [self.architecture, self.role]))
        if kwargs.get("license"):  # the training data's terms bind the weights
            data.license = kwargs["license"]
        sections = {k: v for k, v in kwargs.items() if v is not None and k != "license"}
        return ModelCard.from_template(
            data,
            template_str=_MODEL_CARD,
            architecture=self.architecture,
            role=self.role,
            paper=self.paper or "segan",
            parameters=f"{self.num_parameters():,}",
            config=json.dumps(self.config, indent=2, sort_keys=True),
            sections=sections,
        )

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def save_pretrained(
        self, save_directory: str | Path, *, config: dict | None = None, **kwargs: Any
    ) -> str | None:
        """Write model.safetensors, config.json (with `architecture`) and a model card."""
        merged = self.config
        if config:
            merged.update(config)
        return super().save_pretrained(save_directory, config=merged, **kwargs)

    def push_to_hub(self, repo_id: str, *, config: dict | None = None, **kwargs: Any) -> str:
        merged = self.config
        if config:
            merged.update(config)
        return super().push_to_hub(repo_id, config=merged, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any):
        """Load weights (safetensors only) with strict key matching by default."""
        kwargs.setdefault("strict", True)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs: Any,
    ):
        from huggingface_hub import hf_hub_download
        from safetensors import SafetensorError
        from safetensors.torch import load_model

        model_kwargs.pop("architecture", None)
        model = cls(**model_kwargs)
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, WEIGHTS_NAME)
            if not os.path.isfile(weights):
                raise FileNotFoundError(
                    f"{model_id} has no {WEIGHTS_NAME}: segan loads safetensors weights only"
                )
        else:
            weights = hf_hub_download(
                repo_id=model_id,
                filename=WEIGHTS_NAME,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        try:
            missing, unexpected = load_model(model, weights, strict=False, device=map_location)
        except SafetensorError as err:
            raise ValueError(f"{weights}: not a readable safetensors file ({err})") from None
        except RuntimeError as err:  # a tensor of the wrong shape
            raise ValueError(f"{weights} does not fit {cls.__name__}: {load_error(err)}") from None
        if strict and (missing or unexpected):
            what = f"missing {sorted(missing)[0]!r}" if missing else ""
            what += ("; " if what else "") + (
                f"unexpected {sorted(unexpected)[0]!r}" if unexpected else ""
            )
            raise KeyError(
                f"{weights} does not match {cls.__name__}: {what} "
                f"({len(missing)} missing, {len(unexpected)} unexpected keys)"
            )
        model.eval()
        return model


def load_error(err: RuntimeError) -> str:
    """The first offending key of a `load_state_dict` error (its message lists them all)."""
    lines = [line.strip() for line in str(err).strip().splitlines()]
    return next((line for line in lines[1:] if line), lines[0] if lines else str(err))


_MODEL_CARD = """---
{{ card_data }}
---

# segan `{{ architecture }}` ({{ role }})

Paper: {{ paper }}

{{ parameters }} parameters. Load it with:

```python
import segan

model = segan.load("path/or/hub-repo-id")
```

Images are float RGB tensors (N, 3, H, W) in [-1, 1]; needs the `segan` package.
{% for title, body in sections.items() %}
## {{ title | capitalize }}

{{ body }}
{% endfor %}
## Config

```json
{{ config }}
```
"""


def freeze_batch_norm(module: nn.Module) -> None:
    """Put every batch-norm layer of `module` in eval mode: fine-tuning keeps the statistics
    a parser was trained with (a GAN batch or a small batch would otherwise shift them)."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.eval()


class Parser(SeganModel):
    """A face parser: images in [-1, 1] -> 19-class logits in segan's part order."""

    role = "parser"
    num_classes: int = 19
    # its own training objective (segan.train.methods.parser_loss): "ohem" (OHEM cross-entropy
    # on the main and auxiliary heads, face-parsing.PyTorch) or "cross_entropy" (one head)
    objective: ClassVar[str] = "cross_entropy"
    # a training setting, not saved with the weights: train() keeps batch norm in eval mode
    # (optim.freeze_bn, for a parser fine-tuned alone as seghgan fine-tunes its own)
    freeze_bn: bool = False

    def train(self, mode: bool = True) -> Parser:
        super().train(mode)
        if mode and self.freeze_bn:
            freeze_batch_norm(self)
        return self

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """Arg-max class map (N, H, W)."""
        return self(x).argmax(1)

    def _set_parts(
        self,
        num_classes: int,
        labels: Sequence[str],
        base_width: int,
        resolution: int,
        input_scale: float = 1.0,
    ) -> None:
        """Check and keep the constructor arguments every parser shares. `input_scale`
        resizes the input by that factor before parsing (a face smaller than the ones the
        weights learnt from is parsed at their size); the logits come back at the input size."""
        if len(labels) != num_classes:
            raise ValueError(f"labels name {len(labels)} classes, num_classes is {num_classes}")
        if base_width < 1:
            raise ValueError(f"base_width must be positive, got {base_width}")
        if not 0.25 <= input_scale <= 8:
            raise ValueError(f"input_scale must lie in [0.25, 8], got {input_scale}")
        self.num_classes = num_classes
        self.part_names: tuple[str, ...] = tuple(labels)
        self.resolution = resolution
        self.input_scale = float(input_scale)

    def _scaled_input(self, x: torch.Tensor) -> torch.Tensor:
        """The input resized by `input_scale` (itself when 1)."""
        if self.input_scale == 1.0:
            return x
        return F.interpolate(x, scale_factor=self.input_scale, mode="bilinear", antialias=True)


class Editor(SeganModel):
    """An expression editor: `model(x, condition)` -> edited image in [-1, 1].

    `condition_kind` says what the condition is: "label" (one-hot/soft over `labels`),
    "aus" (absolute AU intensities / 5) or "relative_aus" (target minus source, / 5).
    """

    role = "editor"
    condition_kind: ClassVar[str] = "label"
    # whether an edit also takes the faces' 68 landmarks: model(x, condition, landmarks)
    needs_landmarks: ClassVar[bool] = False

    def forward(self, x: torch.Tensor, condition: torch.Tensor, explain: bool = False):
        """The edited image; with `explain=True` the whole EditOutput (a call that also goes
        through wrappers such as DistributedDataParallel)."""
        out = self.explain(x, condition)
        return out if explain else out.image

    def explain(self, x: torch.Tensor, condition: torch.Tensor) -> EditOutput:
        raise NotImplementedError


def tile(condition: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Repeat a (N, C) condition over space: (N, C, H, W)."""
    return condition[:, :, None, None].expand(-1, -1, *size)


def check_image(x: torch.Tensor, name: str = "x") -> None:
    """A clear error for images that are not (N, 3, H, W) float tensors."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be an image batch (N, 3, H, W), got {shape}")
    if not x.dtype.is_floating_point:
        raise ValueError(f"{name} must be a float tensor in [-1, 1], got dtype {x.dtype}")


def check_condition(condition: torch.Tensor, n: int, width: int, name: str = "condition") -> None:
    """A clear error for conditions that are not (N, width)."""
    if not isinstance(condition, torch.Tensor) or condition.shape != (n, width):
        shape = tuple(condition.shape) if isinstance(condition, torch.Tensor) else condition
        raise ValueError(f"{name} must have shape ({n}, {width}), got {shape}")
