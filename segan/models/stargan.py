"""StarGAN (Choi et al., CVPR 2018): the global-only baseline, label tiled onto the input.

The generator is conv7x7 -> two 4x4 stride-2 down-samplings -> `repeat_num` residual blocks ->
two 4x4 stride-2 transposed convolutions -> conv7x7 -> tanh, with affine instance norm and ReLU
after every convolution but the last. Its parameters are laid out key for key like yunjey's
`Generator` (`main.0` ... `main.{9 + repeat_num + 6}`), minus the InstanceNorm running buffers:
segan normalises every image by its own statistics, in training and inference alike, which is
what yunjey's `solver.test()` did too (it never calls `eval()`).

The encoder/decoder helpers here are shared with GANimation and SARGAN, which inherit the same
trunk (and the same `main.<index>` numbering) from StarGAN.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from segan.labels import EXPRESSIONS, RAFD_EXPRESSIONS
from segan.models.base import Editor, EditOutput, check_condition, check_image, tile
from segan.models.blocks import ResidualBlock, check_upsampling, instance_norm, upsampling
from segan.models.convert import ConvertOptions, load_strict, register_converter, require

# The attributes of yunjey's downloadable CelebA checkpoints (`--selected_attrs`, c_dim=5).
CELEBA_ATTRIBUTES: tuple[str, ...] = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
# RaFD as torchvision's ImageFolder sees it (alphabetical folder names), in segan's names.
RAFD_LABELS: tuple[str, ...] = tuple(RAFD_EXPRESSIONS[name] for name in sorted(RAFD_EXPRESSIONS))
# InstanceNorm2d(track_running_stats=True) buffers that segan's instance norm does not have.
NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
DEFAULT_RESOLUTION = 128


# --- The StarGAN trunk, shared by StarGAN, GANimation and SARGAN. ---------------------------
def encoder_layers(in_channels: int, conv_dim: int) -> list[nn.Module]:
    """conv7x7-IN-ReLU then two conv4x4/2-IN-ReLU (9 modules: `main.0` ... `main.8`);
    the output has 4 * conv_dim channels at a quarter of the input size."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, conv_dim, 7, 1, 3, bias=False),
        instance_norm(conv_dim),
        nn.ReLU(inplace=True),
    ]
    channels = conv_dim
    for _ in range(2):
        layers += [
            nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False),
            instance_norm(channels * 2),
            nn.ReLU(inplace=True),
        ]
        channels *= 2
    return layers


def decoder_layers(channels: int, upsample: str = "transposed") -> list[nn.Module]:
    """Two x2 upsamplings (convT4x4/2, or a resize-convolution: blocks.UPSAMPLING), each with
    IN and ReLU (6 modules), taking `channels` down to `channels // 4`."""
    layers: list[nn.Module] = []
    for _ in range(2):
        layers += [
            upsampling(channels, channels // 2, upsample),
            instance_norm(channels // 2),
            nn.ReLU(inplace=True),
        ]
        channels //= 2
    return layers


def check_labels(labels: Sequence[str], what: str = "labels") -> list[str]:
    """The label list as a list, or a ValueError if it is empty, repeats or holds non-strings."""
    if isinstance(labels, str) or not all(isinstance(x, str) and x for x in labels):
        raise ValueError(f"{what} must be a list of non-empty strings, got {labels!r}")
    out = list(labels)
    if not out or len(set(out)) != len(out):
        raise ValueError(f"{what} must be non-empty and without repeats, got {out}")
    return out


def check_edit_inputs(
    x: torch.Tensor, condition: torch.Tensor, width: int, multiple: int = 4
) -> torch.Tensor:
    """Validate an editor's inputs; the condition comes back as a float tensor like `x`."""
    check_image(x)
    if x.shape[-2] % multiple or x.shape[-1] % multiple:
        raise ValueError(
            f"x must have height and width divisible by {multiple} (two stride-2 stages), "
            f"got {tuple(x.shape)}"
        )
    check_condition(condition, x.shape[0], width)
    return condition.to(device=x.device, dtype=x.dtype)


def check_size(image_size: int, multiple: int = 4) -> int:
    """A clear error for training resolutions the generator cannot take."""
    if not isinstance(image_size, int) or image_size <= 0 or image_size % multiple:
        raise ValueError(f"image_size must be a positive multiple of {multiple}, got {image_size}")
    return image_size


# --- The model. ---------------------------------------------------------------------------
class StarGAN(Editor):
    """StarGAN's generator: one global encoder-residual-decoder network, label tiled onto x.

    `conv_dim` is the first layer's width (64 in the paper; the bottleneck has 4 * conv_dim
    channels), `repeat_num` the number of residual blocks (6), `labels` the condition names in
    the order of the one-hot condition, `image_size` the training resolution (the network is
    fully convolutional and edits any size divisible by 4), `upsample` the decoder's
    upsampling (the paper's "transposed" convolutions, or "resize": blocks.UPSAMPLING).
    """

    architecture = "stargan"
    paper = (
        "Choi et al., StarGAN: Unified Generative Adversarial Networks for Multi-Domain "
        "Image-to-Image Translation, CVPR 2018"
    )
    condition_kind = "label"

    def __init__(
        self,
        conv_dim: int = 64,
        repeat_num: int = 6,
        labels: Sequence[str] = EXPRESSIONS,
        image_size: int = 128,
        upsample: str = "transposed",
    ):
        super().__init__()
        if conv_dim <= 0 or repeat_num < 0:
            raise ValueError(f"need conv_dim > 0 and repeat_num >= 0, got {conv_dim}, {repeat_num}")
        self.labels = check_labels(labels)
        self.image_size = check_size(image_size)
        self.conv_dim, self.repeat_num = conv_dim, repeat_num
        self.upsample = check_upsampling(upsample)
        width = 4 * conv_dim
        self.main = nn.Sequential(
            *encoder_layers(3 + len(self.labels), conv_dim),
            *(ResidualBlock(width) for _ in range(repeat_num)),
            *decoder_layers(width, self.upsample),
            nn.Conv2d(conv_dim, 3, 7, 1, 3, bias=False),
            nn.Tanh(),
        )

    def explain(self, x: torch.Tensor, condition: torch.Tensor) -> EditOutput:
        """The edited image; StarGAN has nothing else to show."""
        c = check_edit_inputs(x, condition, len(self.labels))
        return EditOutput(image=self.main(torch.cat([x, tile(c, x.shape[-2:])], dim=1)))


# --- Checkpoint conversion helpers, shared with GANimation and SARGAN. -----------------------


def drop_norm_buffers(
    state: Mapping[str, torch.Tensor], expected: Iterable[str]
) -> dict[str, torch.Tensor]:
    """Drop InstanceNorm running buffers of the layers segan has (normalised per instance);
    any other buffer is kept, so the strict load names it as unexpected."""
    expected = set(expected)
    out = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in NORM_BUFFERS and f"{prefix}.weight" in expected:
            continue
        out[key] = value
    return out


def load_renamed(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    to_segan: Callable[[str], str] = str,
    to_original: Callable[[str], str] = str,
) -> None:
    """Rename a checkpoint's keys to segan's, drop InstanceNorm running buffers and load
    strictly; errors name the checkpoint's own key (with segan's name where it differs)."""
    mapped: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for key, value in state.items():
        new = to_segan(key)
        if new in mapped:
            raise ValueError(f"{source}: keys {origin[new]!r} and {key!r} both map to {new!r}")
        mapped[new], origin[new] = value, key
    try:
        load_strict(model, drop_norm_buffers(mapped, model.state_dict()), source)
    except ValueError as err:
        message = str(err)
        quoted = re.search(r"'([^']*)'", message)
        if quoted:
            new = quoted.group(1)
            old = origin.get(new) or to_original(new)
            if old != new:
                message = message.replace(f"'{new}'", f"'{old}' (segan's '{new}')", 1)
        raise ValueError(message) from None


def count_blocks(state: Mapping[str, torch.Tensor], first: int = 9) -> int:
    """The number of residual blocks: the run of `main.<i>.main.*` keys from `main.<first>`."""
    indices = {int(m.group(1)) for k in state if (m := re.match(r"main\.(\d+)\.main\.", k))}
    count = 0
    while first + count in indices:
        count += 1
    return count


def resolve_labels(
    options: ConvertOptions, num: int, defaults: Mapping[int, Sequence[str]], source: str
) -> list[str]:
    """The checkpoint's label names: options.labels, else the known set for `num` classes."""
    if options.labels is not None:
        labels = check_labels(options.labels, "options.labels")
        if len(labels) != num:
            raise ValueError(
                f"{source} has {num} condition channels but options.labels names {len(labels)}: "
                f"{labels}"
            )
        return labels
    if num in defaults:
        return list(defaults[num])
    known = ", ".join(f"{n} ({', '.join(v)})" for n, v in defaults.items())
    raise ValueError(
        f"{source} has {num} condition channels, which matches no known label set ({known}); "
        "give the label names in the checkpoint's order (options.labels / --labels)"
    )


def resolution(options: ConvertOptions) -> int:
    """The training resolution: options.resolution, else 128."""
    return check_size(options.resolution or DEFAULT_RESOLUTION)


def input_conv(state: Mapping[str, torch.Tensor], source: str) -> tuple[int, int]:
    """(conv_dim, number of condition channels) read from the first convolution's shape."""
    w = require(state, "main.0.weight", ndim=4)
    if w.shape[1] <= 3:
        raise ValueError(
            f"{source}: key 'main.0.weight' has shape {tuple(w.shape)}; its input channels "
            "must be 3 image channels plus at least one condition channel"
        )
    return int(w.shape[0]), int(w.shape[1]) - 3


@register_converter("stargan")
def convert_stargan(state: dict[str, torch.Tensor], options: ConvertOptions) -> StarGAN:
    """yunjey/stargan `*-G.ckpt` -> StarGAN (widths, label count and depth from the shapes).

    Labels: options.labels, else the CelebA attributes for 5 classes or RaFD (alphabetical
    folder order, segan's expression names) for 8. Running buffers are dropped.
    """
    source = "stargan checkpoint"
    conv_dim, num = input_conv(state, source)
    labels = resolve_labels(options, num, {5: CELEBA_ATTRIBUTES, 8: RAFD_LABELS}, source)
    model = StarGAN(conv_dim, count_blocks(state), labels, resolution(options))
    load_renamed(model, state, source)
    return model
