"""StarGAN, GANimation and SARGAN editors: shapes, sizes, Hub round trips and checkpoint import.

The conversion tests build random checkpoints from the reference layouts in
tests/fixtures/reference_weights (every key and shape of the original state dicts) and compare
segan's converted models against independent functional re-statements of the ORIGINAL forward
passes, written here with torch.nn.functional straight on the raw checkpoint dicts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import segan

# Importing the modules registers their architectures (segan.load) and converters (convert).
import segan.models.ganimation
import segan.models.sargan
import segan.models.stargan
from segan.labels import AU_IDS, EXPRESSIONS
from segan.models.blocks import BlurredConvTranspose2d, ResizeConv
from segan.models.convert import ConvertOptions, convert
from segan.models.ganimation import GANimation
from segan.models.sargan import SARGAN
from segan.models.stargan import CELEBA_ATTRIBUTES, StarGAN

REFERENCE = Path(__file__).parent / "fixtures" / "reference_weights"
LAYOUT_FILES = {
    "stargan": "stargan-generator.json",
    "ganimation": "ganimation-generator.json",
    "sargan": "sargan-generator.json",
}
RAFD_SEGAN = ["anger", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
KDEF_SEGAN = ["fear", "anger", "disgust", "happy", "neutral", "sad", "surprise"]
SHRINK = 8  # tiny checkpoints: every width that is a multiple of 64 divided by this

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


# --- Helpers. --------------------------------------------------------------------------------
def tiny(kind: str, **kwargs) -> torch.nn.Module:
    """A small editor of `kind` for fast tests."""
    if kind == "stargan":
        return StarGAN(conv_dim=8, repeat_num=2, **kwargs)
    if kind == "ganimation":
        return GANimation(conv_dim=8, repeat_num=1, **kwargs)
    return SARGAN(conv_dim=8, attention_dim=8, **kwargs)


def width(model) -> int:
    return len(model.aus) if isinstance(model, GANimation) else len(model.labels)


def images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def one_hot(n: int, classes: int) -> torch.Tensor:
    return F.one_hot(torch.arange(n) % classes, classes).float()


def condition_for(model, n: int) -> torch.Tensor:
    if isinstance(model, GANimation):
        return torch.rand(n, len(model.aus), generator=torch.Generator().manual_seed(1))
    return one_hot(n, len(model.labels))


def layout(kind: str) -> dict:
    return json.loads((REFERENCE / LAYOUT_FILES[kind]).read_text())


def random_checkpoint(kind: str, shrink: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with every key of the reference layout (widths divided by `shrink`)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in layout(kind)["state_dict"].items():
        shape = [d // shrink if d % 64 == 0 else d for d in shape]
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            state[key] = torch.tensor(1000, dtype=torch.int64)
        elif leaf == "running_var":
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif leaf == "running_mean":
            state[key] = torch.randn(shape, generator=g)
        elif len(shape) == 1 and leaf == "weight":  # instance-norm scale
            state[key] = 1 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:  # biases
            state[key] = 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = math.prod(shape[1:])
            state[key] = torch.randn(shape, generator=g) / math.sqrt(fan_in)
    return state


def save_checkpoint(state: dict, path: Path) -> Path:
    torch.save(state, path)
    return path


# --- Oracles: the original forward passes, functionally, on the original key names. ----------
def _norm(h: torch.Tensor, sd: dict, prefix: str) -> torch.Tensor:
    # Per-instance statistics (the originals' test code never called eval()).
    return F.instance_norm(
        h, weight=sd[f"{prefix}.weight"], bias=sd[f"{prefix}.bias"], use_input_stats=True
    )


def _encode(sd: dict, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, int]:
    """yunjey's encoder and residual blocks; returns the features and the next `main` index."""
    h = torch.cat([x, c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], dim=1)
    h = F.relu(_norm(F.conv2d(h, sd["main.0.weight"], padding=3), sd, "main.1"))
    h = F.relu(_norm(F.conv2d(h, sd["main.3.weight"], stride=2, padding=1), sd, "main.4"))
    h = F.relu(_norm(F.conv2d(h, sd["main.6.weight"], stride=2, padding=1), sd, "main.7"))
    i = 9
    while f"main.{i}.main.0.weight" in sd:
        r = F.relu(
            _norm(F.conv2d(h, sd[f"main.{i}.main.0.weight"], padding=1), sd, f"main.{i}.main.1")
        )
        r = _norm(F.conv2d(r, sd[f"main.{i}.main.3.weight"], padding=1), sd, f"main.{i}.main.4")
        h = h + r
        i += 1
    return h, i


def _decode(sd: dict, h: torch.Tensor, i: int) -> tuple[torch.Tensor, int]:
    for j in (i, i + 3):
        h = F.conv_transpose2d(h, sd[f"main.{j}.weight"], stride=2, padding=1)
        h = F.relu(_norm(h, sd, f"main.{j + 1}"))
    return h, i + 6


def oracle_stargan(sd: dict, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    h, i = _encode(sd, x, c)
    h, j = _decode(sd, h, i)
    return torch.tanh(F.conv2d(h, sd[f"main.{j}.weight"], padding=3))


def oracle_ganimation(sd: dict, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    h, i = _encode(sd, x, c)
    h, _ = _decode(sd, h, i)
    color = torch.tanh(F.conv2d(h, sd["img_reg.0.weight"], padding=3))
    attention = torch.sigmoid(F.conv2d(h, sd["attetion_reg.0.weight"], padding=3))
    return attention * x + (1 - attention) * color


def _conv_layer(h, sd, prefix, stride=1, up=False, norm=True, relu=True):
    """SPARNet/SARGAN ConvLayer: [nearest x2] -> reflection pad -> conv -> [IN] -> [ReLU]."""
    if up:
        h = F.interpolate(h, scale_factor=2, mode="nearest")
    h = F.pad(h, (1, 1, 1, 1), mode="reflect")
    h = F.conv2d(h, sd[f"{prefix}.conv2d.weight"], sd.get(f"{prefix}.conv2d.bias"), stride=stride)
    if norm:
        h = F.instance_norm(
            h,
            weight=sd[f"{prefix}.norm.norm.weight"],
            bias=sd[f"{prefix}.norm.norm.bias"],
            use_input_stats=True,
        )
    return F.relu(h) if relu else h


def _sedn(h, sd, prefix, level):
    up1 = _conv_layer(h, sd, f"{prefix}.b1_{level}")
    low = _conv_layer(h, sd, f"{prefix}.b2_{level}", stride=2)
    if level > 1:
        low = _sedn(low, sd, prefix, level - 1)
    else:
        low = _conv_layer(low, sd, f"{prefix}.b2_plus_{level}")
    up2 = _conv_layer(low, sd, f"{prefix}.b3_{level}", up=True)
    if up2.shape[2:] != up1.shape[2:]:
        up2 = F.interpolate(up2, up1.shape[2:])
    return up1 + up2


def oracle_sargan(sd: dict, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The original output: tanh(decoder) + x, unclamped."""
    h, i = _encode(sd, x, c)
    assert i == 9
    f = _conv_layer(h, sd, "main.9.conv1")
    f = _conv_layer(f, sd, "main.9.conv2", relu=False)
    att = _sedn(f, sd, "main.9.att_func", 2)
    att = torch.sigmoid(_conv_layer(att, sd, "main.9.att_func.out_block.0", norm=False, relu=False))
    h = h + f * att
    h, j = _decode(sd, h, 10)
    return torch.tanh(F.conv2d(h, sd[f"main.{j}.weight"], padding=3)) + x


ORACLES = {"stargan": oracle_stargan, "ganimation": oracle_ganimation, "sargan": oracle_sargan}


def converted_output(model, x, c) -> torch.Tensor:
    """What the oracle computes: SARGAN's unclamped sum, the other editors' output."""
    with torch.no_grad():
        out = model.explain(x, c)
    return out.extras["unclamped"] if isinstance(model, SARGAN) else out.image


# --- Shapes, ranges and the output identities. -----------------------------------------------
@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("kind", ["stargan", "ganimation", "sargan"])
def test_output_shape_and_range(kind: str, size: int) -> None:
    model = tiny(kind, image_size=size).eval()
    x = images(2, size)
    with torch.no_grad():
        out = model(x, condition_for(model, 2))
    assert out.shape == (2, 3, size, size)
    assert out.min() >= -1 and out.max() <= 1
    assert torch.isfinite(out).all()


def test_ganimation_attention_and_composition() -> None:
    model = tiny("ganimation").eval()
    x = images(2, 64)
    c = condition_for(model, 2)
    with torch.no_grad():
        out = model.explain(x, c)
        plain = model(x, c)
    a, color = out.attention, out.color
    assert a.shape == (2, 1, 64, 64) and color.shape == (2, 3, 64, 64)
    assert a.min() >= 0 and a.max() <= 1
    assert color.min() >= -1 and color.max() <= 1
    torch.testing.assert_close(out.image, a * x + (1 - a) * color)
    torch.testing.assert_close(plain, out.image)
    # A zeroed attention head gives A = sigmoid(0) = 1/2: the mean of input and colour map.
    with torch.no_grad():
        model.attention_head.weight.zero_()
        half = model.explain(x, c)
    torch.testing.assert_close(half.attention, torch.full_like(half.attention, 0.5))
    torch.testing.assert_close(half.image, (x + half.color) / 2)


def test_sargan_residual_output_and_attention() -> None:
    model = tiny("sargan").eval()
    x = images(2, 64) * 0.999
    c = condition_for(model, 2)
    with torch.no_grad():
        out = model.explain(x, c)
        plain = model(x, c)
    residual, unclamped = out.extras["residual"], out.extras["unclamped"]
    torch.testing.assert_close(unclamped, x + residual)
    torch.testing.assert_close(out.image, (x + residual).clamp(-1, 1))
    torch.testing.assert_close(plain, out.image)
    assert unclamped.abs().max() > 1  # the sum really leaves [-1, 1] and is clamped
    assert out.attention.shape == (2, 1, 64, 64)
    assert out.attention.min() >= 0 and out.attention.max() <= 1
    # With a zeroed last convolution the decoder gives tanh(0) = 0: the input comes back.
    with torch.no_grad():
        model.main[-2].weight.zero_()
        torch.testing.assert_close(model(x, c), x)


# --- Parameter counts at the paper configurations. --------------------------------------------
def _sedn_top_level_parameters() -> int:
    """Parameters of SARGAN's unused top-level att_func, counted from the reference layout."""
    shapes = layout("sargan")["state_dict"]
    return sum(math.prod(s) for k, s in shapes.items() if k.startswith("att_func."))


@pytest.mark.parametrize(
    ("model_fn", "target"),
    [
        (lambda: StarGAN(labels=RAFD_SEGAN), 8_439_936),
        (lambda: GANimation(), 8_471_296),
        (lambda: SARGAN(labels=KDEF_SEGAN), None),
    ],
    ids=["stargan", "ganimation", "sargan"],
)
def test_parameter_counts(model_fn, target) -> None:
    model = model_fn()
    if target is None:
        target = layout("sargan")["num_parameters"] - _sedn_top_level_parameters()
        assert 2.95e6 < target < 3.05e6
    assert abs(model.num_parameters() - target) <= 0.01 * target
    assert not list(model.buffers())  # instance norm without running statistics


# --- Hub round trip. --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("stargan", {"labels": ["happy", "sad", "anger"]}),
        ("ganimation", {"aus": [12, 4, 25, 1]}),
        ("sargan", {"labels": ["neutral", "happy", "surprise"]}),
    ],
)
def test_save_and_load_round_trip(tmp_path: Path, kind: str, extra: dict) -> None:
    model = tiny(kind, image_size=64, **extra).eval()
    model.save_pretrained(tmp_path / kind)
    loaded = segan.load(tmp_path / kind)
    assert type(loaded) is type(model)
    x = images(2, 64)
    c = condition_for(model, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, c), model(x, c), rtol=0, atol=0)
    config = json.loads((tmp_path / kind / "config.json").read_text())
    assert config["architecture"] == kind
    assert config["conv_dim"] == 8 and config["image_size"] == 64
    for key, value in extra.items():
        assert config[key] == value
    if kind == "stargan":
        assert config["repeat_num"] == 2
    if kind == "sargan":
        assert config["attention_dim"] == 8 and config["attention_depth"] == 2


def test_default_label_lists() -> None:
    assert StarGAN(conv_dim=4, repeat_num=0).labels == list(EXPRESSIONS)
    assert SARGAN(conv_dim=4, attention_dim=4).labels == list(EXPRESSIONS)
    assert GANimation(conv_dim=4, repeat_num=0).aus == list(AU_IDS)
    assert list(StarGAN(conv_dim=4, repeat_num=0).config["labels"]) == list(EXPRESSIONS)


# --- Conversion of the original checkpoints. --------------------------------------------------
@pytest.mark.parametrize("kind", ["stargan", "ganimation", "sargan"])
def test_convert_reference_layout_matches_original(tmp_path: Path, kind: str) -> None:
    """Every key and shape of the reference layout converts; the output equals the original's."""
    state = random_checkpoint(kind)
    path = save_checkpoint(state, tmp_path / "G.ckpt")
    convert(kind, path, tmp_path / "out")
    model = segan.load(tmp_path / "out")
    assert model.architecture == kind
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["image_size"] == 128 and config["conv_dim"] == 64
    assert config["converted_from"]["kind"] == kind
    expected = {"stargan": RAFD_SEGAN, "ganimation": list(AU_IDS), "sargan": KDEF_SEGAN}[kind]
    assert config["aus" if kind == "ganimation" else "labels"] == expected
    if kind != "sargan":
        assert config["repeat_num"] == 6
    target = layout(kind)["num_parameters"]
    if kind == "sargan":
        target -= _sedn_top_level_parameters()
    assert model.num_parameters() == target
    x = images(1, 32, seed=3)
    c = condition_for(model, 1)
    torch.testing.assert_close(
        converted_output(model, x, c), ORACLES[kind](state, x, c), atol=1e-5, rtol=1e-4
    )


@pytest.mark.parametrize(("kind", "size"), [("stargan", 64), ("ganimation", 64), ("sargan", 36)])
def test_convert_tiny_matches_original(tmp_path: Path, kind: str, size: int) -> None:
    """Same check at shrunken widths, batch 2 (SARGAN at 36 px: odd hourglass sizes)."""
    state = random_checkpoint(kind, shrink=SHRINK, seed=5)
    path = save_checkpoint(state, tmp_path / "G.pth")
    model = convert(kind, path)
    assert model.conv_dim == 64 // SHRINK
    x = images(2, size, seed=4)
    c = condition_for(model, 2)
    torch.testing.assert_close(
        converted_output(model, x, c), ORACLES[kind](state, x, c), atol=1e-5, rtol=1e-4
    )


def test_convert_stargan_celeba_and_256(tmp_path: Path) -> None:
    state = random_checkpoint("stargan")
    state["main.0.weight"] = torch.randn(64, 3 + 5, 7, 7) * 0.05
    path = save_checkpoint(state, tmp_path / "200000-G.ckpt")
    convert("stargan", path, tmp_path / "out", ConvertOptions(resolution=256))
    model = segan.load(tmp_path / "out")
    assert model.labels == list(CELEBA_ATTRIBUTES) and model.image_size == 256
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["labels"] == list(CELEBA_ATTRIBUTES) and config["image_size"] == 256
    assert "--selected_attrs" in config["converted_from"]["label_order"]


def test_converted_rafd_stargan_keeps_the_published_order_and_says_so(tmp_path, capsys):
    from segan.cli import main as cli

    state = random_checkpoint("stargan", shrink=SHRINK)
    path = save_checkpoint(state, tmp_path / "G.ckpt")
    assert cli(["convert", "--from", "stargan", str(path), str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    order = "anger, contempt, disgust, fear, happy, neutral, sad, surprise"
    assert f"conditions: {order} (the published checkpoint's: RaFD's" in printed
    assert segan.load(tmp_path / "out").labels == order.split(", ")
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"Conditions, in order: {order}" in card and "ImageFolder" in card


def test_convert_with_given_labels(tmp_path: Path) -> None:
    state = random_checkpoint("stargan", shrink=SHRINK)
    state["main.0.weight"] = torch.randn(8, 3 + 3, 7, 7)
    path = save_checkpoint(state, tmp_path / "G.ckpt")
    with pytest.raises(ValueError, match=r"3 condition channels.*labels"):
        convert("stargan", path)
    model = convert("stargan", path, options=ConvertOptions(labels=("happy", "sad", "neutral")))
    assert model.labels == ["happy", "sad", "neutral"]
    with pytest.raises(ValueError, match="names 2"):
        convert("stargan", path, options=ConvertOptions(labels=("happy", "sad")))
    gan = random_checkpoint("ganimation", shrink=SHRINK)
    gan["main.0.weight"] = torch.randn(8, 3 + 2, 7, 7)
    path = save_checkpoint(gan, tmp_path / "net_epoch_30_id_G.pth")
    with pytest.raises(ValueError, match="2 condition channels"):
        convert("ganimation", path)
    model = convert("ganimation", path, options=ConvertOptions(labels=("AU12", "AU04_r")))
    assert model.aus == [12, 4]


def test_convert_data_parallel_prefix(tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in random_checkpoint("ganimation", shrink=SHRINK).items()}
    model = convert("ganimation", save_checkpoint(state, tmp_path / "G.pth"))
    assert model.repeat_num == 6


# --- Bad checkpoints. -------------------------------------------------------------------------
class NotAStateDict:
    """A picklable object that is not a tensor."""

    def __init__(self) -> None:
        self.payload = [1, 2, 3]


@pytest.mark.parametrize(
    ("kind", "edit", "key"),
    [
        ("stargan", lambda sd: sd.pop("main.16.weight"), "main.16.weight"),
        ("stargan", lambda sd: sd.update({"main.99.weight": torch.zeros(3)}), "main.99.weight"),
        (
            "stargan",
            lambda sd: sd.update({"main.3.weight": torch.zeros(16, 8, 3, 3)}),
            "main.3.weight",
        ),
        ("stargan", lambda sd: sd.pop("main.0.weight"), "main.0.weight"),
        ("ganimation", lambda sd: sd.pop("attetion_reg.0.weight"), "attetion_reg.0.weight"),
        (
            "ganimation",
            lambda sd: sd.update({"img_reg.0.weight": torch.zeros(3, 8, 5, 5)}),
            "img_reg.0.weight",
        ),
        (
            "sargan",
            lambda sd: sd.pop("main.9.att_func.b3_1.norm.norm.bias"),
            "main.9.att_func.b3_1.norm.norm.bias",
        ),
        (
            "sargan",
            lambda sd: sd.update({"main.9.conv1.conv2d.bias": torch.zeros(32)}),
            "main.9.conv1.conv2d.bias",
        ),
        (
            "sargan",
            lambda sd: sd.update({"main.9.conv2.conv2d.weight": torch.zeros(32, 32, 1, 1)}),
            "main.9.conv2.conv2d.weight",
        ),
    ],
    ids=[
        "stargan-missing",
        "stargan-extra",
        "stargan-shape",
        "stargan-no-first-conv",
        "ganimation-missing-head",
        "ganimation-head-shape",
        "sargan-missing",
        "sargan-extra",
        "sargan-shape",
    ],
)
def test_bad_checkpoint_names_the_key(tmp_path: Path, kind: str, edit, key: str) -> None:
    state = random_checkpoint(kind, shrink=SHRINK)
    edit(state)
    path = save_checkpoint(state, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match=f"'{key}'".replace(".", r"\.")):
        convert(kind, path)


def test_bad_checkpoint_files(tmp_path: Path) -> None:
    listed = save_checkpoint([torch.zeros(1)], tmp_path / "list.ckpt")
    with pytest.raises(ValueError, match="not a state dict"):
        convert("stargan", listed)
    numbers = save_checkpoint({"main.0.weight": 3}, tmp_path / "numbers.ckpt")
    with pytest.raises(ValueError, match="not a tensor"):
        convert("stargan", numbers)
    pickled = save_checkpoint({"G": NotAStateDict()}, tmp_path / "object.ckpt")
    with pytest.raises(ValueError, match="refusing"):
        convert("sargan", pickled)


# --- Bad inputs. ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["stargan", "ganimation", "sargan"])
def test_bad_inputs(kind: str) -> None:
    model = tiny(kind)
    n = width(model)
    x = images(2, 64)
    with pytest.raises(ValueError, match=rf"\(2, {n}\).*\(2, {n + 1}\)"):
        model(x, torch.zeros(2, n + 1))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*\(2, 1, 64, 64\)"):
        model(x[:, :1], torch.zeros(2, n))
    with pytest.raises(ValueError, match=r"\(3, 64, 64\)"):
        model(x[0], torch.zeros(1, n))
    with pytest.raises(ValueError, match=r"divisible by 4.*\(2, 3, 62, 62\)"):
        model(x[..., :62, :62], torch.zeros(2, n))


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="repeats"):
        StarGAN(conv_dim=4, labels=["happy", "happy"])
    with pytest.raises(ValueError, match="AU"):
        GANimation(conv_dim=4, aus=[12, 28])
    with pytest.raises(ValueError, match="image_size"):
        StarGAN(conv_dim=4, image_size=30)
    model = SARGAN(conv_dim=4, attention_dim=4, image_size=32)
    with pytest.raises(ValueError, match=r"larger than 16x16.*16x16"):
        model(images(1, 16), one_hot(1, len(model.labels)))


def test_sargan_key_names_round_trip() -> None:
    """Error messages name original keys: segan's names map back onto the reference layout."""
    from segan.models.sargan import original_sargan_key, sargan_key

    reference = set(layout("sargan")["state_dict"])
    for key in SARGAN(labels=KDEF_SEGAN).state_dict():
        original = original_sargan_key(key)
        assert original in reference, (key, original)
        assert sargan_key(original) == key


@pytest.mark.parametrize("kind", ["stargan", "ganimation"])
def test_resize_upsampling_replaces_every_transposed_convolution(tmp_path: Path, kind: str):
    model = tiny(kind, image_size=64, upsample="resize").eval()
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.modules())
    resize = [m for m in model.modules() if isinstance(m, ResizeConv)]
    assert len(resize) == 2 and resize[0].conv.kernel_size == (3, 3)
    plain = tiny(kind, image_size=64)
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in plain.modules()) == 2
    # the same module numbering: only the two upsampling layers' keys differ
    keys, plain_keys = set(model.state_dict()), set(plain.state_dict())
    r = model.repeat_num
    assert {".".join(k.split(".")[:2]) for k in keys ^ plain_keys} == {
        f"main.{9 + r}",
        f"main.{12 + r}",
    }
    x, c = images(2, 64), condition_for(model, 2)
    with torch.no_grad():
        out = model(x, c)
    assert out.shape == x.shape and out.abs().max() <= 1
    model.save_pretrained(tmp_path / kind)
    assert json.loads((tmp_path / kind / "config.json").read_text())["upsample"] == "resize"
    loaded = segan.load(tmp_path / kind)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, c), out, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"upsample must be one of \('transposed', 'resize'"):
        tiny(kind, upsample="bilinear")


def test_blurred_transposed_convolution_prints_no_checkerboard() -> None:
    """A transposed convolution whose four output phases disagree prints a period-2 pattern on
    a constant input; the blurred one, with the same weights, has none of it."""
    plain = torch.nn.ConvTranspose2d(1, 1, 4, 2, 1, bias=False)
    blurred = BlurredConvTranspose2d(1, 1, 4, 2, 1, bias=False)
    with torch.no_grad():
        plain.weight.zero_()
        plain.weight[0, 0, 1, 1] = 1.0  # only the even output rows/columns see the input
    blurred.load_state_dict(plain.state_dict())
    x = torch.ones(1, 1, 8, 8)

    def period_two(y: torch.Tensor) -> float:  # the (pi, pi) Fourier coefficient, interior
        y = y[0, 0, 2:-2, 2:-2]
        sign = (-1.0) ** (torch.arange(y.shape[0])[:, None] + torch.arange(y.shape[1]))
        return float((y * sign).mean().abs())

    with torch.no_grad():
        assert period_two(plain(x)) > 0.2
        assert period_two(blurred(x)) < 1e-6
        assert blurred(x).shape == plain(x).shape


@pytest.mark.parametrize("kind", ["stargan", "ganimation"])
def test_blurred_upsampling_loads_a_transposed_generator(kind: str) -> None:
    plain = tiny(kind, image_size=64).eval()
    blurred = tiny(kind, image_size=64, upsample="transposed-blur").eval()
    blurred.load_state_dict(plain.state_dict(), strict=True)
    assert sum(isinstance(m, BlurredConvTranspose2d) for m in blurred.modules()) == 2
    x, c = images(2, 64), condition_for(plain, 2)
    with torch.no_grad():
        a, b = plain(x, c), blurred(x, c)
    assert a.shape == b.shape and not torch.equal(a, b)
