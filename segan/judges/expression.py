"""The expression judge: fer's mini-Xception (Arriaga et al. 2017, as shipped by fer 25.10.3),
read from its Keras file into a PyTorch module, with fer's own face preprocessing.

The network takes a 64x64 grey face scaled to [-1, 1] and gives 7 FER2013 classes in fer's
order (angry, disgust, fear, happy, sad, surprise, neutral); `JUDGE_CLASSES` names them the
segan way. Contempt is not among them, so the judge cannot confirm a contempt edit.

How fer turns a photo into the network's input, and so how `ExpressionJudge.read_photo` does:

1. grey = OpenCV's BGR/RGB-to-grey of the 8-bit picture;
2. faces = OpenCV's frontal-face Haar cascade (`haarcascade_frontalface_default.xml`),
   scale factor 1.1, 5 neighbours, faces of at least 50x50 px;
3. the grey picture is padded by 40 px on every side with the mean of its bottom two rows;
4. each box is made square (the shorter side grows, centred), widened by 10 px on every side,
   cut from the padded picture (the cut stops at the padding's edge), resized to 64x64 with
   bilinear interpolation on 8-bit values, and scaled as x / 255 * 2 - 1.

Aligned face crops (FFHQ-style, as segan's editors produce them) take a fixed face region
instead of the cascade: `ALIGNED_FACE_REGION`, where the cascade puts fer's region on FFHQ crops
at 256 px. On 128 px crops it agrees with fer's reading of the 256 px copy at least as often as
the cascade run on the 128 px crop does, and closer in probabilities; it never misses a face
and does not move when an edit changes the face's outline, so an edit is read through the same
pixels as its original (figures in `benchmarks/results/judges.md`). `crop="haar"` runs the
cascade on each crop instead, falling back to the fixed region.

Port details the Keras file fixes: convolution kernels are HWIO (height, width, in, out),
depthwise kernels HW(in)(multiplier), BatchNormalization keeps gamma, beta, moving_mean and
moving_variance with the epsilon its config gives (1e-3 in this file); "same" padding is
TensorFlow's, which puts the odd pixel after (bottom, right), as in the stride-2 max pools here.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segan.assets import locate
from segan.labels import EXPRESSIONS
from segan.photos.faces import face_cascade

__all__ = [
    "ALIGNED_FACE_REGION",
    "FER_CLASSES",
    "FER_TO_SEGAN",
    "JUDGE_CLASSES",
    "SEGAN_INDEX",
    "ExpressionJudge",
    "ExpressionReading",
    "KerasWeightsError",
    "MiniXception",
    "aligned_crop",
    "fer_face_crop",
    "fer_region",
    "haar_faces",
    "keras_layout",
    "keras_reference_forward",
    "load_expression_judge",
    "load_mini_xception",
    "to_gray_uint8",
    "to_segan_order",
]

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_SEGAN: dict[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}
# The judge's classes in its output order, named the segan way.
JUDGE_CLASSES: tuple[str, ...] = tuple(FER_TO_SEGAN[name] for name in FER_CLASSES)
# SEGAN_INDEX[k] is the index in segan.labels.EXPRESSIONS of the judge's class k.
SEGAN_INDEX: tuple[int, ...] = tuple(EXPRESSIONS.index(name) for name in JUDGE_CLASSES)

INPUT_SIZE = 64
# fer's face finding and cropping (fer.FER defaults; the cascade is OpenCV's frontal face).
HAAR_SCALE_FACTOR = 1.1
HAAR_MIN_NEIGHBOURS = 5
HAAR_MIN_SIZE = 50
FER_PADDING = 40
FER_OFFSETS = (10, 10)
# The face region fer's network sees on an FFHQ-aligned crop, as fractions of the crop's side
# (left, top, right, bottom): the cascade's box on such crops widened by fer's offsets, the
# median over FFHQ ids 0-549 at 256 px (benchmarks/judges.py measures it).
ALIGNED_FACE_REGION: tuple[float, float, float, float] = (0.1250, 0.1719, 0.8789, 0.9258)

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
    from segan.judges import require

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
    from segan.judges import require

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


# --- fer's preprocessing ---------------------------------------------------------------------


def to_gray_uint8(image: Any) -> np.ndarray:
    """One picture as (H, W) uint8 grey, the way fer sees it.

    Takes an (H, W, 3|4) uint8 RGB(A) array, an (H, W) uint8 grey array, a PIL image, a file
    path, or a (3, H, W) tensor in [-1, 1]. Colour goes to grey with OpenCV's weights.
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise ValueError(f"{path} is not a picture OpenCV can read")
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) image tensor, got {tuple(image.shape)}")
        image = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
        image = image.to(torch.uint8).permute(1, 2, 0).numpy()
    if not isinstance(image, np.ndarray):  # PIL
        image = np.asarray(image.convert("RGB"))
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected (H, W), (H, W, 3) or (H, W, 4) pixels, got {image.shape}")


def haar_faces(gray: np.ndarray, min_size: int = HAAR_MIN_SIZE) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) the way fer finds them, largest first."""
    found = face_cascade().detectMultiScale(
        gray,
        scaleFactor=HAAR_SCALE_FACTOR,
        minNeighbors=HAAR_MIN_NEIGHBOURS,
        flags=cv2.CASCADE_SCALE_IMAGE,
        minSize=(min_size, min_size),
    )
    boxes = [tuple(int(v) for v in box) for box in (found if len(found) else [])]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def _square(box: Sequence[int]) -> tuple[int, int, int, int]:
    x, y, w, h = (int(v) for v in box)
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    return x, y, w, h


def fer_region(box: Sequence[int]) -> tuple[int, int, int, int]:
    """The pixels (x1, y1, x2, y2) fer cuts for a face box: squared, widened by the offsets."""
    x, y, w, h = _square(box)
    dx, dy = FER_OFFSETS
    return x - dx, y - dy, x + w + dx, y + h + dy


def _cut(gray: np.ndarray, region: Sequence[int]) -> np.ndarray:
    """Cut `region` (x1, y1, x2, y2) out of `gray` the way fer does: outside the picture lies a
    40 px band of the bottom two rows' mean grey, and the cut stops where that band ends."""
    x1, y1, x2, y2 = (int(v) for v in region)
    fill = round(float(gray[-2:].mean()))
    h, w = gray.shape
    p = FER_PADDING
    # the cut in padded coordinates, clipped to the padded picture
    px1, py1 = max(x1 + p, 0), max(y1 + p, 0)
    px2, py2 = min(x2 + p, w + 2 * p), min(y2 + p, h + 2 * p)
    if px2 <= px1 or py2 <= py1:
        raise ValueError(f"face region {tuple(region)} lies outside the {w}x{h} picture")
    out = np.full((py2 - py1, px2 - px1), fill, np.uint8)
    # the part that lies inside the picture itself
    ix1, iy1 = max(px1 - p, 0), max(py1 - p, 0)
    ix2, iy2 = min(px2 - p, w), min(py2 - p, h)
    if ix2 > ix1 and iy2 > iy1:
        out[iy1 + p - py1 : iy2 + p - py1, ix1 + p - px1 : ix2 + p - px1] = gray[iy1:iy2, ix1:ix2]
    return out


def fer_face_crop(gray: np.ndarray, box: Sequence[int]) -> np.ndarray:
    """fer's 64x64 uint8 network input for face `box` (x, y, w, h) of the grey picture."""
    window = _cut(gray, fer_region(box))
    return cv2.resize(window, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)


def aligned_crop(gray: np.ndarray, region: Sequence[float] = ALIGNED_FACE_REGION) -> np.ndarray:
    """The 64x64 uint8 network input of an aligned face crop: the fixed `region` (fractions of
    the side: left, top, right, bottom), cut as fer cuts and resized as fer resizes."""
    h, w = gray.shape
    left, top, right, bottom = region
    box = (round(left * w), round(top * h), round(right * w), round(bottom * h))
    window = _cut(gray, box)
    return cv2.resize(window, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)


def _scaled(faces: Sequence[np.ndarray]) -> torch.Tensor:
    stack = np.stack(faces).astype(np.float32)
    return torch.from_numpy(stack / 255.0 * 2.0 - 1.0)[:, None]


# --- the judge -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpressionReading:
    """The judge's reading of one face in a photo."""

    box: tuple[int, int, int, int]  # (x, y, w, h) as the cascade found it, photo pixels
    probabilities: dict[str, float]  # segan expression name -> probability (7 names)

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)

    @property
    def probability(self) -> float:
        return self.probabilities[self.label]


class ExpressionJudge:
    """Reads expressions of real faces with fer's mini-Xception.

    `read_photo` finds faces as fer does; `probabilities` and `__call__` read aligned face
    crops (N, 3, H, W) in [-1, 1] through the fixed `region` (or the cascade, `crop="haar"`,
    falling back to the region where it finds no face).
    """

    def __init__(
        self,
        model: MiniXception,
        crop: str = "fixed",
        region: Sequence[float] = ALIGNED_FACE_REGION,
        device: str | torch.device = "cpu",
    ):
        if crop not in ("fixed", "haar"):
            raise ValueError(f"crop must be 'fixed' or 'haar', got {crop!r}")
        left, top, right, bottom = (float(v) for v in region)
        if not (right > left and bottom > top):
            raise ValueError(f"face region {tuple(region)} is empty")
        self.model = model.eval().to(device)
        self.crop, self.region, self.device = crop, (left, top, right, bottom), torch.device(device)

    @torch.no_grad()
    def classify(self, faces: torch.Tensor) -> torch.Tensor:
        """(N, 7) probabilities in the judge's order for network inputs (N, 1, 64, 64)."""
        return F.softmax(self.model(faces.to(self.device).float()), dim=1).cpu()

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """The network inputs (N, 1, 64, 64) in [-1, 1] of aligned face crops."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (N, 3, H, W) face crops, got {tuple(images.shape)}")
        faces = []
        for image in images:
            gray = to_gray_uint8(image)
            boxes = haar_faces(gray, _haar_min_size(gray)) if self.crop == "haar" else []
            faces.append(
                fer_face_crop(gray, boxes[0]) if boxes else aligned_crop(gray, self.region)
            )
        return _scaled(faces)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 7) probabilities in the judge's order (`JUDGE_CLASSES`) for aligned crops."""
        if images.shape[0] == 0:
            return torch.zeros(0, len(JUDGE_CLASSES))
        return self.classify(self.inputs(images))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 8) probabilities in segan's expression order for aligned crops; contempt, which
        the judge cannot read, is 0."""
        return to_segan_order(self.probabilities(images))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(N,) segan expression indices the judge reads on aligned crops (never contempt)."""
        return self(images).argmax(1)

    def read_photo(self, image: Any) -> list[ExpressionReading]:
        """Every face fer would find in a photo, largest first, with the judge's reading."""
        gray = to_gray_uint8(image)
        boxes = haar_faces(gray)
        if not boxes:
            return []
        probs = self.classify(_scaled([fer_face_crop(gray, box) for box in boxes]))
        return [
            ExpressionReading(
                box, {name: float(p) for name, p in zip(JUDGE_CLASSES, row, strict=True)}
            )
            for box, row in zip(boxes, probs, strict=True)
        ]


def _haar_min_size(gray: np.ndarray) -> int:
    """fer's 50 px smallest face, scaled down for crops too small to hold one."""
    return min(HAAR_MIN_SIZE, max(20, min(gray.shape) // 3))


def to_segan_order(probs: torch.Tensor) -> torch.Tensor:
    """(N, 7) judge probabilities -> (N, 8) in segan's EXPRESSIONS order (contempt 0)."""
    out = torch.zeros(probs.shape[0], len(EXPRESSIONS), dtype=probs.dtype)
    out[:, list(SEGAN_INDEX)] = probs
    return out


def load_expression_judge(
    path: str | Path | None = None,
    crop: str = "fixed",
    device: str | torch.device = "cpu",
    download: bool = True,
) -> ExpressionJudge:
    """The expression judge from fer's `emotion_model.hdf5`, found by `segan.assets.locate`
    (a given path, `SEGAN_FER_EMOTION`, an installed carrier, the cache, then the publisher
    unless `download` is False)."""
    file = locate("fer_emotion", path, download=download)
    return ExpressionJudge(load_mini_xception(file), crop=crop, device=device)
