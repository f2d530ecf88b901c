"""Hub I/O shared by every network: save_pretrained, segan.load, offline Hub, checkpoint reading."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import segan
from segan.cli import main as cli
from segan.models.convert import read_checkpoint
from segan.models.discriminators import PatchDiscriminator


def _tiny() -> PatchDiscriminator:
    torch.manual_seed(0)
    return PatchDiscriminator(image_size=32, conv_dim=4, repeat_num=3, num_outputs=5).eval()


def test_save_and_load_round_trip(tmp_path):
    model = _tiny()
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == "patch-discriminator" and config["conv_dim"] == 4
    card = (tmp_path / "README.md").read_text()
    assert "patch-discriminator" in card and "library_name: segan" in card
    loaded = segan.load(tmp_path)
    assert type(loaded) is PatchDiscriminator and not loaded.training
    x = torch.randn(2, 3, 32, 32)
    for a, b in zip(model(x), loaded(x), strict=True):
        assert torch.equal(a, b)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    _tiny().save_pretrained(folder)
    return folder


def test_load_refuses_folders_that_are_not_segan_models(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        segan.load(tmp_path)
    folder = _folder(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architecture": "stylegan9"}))
    with pytest.raises(ValueError, match="unknown architecture 'stylegan9'"):
        segan.load(folder)
    del config["architecture"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no 'architecture'"):
        segan.load(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        segan.load(folder)


def test_load_takes_safetensors_only_and_matches_keys_strictly(tmp_path):
    folder = _folder(tmp_path)
    state = {k: v.clone() for k, v in _tiny().state_dict().items()}
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="safetensors"):
        segan.load(folder)
    extra = {**state, "main.99.weight": torch.zeros(1)}
    save_file(extra, folder / "model.safetensors")
    with pytest.raises(KeyError, match=r"unexpected 'main\.99\.weight'"):
        segan.load(folder)
    missing = {k: v for k, v in state.items() if k != "conv1.weight"}
    save_file(missing, folder / "model.safetensors")
    with pytest.raises(KeyError, match=r"missing 'conv1\.weight'"):
        segan.load(folder)


def test_a_damaged_weights_file_is_named_in_one_line(tmp_path, capsys):
    folder = _folder(tmp_path)
    (folder / "model.safetensors").write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match=r"model\.safetensors: not a readable safetensors file"):
        segan.load(folder)
    wrong = {k: torch.zeros(3, *v.shape[1:]) for k, v in _tiny().state_dict().items()}
    save_file(wrong, folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"model\.safetensors does not fit PatchDiscriminator"):
        segan.load(folder)
    (folder / "model.safetensors").write_bytes(os.urandom(4096))
    assert cli(["eval", str(folder), "--n", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(folder / "model.safetensors") in err


def test_an_unknown_repo_id_without_a_network_answers_in_seconds(tmp_path):
    """No Hub (a closed port as its endpoint): one line saying so, without the retries."""
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    code = "import time, segan, segan.models\n"  # the answer is timed, not the imports
    code += "t = time.time()\ntry:\n    segan.load('acme/nothing')\n"
    code += "except FileNotFoundError as e:\n    print(round(time.time() - t, 1), e)\n"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seconds, message = done.stdout.split(" ", 1)
    assert float(seconds) < 5 and "127.0.0.1:9 cannot be reached" in message


def _hub_cache(tmp_path: Path, repo: str) -> Path:
    """A Hugging Face cache holding `repo` at one revision, as hf_hub_download writes it."""
    cache = tmp_path / "hub"
    org, name = repo.split("/")
    root = cache / f"models--{org}--{name}"
    sha = "0123456789abcdef0123456789abcdef01234567"
    snapshot = root / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(sha)
    src = _folder(tmp_path)
    for f in ("config.json", "model.safetensors"):
        shutil.copy(src / f, snapshot / f)
    return cache


def _offline(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_load_from_a_hub_repo_id_offline(tmp_path):
    cache = _hub_cache(tmp_path, "acme/tiny-critic")
    code = (
        "import segan, torch\n"
        "m = segan.load('acme/tiny-critic')\n"
        "print(type(m).__name__, m.config['conv_dim'], m(torch.zeros(1, 3, 32, 32))[1].shape)\n"
    )
    done = _offline(code, cache)
    assert done.returncode == 0, done.stderr
    assert "PatchDiscriminator 4 torch.Size([1, 5])" in done.stdout
    missing = _offline("import segan\nsegan.load('acme/not-there')\n", cache)
    assert missing.returncode != 0
    assert "cannot be reached" in missing.stderr and "Traceback" in missing.stderr


class _Unpicklable:
    """Any object that is not a tensor: weights_only loading must refuse it."""

    def __init__(self):
        self.payload = [1, 2, 3]


def test_read_checkpoint_accepts_state_dicts_only(tmp_path):
    state = {"a.weight": torch.ones(2), "b.bias": torch.zeros(1)}
    torch.save(state, tmp_path / "plain.pth")
    assert read_checkpoint(tmp_path / "plain.pth").keys() == state.keys()
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "wrapped.pth")
    assert read_checkpoint(tmp_path / "wrapped.pth").keys() == state.keys()
    torch.save([torch.ones(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="not a state dict"):
        read_checkpoint(tmp_path / "list.pth")
    torch.save({"a.weight": torch.ones(1), "step": 7}, tmp_path / "mixed.pth")
    with pytest.raises(ValueError, match="'step' holds a int"):
        read_checkpoint(tmp_path / "mixed.pth")
    torch.save({"model": _Unpicklable()}, tmp_path / "code.pth")
    with pytest.raises(ValueError, match="refusing"):
        read_checkpoint(tmp_path / "code.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable"):
        read_checkpoint(tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_checkpoint(tmp_path / "absent.pth")


def test_convert_cli_reports_bad_kinds_and_files(tmp_path, capsys):
    torch.save({"a": torch.ones(1)}, tmp_path / "x.pth")
    with pytest.raises(SystemExit) as stop:
        cli(["convert", "--from", "nope", str(tmp_path / "x.pth"), str(tmp_path / "o")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "stargan" in err and "celebamask-unet" in err
    assert cli(["convert", "--from", "stargan", str(tmp_path / "y.pth"), str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("size", [64, 128])
def test_critics_and_evaluators_take_64_and_128_px(size):
    from segan.models.evaluators import AURegressor, ExpressionClassifier
    from segan.models.hierarchical import HierarchicalDiscriminator

    x = torch.rand(2, 3, size, size) * 2 - 1
    patch, logits = PatchDiscriminator(size, conv_dim=4, repeat_num=5, num_outputs=8)(x)
    assert patch.shape == (2, 1, size // 32, size // 32) and logits.shape == (2, 8)
    critics = HierarchicalDiscriminator(size, 8, conv_dim=4, repeat_num=5, local_conv_dim=4)
    out = critics(x, torch.rand(2, 4, size, size))
    assert out["mouth"][0].shape == (2, 1, size // 32, size // 32)
    classifier, regressor = ExpressionClassifier(image_size=size), AURegressor(image_size=size)
    assert classifier(x).shape == (2, 8) and classifier.config["image_size"] == size
    aus = regressor(x)
    assert aus.shape == (2, 17) and float(aus.min()) >= 0 and float(aus.max()) <= 5
