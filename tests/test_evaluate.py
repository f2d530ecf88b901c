"""`segan eval`: the runner's numbers against independent computations with stand-in models
whose behaviour is known (an identity editor, a constant classifier, a zero regressor)."""

from __future__ import annotations

import json

import pytest
import torch

from segan.cli import main as cli
from segan.evaluate import EXPRESSION_PARTS, EvalData, evaluate
from segan.labels import EXPRESSIONS, NUM_EXPRESSIONS
from segan.metrics.fidelity import psnr
from segan.metrics.leakage import leakage
from segan.metrics.realism import TINY_EXTRACTOR
from segan.models.evaluators import AURegressor
from segan.models.stargan import StarGAN
from segan.synth.dataset import SynthFaces, au_region

RES, N = 32, 16


class IdentityEditor(torch.nn.Module):
    """Returns its input: no edit at all."""

    role, architecture, condition_kind = "editor", "identity", "label"
    labels = EXPRESSIONS

    def forward(self, x, condition):
        return x


class AlwaysHappy(torch.nn.Module):
    role, architecture = "evaluator", "always-happy"
    labels = EXPRESSIONS

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.full((x.shape[0],), 1), 8).float()


class ZeroAUs(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0], 17)


class Background(torch.nn.Module):
    role, architecture = "parser", "background"

    def forward(self, x):
        out = torch.zeros(x.shape[0], 19, *x.shape[-2:])
        out[:, 0] = 1
        return out


def _fid():
    return {"feature_extractor": TINY_EXTRACTOR, "cuda": False}


def test_an_identity_editor_scores_no_leakage_and_the_psnr_of_doing_nothing():
    data = EvalData(n=N, resolution=RES, batch_size=8)
    result = evaluate(
        IdentityEditor(), data, classifier=AlwaysHappy(), regressor=ZeroAUs(), fid=_fid()
    )
    m = result["metrics"]
    assert result["n_edits"] == N * (NUM_EXPRESSIONS - 1)
    assert m["leakage"] == 0.0 and m["change_inside"] == 0.0
    # independently, over every target: PSNR between each source face and its true edit, and
    # the true edit's own change in the regions (the scale an editor's is read against)
    ds = SynthFaces("test", N, RES)
    labels = ds.labels(range(N))["expression"]
    values, inside, outside = [], [], []
    for shift in range(1, NUM_EXPRESSIONS):
        pair = ds.pair(list(range(N)), (labels + shift) % NUM_EXPRESSIONS)
        values.append(psnr(pair["image"], pair["edited"])["psnr"])
        region = au_region(pair["identity"], pair["aus"], pair["target_aus"], RES, 1)
        moved = leakage(pair["image"], pair["edited"], region)
        inside.append(moved["change_inside"])
        outside.append(moved["leakage"])
    assert m["psnr"] == pytest.approx(sum(values) / len(values), rel=1e-9)
    assert m["true_change_inside"] == pytest.approx(sum(inside) / len(inside), rel=1e-9)
    assert m["true_leakage"] == pytest.approx(sum(outside) / len(outside), rel=1e-9)
    assert m["true_change_inside"] > 10 * m["true_leakage"]
    # a classifier that always says happy is right exactly on the edits whose target is happy
    happy_targets = int((labels != 1).sum())
    assert m["expression_accuracy"] == pytest.approx(100 * happy_targets / result["n_edits"])
    assert m["expression_accuracy_per_target"]["happy"] == 100.0
    assert m["expression_accuracy_per_target"]["sad"] == 0.0
    # a regressor reading zero AUs is off by the mean target intensity
    assert m["au_mae"] > 0.1 and m["fid"] > 0.0
    assert "identity_distance" in result["unavailable"]
    assert result["key"] == f"synthfaces_{RES}px_n{N}"


def test_a_real_editor_and_a_parser_write_json_and_markdown(tmp_path, capsys):
    torch.manual_seed(0)
    editor = StarGAN(conv_dim=8, repeat_num=1, image_size=RES)
    editor.save_pretrained(tmp_path / "stargan")
    regressor = AURegressor(image_size=RES)
    regressor.save_pretrained(tmp_path / "regressor")
    argv = ["eval", str(tmp_path / "stargan"), "--n", "8", "--out", str(tmp_path / "eval")]
    assert cli([*argv, "--regressor", str(tmp_path / "regressor"), "--no-fid"]) == 0
    text = capsys.readouterr().out
    assert "| psnr |" in text and "evaluators: bundled:classifier (expression accuracy)" in text
    saved = json.loads((tmp_path / "eval" / f"stargan_synthfaces_{RES}px_n8.json").read_text())
    assert 0 <= saved["metrics"]["expression_accuracy"] <= 100  # the bundled classifier's
    assert saved["architecture"] == "stargan" and saved["n_edits"] == 8 * 7
    assert 0 <= saved["metrics"]["ssim"] <= 1 and saved["metrics"]["au_mae"] >= 0
    assert saved["unavailable"]["fid_kid"]["reason"] == "FID/KID were not asked for"
    assert cli(["eval", str(tmp_path / "regressor")]) == 2
    assert "scores editors and parsers" in capsys.readouterr().err


def test_eval_files_of_a_bundled_or_hub_model_have_portable_names(tmp_path, capsys):
    out = tmp_path / "eval"
    assert cli(["eval", "bundled:stargan", "--n", "2", "--no-fid", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "bundled-stargan_synthfaces_64px_n2.json",
        "bundled-stargan_synthfaces_64px_n2.md",
    ]
    assert "evaluators: bundled:classifier" in capsys.readouterr().out


def test_offline_fid_is_reported_unavailable_in_the_results(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = evaluate(IdentityEditor(), EvalData(n=8, resolution=RES))
    assert "fid" not in result["metrics"]
    fix = result["unavailable"]["fid_kid"]["fix"]
    assert "--inception-weights FILE" in fix and "weights_path" in fix  # the CLI's and Python's


def test_parser_scores_match_the_background_share():
    result = evaluate(Background(), EvalData(n=8, resolution=RES))
    masks = SynthFaces("test", 8, RES).batch(range(8))["mask"]
    share = 100 * float((masks == 0).double().mean())
    assert result["metrics"]["pixel_accuracy"] == pytest.approx(share)
    assert result["metrics"]["iou"]["background"] == pytest.approx(share)


def test_expression_parts_follow_the_action_units():
    assert {"mouth", "u_lip", "l_lip"} <= set(EXPRESSION_PARTS["happy"])
    assert {"l_brow", "r_brow"} <= set(EXPRESSION_PARTS["surprise"])
    assert "nose" in EXPRESSION_PARTS["disgust"] and EXPRESSION_PARTS["neutral"] == ()


def test_real_data_leakage_uses_parser_masks_and_fidelity_is_unavailable(tmp_path):
    from segan.data.affectnet import AffectNet
    from segan.data.cache import prepare
    from segan.synth.writers import write_affectnet

    write_affectnet(tmp_path / "a", 8, resolution=64, extra_codes=False)
    prepare(AffectNet(tmp_path / "a", "training", RES), tmp_path / "p")
    data = EvalData("affectnet", str(tmp_path / "p"), 8, RES)
    result = evaluate(IdentityEditor(), data, parser=Background(), fid=_fid())
    assert result["metrics"]["leakage"] == 0.0
    assert "psnr_ssim_l1" in result["unavailable"] and "psnr" not in result["metrics"]
    without = evaluate(IdentityEditor(), data, skip_fid=True)
    assert "leakage" in without["unavailable"]
