"""The fine-grained editor (U-Net + MSF on relative AUs), its critic, and the evaluators."""

from __future__ import annotations

import json
import socket

import pytest
import torch

import segan.models
from segan.labels import AU_IDS, EXPRESSIONS, au_index
from segan.models.base import EditOutput, tile
from segan.models.discriminators import PatchDiscriminator
from segan.models.evaluators import AURegressor, ExpressionClassifier
from segan.models.finegrained import (
    FineGrained,
    analytic_num_parameters,
    finegrained_discriminator,
)

NGF = 4


def images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=gen) * 2 - 1


def relative_aus(n: int, num_aus: int = len(AU_IDS), seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, num_aus, generator=gen) * 2 - 1


@pytest.fixture(scope="module")
def tiny() -> FineGrained:
    torch.manual_seed(0)
    return FineGrained(ngf=NGF, image_size=64).eval()


# --- generator ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 128])
def test_output_shape_and_range(tiny: FineGrained, size: int) -> None:
    x = images(2, size)
    with torch.no_grad():
        out = tiny.explain(x, relative_aus(2))
        still = tiny(x, torch.zeros(2, len(AU_IDS)))
    assert isinstance(out, EditOutput) and out.attention is None
    assert out.image.shape == (2, 3, size, size)
    assert out.image.min() >= -1 and out.image.max() <= 1
    assert not torch.allclose(still, x)  # "zero = no change" is learnt, not hard-wired


def test_condition_enters_bottleneck_and_every_msf(tiny: FineGrained) -> None:
    convs = {"bottleneck": tiny.bottleneck[0]}
    convs.update({f"msf{i}": f.input_conv[0] for i, f in enumerate(tiny.fusions)})
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        conv.register_forward_hook(lambda _m, inputs, _o, name=name: seen.update({name: inputs[0]}))
        for name, conv in convs.items()
    ]
    x, c = images(2, 64), relative_aus(2)
    try:
        with torch.no_grad():
            out = tiny(x, c)
    finally:
        for hook in hooks:
            hook.remove()
    sizes = {"bottleneck": 4, "msf0": 8, "msf1": 16, "msf2": 32}
    for name, size in sizes.items():
        assert torch.equal(seen[name][:, -len(AU_IDS) :], tile(c, (size, size))), name

    changed = c.clone()
    changed[:, au_index(12)] += 0.5
    with torch.no_grad():
        assert not torch.allclose(tiny(x, changed), out, atol=1e-6)


def test_gradients_reach_condition_convs() -> None:
    torch.manual_seed(0)
    model = FineGrained(ngf=NGF, image_size=32)
    out = model(images(2, 32), relative_aus(2))
    (out * torch.randn_like(out)).sum().backward()
    convs = [model.bottleneck[0], *(f.input_conv[0] for f in model.fusions)]
    for conv in convs:
        grad = conv.weight.grad
        assert grad is not None
        assert grad[:, -len(AU_IDS) :].abs().sum() > 0  # the weights reading the condition
        assert grad[:, : -len(AU_IDS)].abs().sum() > 0  # and those reading the features


def test_parameter_count_at_paper_configuration() -> None:
    count = FineGrained(ngf=64, image_size=128).num_parameters()
    assert count == analytic_num_parameters(64, 17) == 57_632_768
    assert 0.99 * 57.0e6 <= count <= 1.01 * 57.6e6  # the reference: 57 M to 57.6 M
    assert analytic_num_parameters(64, 13) == 57_524_736  # the reference's 57.5 M at 13 AUs


def test_parameter_count_formula_at_small_widths() -> None:
    for ngf, aus in [(4, AU_IDS), (8, (1, 2, 4, 12, 15))]:
        model = FineGrained(ngf=ngf, image_size=32, aus=aus)
        assert model.num_parameters() == analytic_num_parameters(ngf, len(aus))


def test_discriminator() -> None:
    paper = finegrained_discriminator()
    assert isinstance(paper, PatchDiscriminator)
    assert paper.num_parameters() == 44_858_048
    small = finegrained_discriminator(image_size=64, conv_dim=4, aus=(1, 12))
    patch, aus = small(images(2, 64))
    assert patch.shape == (2, 1, 1, 1) and aus.shape == (2, 2)


def test_round_trip(tiny: FineGrained, tmp_path) -> None:
    model = FineGrained(ngf=NGF, image_size=64, aus=[12, 4, 25]).eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == "finegrained"
    assert (config["ngf"], config["image_size"], config["aus"]) == (NGF, 64, [12, 4, 25])
    loaded = segan.models.load(tmp_path)
    assert isinstance(loaded, FineGrained) and loaded.aus == (12, 4, 25)
    x, c = images(2, 64), relative_aus(2, 3)
    with torch.no_grad():
        assert torch.equal(loaded(x, c), model(x, c))


def test_bad_inputs(tiny: FineGrained) -> None:
    with pytest.raises(ValueError, match=r"\(2, 17\).*\(2, 5\)"):
        tiny(images(2, 64), torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"\(2, 3, 40, 40\)"):
        tiny(images(2, 40), torch.zeros(2, 17))
    with pytest.raises(ValueError, match=r"\(2, 1, 64, 64\)"):
        tiny(torch.zeros(2, 1, 64, 64), torch.zeros(2, 17))
    with pytest.raises(ValueError, match="multiple of 16"):
        FineGrained(ngf=NGF, image_size=100)
    with pytest.raises(ValueError, match="AU3"):
        FineGrained(ngf=NGF, aus=[1, 3])


# --- evaluators -----------------------------------------------------------------------------


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a constructor tried to reach the network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def evaluators() -> tuple[ExpressionClassifier, AURegressor]:
    torch.manual_seed(0)
    return ExpressionClassifier().eval(), AURegressor().eval()


def test_evaluators_construct_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_network(monkeypatch)
    assert ExpressionClassifier(labels=["neutral", "happy"]).role == "evaluator"
    assert AURegressor(aus=[12]).role == "evaluator"


def test_evaluator_outputs(evaluators) -> None:
    classifier, regressor = evaluators
    x = images(2, 32)
    with torch.no_grad():
        logits, intensities = classifier(x), regressor(x * 3)  # out-of-range input: still bounded
    assert logits.shape == (2, len(EXPRESSIONS))
    assert intensities.shape == (2, len(AU_IDS))
    assert intensities.min() >= 0 and intensities.max() <= 5
    predicted = classifier.predict(images(2, 48))
    assert predicted.shape == (2,) and predicted.dtype == torch.long
    assert ((predicted >= 0) & (predicted < len(EXPRESSIONS))).all()
    with pytest.raises(ValueError, match=r"\(2, 3, 16, 16\)"):
        regressor(images(2, 16))
    with pytest.raises(ValueError, match="AU3"):
        AURegressor(aus=[3])


def test_evaluators_round_trip(evaluators, tmp_path) -> None:
    x = images(2, 32)
    for model, key, value in [
        (evaluators[0], "labels", list(EXPRESSIONS)),
        (evaluators[1], "aus", list(AU_IDS)),
    ]:
        folder = tmp_path / model.architecture
        model.save_pretrained(folder)
        config = json.loads((folder / "config.json").read_text())
        assert config["architecture"] == model.architecture and config[key] == value
        loaded = segan.models.load(folder)
        assert type(loaded) is type(model) and not loaded.training
        with torch.no_grad():
            assert torch.equal(loaded(x), model(x))


def test_evaluators_without_the_stem_maxpool_keep_twice_the_resolution(tmp_path) -> None:
    torch.manual_seed(0)
    small = ExpressionClassifier(width=8, maxpool=False).eval()
    seen = {}
    small.backbone.layer1.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    with torch.no_grad():
        out = small(images(2, 64))
    assert seen["shape"][-2:] == (32, 32)  # 1/2 scale, not the 16x16 of the ImageNet stem
    folder = tmp_path / "small"
    small.save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["maxpool"] is False
    loaded = segan.models.load(folder)
    with torch.no_grad():
        assert torch.equal(loaded(images(2, 64)), out)
    regressor = AURegressor(width=8, maxpool=False)
    assert isinstance(regressor.backbone.maxpool, torch.nn.Identity)


def test_evaluators_with_stem_stride_1_run_their_first_stage_at_full_scale(tmp_path) -> None:
    full = ExpressionClassifier(width=8, maxpool=False, stem_stride=1).eval()
    seen = {}
    full.backbone.layer1.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    with torch.no_grad():
        out = full(images(2, 64))
    assert seen["shape"][-2:] == (64, 64) and out.shape == (2, 8)
    full.save_pretrained(tmp_path / "full")
    assert json.loads((tmp_path / "full" / "config.json").read_text())["stem_stride"] == 1
    with torch.no_grad():
        assert torch.equal(segan.models.load(tmp_path / "full")(images(2, 64)), out)
    assert AURegressor(width=8, stem_stride=1).backbone.conv1.stride == (1, 1)
    with pytest.raises(ValueError, match="stem_stride must be 1 or 2, got 4"):
        AURegressor(width=8, stem_stride=4)
