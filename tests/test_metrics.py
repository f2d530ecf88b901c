"""Metrics against independent computations on hand-made inputs; FID/KID through the real
torch-fidelity code path with a small registered feature extractor (offline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segan.metrics.checkerboard import checkerboard
from segan.metrics.expression import au_error, expression_accuracy
from segan.metrics.fidelity import identity_distance, l1, psnr, ssim
from segan.metrics.leakage import leakage, region_from_parts
from segan.metrics.realism import INCEPTION_URL, TinyFeatures, fid_kid, register_tiny_extractor
from segan.metrics.unavailable import is_available

# --- expression and AUs ----------------------------------------------------------------------


def test_expression_accuracy_counts_hits_overall_and_per_target_class():
    target = torch.tensor([0, 1, 2, 2, 2, 7])
    pred = torch.tensor([0, 1, 2, 0, 1, 7])
    out = expression_accuracy(pred, target)
    assert out["accuracy"] == pytest.approx(100 * 4 / 6)
    assert out["per_class"] == pytest.approx(
        {"neutral": 100.0, "happy": 100.0, "sad": 100 / 3, "contempt": 100.0}
    )
    logits = torch.nn.functional.one_hot(pred, 8).float() * 3 - 1
    assert expression_accuracy(logits, target)["accuracy"] == out["accuracy"]
    with pytest.raises(ValueError, match="do not match"):
        expression_accuracy(pred[:3], target)


def test_au_error_per_au_and_overall():
    target = torch.zeros(2, 17)
    pred = torch.zeros(2, 17)
    pred[0, 8] = 2.0  # AU12 off by 2 on one face
    pred[:, 0] = 1.0  # AU1 off by 1 on both
    out = au_error(pred, target)
    assert out["per_au"]["AU12"] == pytest.approx(1.0)
    assert out["per_au"]["AU1"] == pytest.approx(1.0)
    assert out["per_au"]["AU2"] == 0.0
    assert out["mae"] == pytest.approx((2 + 1 + 1) / 34)
    assert out["rmse"] == pytest.approx(np.sqrt((4 + 1 + 1) / 34))
    with pytest.raises(ValueError, match=r"\(N, 17\)"):
        au_error(pred[:, :5], target[:, :5])


# --- fidelity ---------------------------------------------------------------------------------


def test_psnr_and_l1_of_a_known_difference():
    a = torch.zeros(2, 3, 16, 16)
    b = a + 0.2  # 0.1 on the [0, 1] scale: MSE 0.01 -> 20 dB
    assert psnr(a, b)["psnr"] == pytest.approx(20.0)
    assert l1(a, b)["l1"] == pytest.approx(0.1)
    assert psnr(a, a)["psnr"] == 100.0


def _naive_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. SSIM written out window by window (x, y: (3, H, W) in [0, 1])."""
    r = np.arange(11) - 5
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for c in range(3):
        for i in range(x.shape[1] - 10):
            for j in range(x.shape[2] - 10):
                px, py = x[c, i : i + 11, j : j + 11], y[c, i : i + 11, j : j + 11]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cxy = (w * (px - mx) * (py - my)).sum()
                values.append(
                    ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
                )
    return float(np.mean(values))


def test_ssim_matches_a_window_by_window_computation():
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 18, 20, generator=gen) * 2 - 1
    b = (a + 0.3 * torch.randn(1, 3, 18, 20, generator=gen)).clamp(-1, 1)
    expected = _naive_ssim(((a[0] + 1) / 2).numpy(), ((b[0] + 1) / 2).numpy())
    assert ssim(a, b)["ssim"] == pytest.approx(expected, abs=1e-9)
    assert ssim(a, a)["ssim"] == pytest.approx(1.0)
    assert ssim(a, b)["ssim"] < 0.9
    with pytest.raises(ValueError, match="11x11"):
        ssim(a[..., :8, :8], b[..., :8, :8])


def test_identity_distance_is_unavailable_without_an_embedding_and_cosine_with_one():
    a = torch.rand(3, 3, 8, 8) * 2 - 1
    b = torch.rand(3, 3, 8, 8) * 2 - 1
    out = identity_distance(a, b)
    assert not is_available(out) and "embed=" in out["fix"]
    flat = identity_distance(a, b, embed=lambda x: x.flatten(1))
    fa, fb = a.flatten(1).numpy(), b.flatten(1).numpy()
    cos = (fa * fb).sum(1) / np.linalg.norm(fa, axis=1) / np.linalg.norm(fb, axis=1)
    assert flat["identity_distance"] == pytest.approx(float(np.mean(1 - cos)))
    assert identity_distance(a, a, embed=lambda x: x.flatten(1))["identity_distance"] == (
        pytest.approx(0.0, abs=1e-12)
    )


# --- leakage ----------------------------------------------------------------------------------


def test_checkerboard_reads_the_period_two_pattern_and_not_smooth_change():
    torch.manual_seed(0)
    source = torch.rand(2, 3, 16, 16) * 2 - 1
    rows, cols = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    board = ((rows + cols) % 2 * 2 - 1).float()  # +-1
    ramp = (rows + 2 * cols).float() / 64  # a smooth (linear) change
    edited = source.clone()
    edited[0] += ramp
    edited[1] += ramp + 8 / 127.5 * board  # and an 8-grey-level checkerboard
    got = checkerboard(source, edited)
    assert got[0] == pytest.approx(0.0, abs=1e-9)
    assert got[1] == pytest.approx(8.0, rel=1e-6)
    assert checkerboard(source, source).abs().max() == 0
    # a stripe pattern along rows only, on a quarter of the picture: a quarter of its amplitude
    stripes = torch.zeros(1, 3, 16, 16)
    stripes[..., :8, :8] = ((rows[:8, :8] % 2) * 2 - 1).float() * 4 / 127.5
    assert checkerboard(source[:1], source[:1] + stripes)[0] == pytest.approx(1.0, rel=0.1)
    # texture with no fixed phase (noise of 10 grey levels) reads near zero
    noise = torch.randn(1, 3, 64, 64) * 10 / 127.5
    assert checkerboard(torch.zeros_like(noise), noise)[0] < 0.5
    with pytest.raises(ValueError, match="one shape"):
        checkerboard(source, edited[:, :, :8])


def test_leakage_measures_change_outside_the_allowed_region_in_grey_levels():
    source = torch.zeros(1, 3, 10, 10)
    edited = source.clone()
    allowed = torch.zeros(1, 10, 10, dtype=torch.bool)
    allowed[0, 2:5, 2:5] = True  # 9 pixels may change
    edited[0, :, 2:5, 2:5] += 20 / 127.5  # +20 grey levels inside
    out = leakage(source, edited, allowed)
    assert out["leakage"] == pytest.approx(0.0) and out["change_inside"] == pytest.approx(20.0)
    assert out["outside_share"] == pytest.approx(0.0)
    edited[0, 0, 8:, :] += 6 / 127.5  # one channel, 20 outside pixels: 2 grey levels each
    out = leakage(source, edited, allowed)
    assert out["leakage"] == pytest.approx(20 * 2 / 91)
    assert out["outside_share"] == pytest.approx(100 * 40 / (40 + 180))
    with pytest.raises(ValueError, match="allowed must be"):
        leakage(source, edited, allowed[:, :5])


def test_region_from_parts_selects_and_dilates_classes():
    masks = torch.zeros(1, 9, 9, dtype=torch.long)
    masks[0, 4, 4] = 11  # mouth
    masks[0, 0, 0] = 12  # u_lip
    region = region_from_parts(masks, ["mouth", "u_lip"])
    assert region.sum() == 2 and region[0, 4, 4] and region[0, 0, 0]
    assert region_from_parts(masks, ["mouth"], dilate_px=1)[0, 3:6, 3:6].all()
    with pytest.raises(ValueError, match="unknown parts"):
        region_from_parts(masks, ["lips"])


# --- FID / KID through torch-fidelity ---------------------------------------------------------


def _frechet(f1: np.ndarray, f2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians fitted to feature rows (eigen-decomposition sqrtm)."""
    m1, m2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    vals, vecs = np.linalg.eigh(s1)
    root1 = vecs @ np.diag(np.sqrt(vals.clip(min=0))) @ vecs.T
    middle = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(
        ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(middle.clip(min=0)).sum()
    )


def _uint8(images: torch.Tensor) -> torch.Tensor:
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def test_fid_kid_with_a_registered_extractor_match_an_independent_computation():
    name = register_tiny_extractor()
    gen = torch.Generator().manual_seed(1)
    real = torch.rand(40, 3, 16, 16, generator=gen) * 2 - 1
    fake = (real * 0.6 + 0.3 + 0.2 * torch.randn(40, 3, 16, 16, generator=gen)).clamp(-1, 1)
    same = fid_kid(real, real, feature_extractor=name, cuda=False, batch_size=16)
    assert same["fid"] == pytest.approx(0.0, abs=1e-3)
    out = fid_kid(real, fake, feature_extractor=name, cuda=False, batch_size=16)
    twin = torch.rand(40, 3, 16, 16, generator=gen) * 2 - 1  # another draw of the real kind
    near = fid_kid(real, twin, feature_extractor=name, cuda=False, batch_size=16)
    assert abs(near["kid_x1000"]) < 0.25 * out["kid_x1000"] and near["fid"] < 0.25 * out["fid"]
    net = TinyFeatures()
    with torch.no_grad():
        f1, f2 = net(_uint8(real)).double().numpy(), net(_uint8(fake)).double().numpy()
    assert out["fid"] == pytest.approx(_frechet(f1, f2), rel=1e-3)
    assert out["fid"] > 0.01 and out["kid_x1000"] > 0
    assert (out["n_real"], out["n_fake"], out["kid_subset_size"]) == (40, 40, 40)
    assert out["feature_extractor"] == name


def test_fid_from_folders_equals_fid_from_tensors(tmp_path):
    from PIL import Image

    name = register_tiny_extractor()
    gen = torch.Generator().manual_seed(2)
    sets = [torch.rand(12, 3, 16, 16, generator=gen) * 2 - 1 for _ in range(2)]
    for k, images in enumerate(sets):
        (tmp_path / str(k)).mkdir()
        for i, pixels in enumerate(_uint8(images).permute(0, 2, 3, 1).numpy()):
            Image.fromarray(pixels).save(tmp_path / str(k) / f"{i:02d}.png")
    a = fid_kid(*sets, feature_extractor=name, cuda=False, kid=False)
    b = fid_kid(tmp_path / "0", tmp_path / "1", feature_extractor=name, cuda=False, kid=False)
    assert a["fid"] == pytest.approx(b["fid"], rel=1e-6)
    with pytest.raises(ValueError, match="does not exist"):
        fid_kid(tmp_path / "nowhere", tmp_path / "1", feature_extractor=name)


def test_fid_without_inception_weights_offline_is_unavailable_not_a_number(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    images = torch.zeros(4, 3, 16, 16)
    out = fid_kid(images, images)
    assert not is_available(out) and "fid" not in out
    assert INCEPTION_URL in out["fix"] and "weights_path" in out["fix"]
    missing = fid_kid(images, images, weights_path=tmp_path / "nope.pth")
    assert not is_available(missing) and "nope.pth" in missing["reason"]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert not is_available(fid_kid(images, images, download=False))
