"""The two face parsers (BiSeNet, CelebAMask-HQ UNet): shapes, parameter counts, checkpoint
conversion key for key, equality with an independent functional re-implementation of the
original forward passes, Hub round trips, gradients, and refusal of bad checkpoints."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import segan
from segan.labels import FACE_PARTS, PART_INDEX, UNET_TO_SEGAN
from segan.models.base import Parser
from segan.models.bisenet import BiSeNet
from segan.models.convert import ConvertOptions, convert
from segan.models.unet import UNet

# The public checkpoints' layouts: every key and shape, from the project's reference notes.
REFERENCE = Path(__file__).parent / "fixtures" / "reference_weights"
JSONS = {"bisenet": "face-parsing-bisenet.json", "unet": "celebamask-unet.json"}
KINDS = {"bisenet": "face-parsing-bisenet", "unet": "celebamask-unet"}
CLASSES = {"bisenet": BiSeNet, "unet": UNet}
TINY = {"bisenet": {"base_width": 8}, "unet": {"base_width": 4}}
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
ARCHS = ("bisenet", "unet")


def reference_layout(arch: str) -> tuple[dict[str, tuple[int, ...]], int]:
    """(key -> shape of the public checkpoint, its parameter count)."""
    spec = json.loads((REFERENCE / JSONS[arch]).read_text())
    shapes = {key: tuple(shape) for key, shape in spec["state_dict"].items()}
    return shapes, spec["num_parameters"]


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Plausible random weights for a layout: He-scaled convs, BN stats near identity."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        shape = tuple(shape)
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        elif key.endswith("running_mean"):
            state[key] = 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) == 4:
            fan_in = math.prod(shape[1:])
            state[key] = torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)
        elif key.endswith("weight"):  # BatchNorm scale
            state[key] = 0.5 + 0.5 * torch.rand(shape, generator=gen)
        else:  # BatchNorm shift or conv bias
            state[key] = 0.1 * torch.randn(shape, generator=gen)
    return state


def layout(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def tiny(arch: str) -> Parser:
    return CLASSES[arch](**TINY[arch])


def picture(n: int, h: int, w: int, seed: int = 1) -> torch.Tensor:
    """A random picture in [0, 1] (the originals' convention before normalisation)."""
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    scale = expected.abs().max().item()
    assert torch.isfinite(expected).all() and scale > 1e-3
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * scale)


# --- Independent functional forward passes of the original code, on raw checkpoint dicts. ---


def _bn(x: torch.Tensor, p: dict, name: str) -> torch.Tensor:
    return F.batch_norm(
        x,
        p[f"{name}.running_mean"],
        p[f"{name}.running_var"],
        p[f"{name}.weight"],
        p[f"{name}.bias"],
        training=False,
        eps=1e-5,
    )


def _conv_bn_relu(x: torch.Tensor, p: dict, name: str) -> torch.Tensor:
    weight = p[f"{name}.conv.weight"]
    return F.relu(_bn(F.conv2d(x, weight, padding=weight.shape[-1] // 2), p, f"{name}.bn"))


def _basic_block(x: torch.Tensor, p: dict, name: str, stride: int) -> torch.Tensor:
    out = F.relu(
        _bn(F.conv2d(x, p[f"{name}.conv1.weight"], stride=stride, padding=1), p, f"{name}.bn1")
    )
    out = _bn(F.conv2d(out, p[f"{name}.conv2.weight"], padding=1), p, f"{name}.bn2")
    if f"{name}.downsample.0.weight" in p:
        x = _bn(
            F.conv2d(x, p[f"{name}.downsample.0.weight"], stride=stride), p, f"{name}.downsample.1"
        )
    return F.relu(out + x)


def _arm(x: torch.Tensor, p: dict, name: str) -> torch.Tensor:
    feat = _conv_bn_relu(x, p, f"{name}.conv")
    atten = F.avg_pool2d(feat, feat.shape[2:])
    atten = torch.sigmoid(
        _bn(F.conv2d(atten, p[f"{name}.conv_atten.weight"]), p, f"{name}.bn_atten")
    )
    return torch.mul(feat, atten)


def _bisenet_head(x: torch.Tensor, p: dict, name: str, size: tuple[int, int]) -> torch.Tensor:
    out = F.conv2d(_conv_bn_relu(x, p, f"{name}.conv"), p[f"{name}.conv_out.weight"])
    return F.interpolate(out, size, mode="bilinear", align_corners=True)


def bisenet_original(p: dict, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """face-parsing.PyTorch BiSeNet.forward; x is ImageNet-normalised [0, 1] RGB."""
    size = tuple(x.shape[2:])
    y = F.relu(
        _bn(F.conv2d(x, p["cp.resnet.conv1.weight"], stride=2, padding=3), p, "cp.resnet.bn1")
    )
    y = F.max_pool2d(y, kernel_size=3, stride=2, padding=1)
    feats = []
    for layer in range(1, 5):
        for block in range(2):
            stride = 2 if layer > 1 and block == 0 else 1
            y = _basic_block(y, p, f"cp.resnet.layer{layer}.{block}", stride)
        feats.append(y)
    _, feat8, feat16, feat32 = feats
    avg = _conv_bn_relu(F.avg_pool2d(feat32, feat32.shape[2:]), p, "cp.conv_avg")
    avg_up = F.interpolate(avg, feat32.shape[2:], mode="nearest")
    feat32_up = F.interpolate(
        _arm(feat32, p, "cp.arm32") + avg_up, feat16.shape[2:], mode="nearest"
    )
    feat32_up = _conv_bn_relu(feat32_up, p, "cp.conv_head32")
    feat16_up = F.interpolate(
        _arm(feat16, p, "cp.arm16") + feat32_up, feat8.shape[2:], mode="nearest"
    )
    feat16_up = _conv_bn_relu(feat16_up, p, "cp.conv_head16")
    fuse = _conv_bn_relu(torch.cat([feat8, feat16_up], dim=1), p, "ffm.convblk")
    atten = F.avg_pool2d(fuse, fuse.shape[2:])
    atten = torch.sigmoid(
        F.conv2d(F.relu(F.conv2d(atten, p["ffm.conv1.weight"])), p["ffm.conv2.weight"])
    )
    fuse = torch.mul(fuse, atten) + fuse
    return (
        _bisenet_head(fuse, p, "conv_out", size),
        _bisenet_head(feat16_up, p, "conv_out16", size),
        _bisenet_head(feat32_up, p, "conv_out32", size),
    )


def _unet_conv2(x: torch.Tensor, p: dict, name: str) -> torch.Tensor:
    for sub in ("conv1", "conv2"):
        x = F.conv2d(x, p[f"{name}.{sub}.0.weight"], p[f"{name}.{sub}.0.bias"], padding=1)
        x = F.relu(_bn(x, p, f"{name}.{sub}.1"))
    return x


def _unet_up(skip: torch.Tensor, deep: torch.Tensor, p: dict, name: str) -> torch.Tensor:
    up = F.conv_transpose2d(deep, p[f"{name}.up.weight"], p[f"{name}.up.bias"], stride=2)
    offset = up.shape[2] - skip.shape[2]
    skip = F.pad(skip, 2 * [offset // 2, offset // 2])
    return _unet_conv2(torch.cat([skip, up], 1), p, f"{name}.conv")


def unet_original(p: dict, x: torch.Tensor) -> torch.Tensor:
    """CelebAMask-HQ unet.forward; x in [-1, 1]; logits in the CelebAMask-HQ class order."""
    conv1 = _unet_conv2(x, p, "conv1")
    conv2 = _unet_conv2(F.max_pool2d(conv1, 2), p, "conv2")
    conv3 = _unet_conv2(F.max_pool2d(conv2, 2), p, "conv3")
    conv4 = _unet_conv2(F.max_pool2d(conv3, 2), p, "conv4")
    center = _unet_conv2(F.max_pool2d(conv4, 2), p, "center")
    up = _unet_up(conv4, center, p, "up_concat4")
    up = _unet_up(conv3, up, p, "up_concat3")
    up = _unet_up(conv2, up, p, "up_concat2")
    up = _unet_up(conv1, up, p, "up_concat1")
    return F.conv2d(up, p["final.weight"], p["final.bias"])


def original_outputs(arch: str, p: dict, pic: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The original model's outputs for a [0, 1] picture, in its own input convention."""
    if arch == "bisenet":
        return bisenet_original(p, (pic - IMAGENET_MEAN) / IMAGENET_STD)
    return (unet_original(p, pic * 2 - 1),)


def segan_outputs(arch: str, model: Parser, pic: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """segan's outputs for the same picture, with UNet classes put back in the original order."""
    outputs = model(pic * 2 - 1, aux=True)
    if arch == "unet":
        outputs = tuple(out[:, list(UNET_TO_SEGAN)] for out in outputs)
    return outputs


def save_checkpoint(state: dict | object, path: Path) -> Path:
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory):
    """Per architecture: (random state in the public layout, converted model, its folder)."""
    cache: dict[str, tuple[dict, Parser, Path]] = {}

    def get(arch: str) -> tuple[dict, Parser, Path]:
        if arch not in cache:
            root = tmp_path_factory.mktemp(arch)
            state = random_state(reference_layout(arch)[0])
            path = save_checkpoint(state, root / "checkpoint.pth")
            model = convert(KINDS[arch], path, root / "converted")
            cache[arch] = (state, model, root / "converted")
        return cache[arch]

    return get


# --- Shapes and sizes. -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_output_shapes(arch: str, size: int) -> None:
    model = tiny(arch).eval()
    x = torch.rand(2, 3, size, size) * 2 - 1
    with torch.no_grad():
        main = model(x)
        heads = model(x, aux=True)
    assert main.shape == (2, 19, size, size)
    assert len(heads) == (3 if arch == "bisenet" else 1)
    assert all(head.shape == (2, 19, size, size) for head in heads)
    torch.testing.assert_close(heads[0], main)


@pytest.mark.parametrize("arch", ARCHS)
def test_reference_configuration(arch: str) -> None:
    shapes, num_parameters = reference_layout(arch)
    model = CLASSES[arch]().eval()
    assert model.num_parameters() == pytest.approx(num_parameters, rel=0.01)
    assert model.num_parameters() == num_parameters  # in fact exact
    assert layout(model) == shapes
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 19, 64, 64)
    assert model.config["resolution"] == 512
    assert tuple(model.config["labels"]) == FACE_PARTS


def test_unet_rejects_sizes_not_divisible_by_16() -> None:
    with pytest.raises(ValueError, match="divisible by 16"):
        tiny("unet")(torch.zeros(1, 3, 64, 40))


@pytest.mark.parametrize("arch", ARCHS)
def test_rejects_non_images(arch: str) -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        tiny(arch)(torch.zeros(1, 1, 64, 64))


@pytest.mark.parametrize("arch", ARCHS)
def test_labels_must_match_classes(arch: str) -> None:
    with pytest.raises(ValueError, match="labels name 19 classes"):
        CLASSES[arch](num_classes=5, **TINY[arch])


# --- Conversion of the public layouts. ------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_convert_reference_layout_and_load(arch: str, reference) -> None:
    state, model, folder = reference(arch)
    assert isinstance(model, CLASSES[arch])
    assert list(model.state_dict()) == list(state)  # the same names, in the same order
    loaded = segan.load(folder)
    assert type(loaded) is CLASSES[arch]
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == arch
    assert config["resolution"] == 512
    assert tuple(config["labels"]) == FACE_PARTS
    assert config["converted_from"]["kind"] == KINDS[arch]
    x = picture(1, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, aux=True), model(x, aux=True), rtol=0, atol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_reference_matches_original_forward(arch: str, reference) -> None:
    state, model, _ = reference(arch)
    pic = picture(2, 64, 64)
    with torch.no_grad():
        expected = original_outputs(arch, state, pic)
        actual = segan_outputs(arch, model, pic)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert_close(got, want)


@pytest.mark.parametrize(("arch", "size"), [("bisenet", (72, 104)), ("unet", (32, 80))])
def test_tiny_non_square_matches_original_forward(arch: str, size, tmp_path: Path) -> None:
    state = random_state(layout(tiny(arch)), seed=3)
    model = convert(KINDS[arch], save_checkpoint(state, tmp_path / "tiny.pth"))
    assert model.config["base_width"] == TINY[arch]["base_width"]
    pic = picture(2, *size)
    with torch.no_grad():
        for got, want in zip(
            segan_outputs(arch, model, pic), original_outputs(arch, state, pic), strict=True
        ):
            assert_close(got, want)


def test_unet_conversion_remaps_classes_to_segan_order(tmp_path: Path) -> None:
    state = random_state(layout(tiny("unet")))
    state["final.weight"].zero_()
    state["final.bias"] = torch.arange(19, dtype=torch.float32)  # UNet class k scores k
    model = convert("celebamask-unet", save_checkpoint(state, tmp_path / "m.pth"))
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 16, 16))
    # The UNet's last class (18) is "cloth"; it must come out under segan's "cloth" channel.
    assert (logits.argmax(1) == PART_INDEX["cloth"]).all()
    for k, segan_index in enumerate(UNET_TO_SEGAN):
        assert logits[0, segan_index, 0, 0].item() == k


def test_bisenet_conversion_keeps_class_order_and_takes_labels(tmp_path: Path) -> None:
    model = BiSeNet(num_classes=5, labels=list("abcde"), base_width=8)
    path = save_checkpoint(random_state(layout(model)), tmp_path / "five.pth")
    with pytest.raises(ValueError, match=re.escape("conv_out.conv_out.weight")):
        convert("face-parsing-bisenet", path)
    options = ConvertOptions(labels=tuple("abcde"), resolution=448)
    converted = convert("face-parsing-bisenet", path, options=options)
    assert converted.part_names == tuple("abcde")
    assert converted.config["resolution"] == 448


def test_data_parallel_prefix_is_accepted(tmp_path: Path) -> None:
    state = random_state(layout(tiny("unet")))
    prefixed = {f"module.{k}": v for k, v in state.items()}
    model = convert("celebamask-unet", save_checkpoint(prefixed, tmp_path / "dp.pth"))
    assert torch.equal(model.state_dict()["conv1.conv1.0.weight"], state["conv1.conv1.0.weight"])


# --- Hub round trip and gradients. -----------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_save_pretrained_round_trip(arch: str, tmp_path: Path) -> None:
    model = tiny(arch)
    model.load_state_dict(random_state(layout(model), seed=5))
    model.eval()
    model.save_pretrained(tmp_path / "model")
    loaded = segan.load(tmp_path / "model")
    assert type(loaded) is CLASSES[arch]
    assert loaded.config["base_width"] == TINY[arch]["base_width"]
    assert not loaded.training
    x = picture(2, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, aux=True), model(x, aux=True), rtol=0, atol=0)


def _first_conv(model: Parser) -> torch.Tensor:
    return (
        model.cp.resnet.conv1.weight if isinstance(model, BiSeNet) else model.conv1.conv1[0].weight
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_flow_through_softmax_and_stop_when_frozen(arch: str) -> None:
    model = tiny(arch).train()  # batch 2: BatchNorm in training mode needs more than one value
    x = (picture(2, 64, 64) * 2 - 1).requires_grad_(True)
    target = torch.softmax(torch.randn(2, 19, 64, 64), dim=1)
    (torch.softmax(model(x), dim=1) * target).sum().backward()
    grad = _first_conv(model).grad
    assert grad is not None and grad.abs().sum() > 0

    model.zero_grad(set_to_none=True)
    model.requires_grad_(False)
    x.grad = None
    (torch.softmax(model(x), dim=1) * target).sum().backward()
    assert all(p.grad is None for p in model.parameters())
    assert x.grad is not None and x.grad.abs().sum() > 0  # a frozen parser still guides its input


# --- Bad checkpoints. ------------------------------------------------------------------------


def _tiny_state(arch: str) -> dict[str, torch.Tensor]:
    return random_state(layout(tiny(arch)))


def _without(state: dict, key: str) -> dict:
    return {k: v for k, v in state.items() if k != key}


BAD_STATES = {
    "bisenet-missing": (
        "bisenet",
        lambda s: _without(s, "cp.arm16.bn_atten.running_var"),
        "cp.arm16.bn_atten.running_var",
    ),
    "bisenet-missing-first": (
        "bisenet",
        lambda s: _without(s, "cp.resnet.conv1.weight"),
        "cp.resnet.conv1.weight",
    ),
    "bisenet-extra": (
        "bisenet",
        lambda s: {**s, "cp.resnet.fc.weight": torch.zeros(19, 64)},
        "cp.resnet.fc.weight",
    ),
    "bisenet-shape": (
        "bisenet",
        lambda s: {**s, "ffm.conv1.weight": torch.zeros(3, 32, 1, 1)},
        "ffm.conv1.weight",
    ),
    "unet-missing": ("unet", lambda s: _without(s, "up_concat2.up.bias"), "up_concat2.up.bias"),
    "unet-extra": ("unet", lambda s: {**s, "final2.weight": torch.zeros(1)}, "final2.weight"),
    "unet-shape": (
        "unet",
        lambda s: {**s, "center.conv2.0.weight": torch.zeros(64, 64, 1, 1)},
        "center.conv2.0.weight",
    ),
    "unet-final-bias": ("unet", lambda s: {**s, "final.bias": torch.zeros(20)}, "final.bias"),
}


@pytest.mark.parametrize("case", sorted(BAD_STATES))
def test_bad_checkpoint_names_the_key(case: str, tmp_path: Path) -> None:
    arch, corrupt, key = BAD_STATES[case]
    path = save_checkpoint(corrupt(_tiny_state(arch)), tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=re.escape(key)):
        convert(KINDS[arch], path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("arch", ARCHS)
def test_list_of_tensors_is_not_a_state_dict(arch: str, tmp_path: Path) -> None:
    path = save_checkpoint(list(_tiny_state(arch).values()), tmp_path / "list.pth")
    with pytest.raises(ValueError, match="not a state dict"):
        convert(KINDS[arch], path)


class Payload:
    """An arbitrary picklable object: weights_only loading must refuse it."""

    def __init__(self) -> None:
        self.weights = torch.zeros(2)


@pytest.mark.parametrize("arch", ARCHS)
def test_pickled_objects_are_refused(arch: str, tmp_path: Path) -> None:
    path = save_checkpoint(Payload(), tmp_path / "object.pth")
    with pytest.raises(ValueError, match="pickled"):
        convert(KINDS[arch], path)


def _plain_and_scaled(cls, size: int, **kwargs):
    """The same random parser without and with input_scale 2, a batch of two `size` px
    pictures, and those pictures enlarged twice as the scaled parser enlarges them."""
    torch.manual_seed(0)
    plain = cls(**kwargs).eval()
    scaled = cls(**kwargs, input_scale=2).eval()
    scaled.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, size, size) * 2 - 1
    big = F.interpolate(x, scale_factor=2, mode="bilinear", antialias=True)
    return plain, scaled, x, big


def test_bisenet_input_scale_parses_the_upsampled_face() -> None:
    plain, scaled, x, big = _plain_and_scaled(BiSeNet, 64, base_width=8, resolution=64)
    with torch.no_grad():
        out = scaled(x)
        expected = F.interpolate(plain(big), size=(64, 64), mode="bilinear", align_corners=True)
        assert out.shape == (2, 19, 64, 64)
        # one interpolation of the 1/8 logits to 64 px instead of two (to 128, then 64)
        torch.testing.assert_close(out, expected, atol=1e-2, rtol=0)
        assert (out - plain(x)).abs().max() > 0.05  # it does parse another picture
        assert all(h.shape == (2, 19, 64, 64) for h in scaled(x, aux=True))
    with pytest.raises(ValueError, match="input_scale must lie in"):
        BiSeNet(input_scale=0)


def test_unet_input_scale_parses_the_upsampled_face_and_keeps_it_in_its_config(tmp_path) -> None:
    plain, scaled, x, big = _plain_and_scaled(UNet, 32, base_width=4, resolution=128)
    with torch.no_grad():
        out = scaled(x)
        expected = F.interpolate(plain(big), size=(32, 32), mode="bilinear", align_corners=False)
        assert out.shape == (2, 19, 32, 32)
        torch.testing.assert_close(out, expected)
        assert (out - plain(x)).abs().max() > 1e-3  # it does parse another picture
        assert scaled(x, aux=True)[0].shape == (2, 19, 32, 32)
    scaled.save_pretrained(tmp_path / "unet")
    assert segan.load(str(tmp_path / "unet")).input_scale == 2.0
    with pytest.raises(ValueError, match=r"divisible by 16 \(after input_scale 0.5\)"):
        UNet(base_width=4, input_scale=0.5)(torch.zeros(1, 3, 48, 48))  # parsed at 24 px
