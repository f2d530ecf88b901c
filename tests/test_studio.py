"""segan.studio without Gradio: which editors the app lists, in which order, how each is
labelled (the faces it learnt from, its crop size), which is recommended for photos, and the
same default for `segan edit`."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import tiny_model

import segan
from segan import bundled
from segan.cli import main as cli
from segan.labels import au_index
from segan.studio import Studio, bundled_editors, editor_label, editor_order, faces_of
from segan.synth.dataset import SynthFaces
from segan.visualize import to_uint8


@functools.cache
def _tiny(config: str, resolution: int):
    torch.manual_seed(0)
    return tiny_model(config, resolution)


def save(folder, config: str, resolution: int, dataset: str | None, **training):
    """A tiny model folder whose training record names `dataset` (None: no record of it)."""
    record = {"method": config.split("_")[0], "resolution": resolution, **training}
    if dataset is not None:
        record["dataset"] = dataset
    _tiny(config, resolution).save_pretrained(folder, config={"training": record})
    return folder


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A bundled-weights folder holding two synthetic-face editors at 64 px, a real-face
    editor at 128 px (FFHQ-aligned) and a parser."""
    folder = tmp_path / "weights"
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", folder)
    monkeypatch.setattr("segan.studio.WEIGHTS_DIR", folder)
    save(folder / "stargan", "stargan_synthfaces", 64, "synthfaces")
    save(folder / "boxhgan", "stargan_synthfaces", 64, "synthfaces")
    save(folder / "ganimation-ffhq", "ganimation_synthfaces", 128, "ffhq", alignment="ffhq")
    save(folder / "bisenet", "bisenet_synthfaces", 64, "synthfaces")
    return folder


@pytest.fixture(scope="module")
def probe() -> np.ndarray:
    return to_uint8(SynthFaces("test", 1, 128).batch([0])["image"])[0]


def test_faces_of_tells_real_datasets_from_synthfaces_and_unrecorded():
    assert faces_of("ffhq") == faces_of("affectnet") == "real"
    assert faces_of("synthfaces") == "synthetic"
    assert faces_of(None) == "unrecorded"
    ordered = sorted(
        [("a", "synthfaces", 64), ("b", "ffhq", 64), ("c", "ffhq", 128), ("d", None, 256)],
        key=lambda t: editor_order(t[1], t[2], t[0]),
    )
    assert [t[0] for t in ordered] == ["c", "b", "d", "a"]


def test_bundled_editors_list_real_face_editors_first_and_leave_parsers_out(weights):
    assert bundled_editors() == ["bundled:ganimation-ffhq", "bundled:boxhgan", "bundled:stargan"]


def test_the_real_face_editor_is_recommended_and_opened_first(weights, probe, tmp_path):
    studio = Studio(out_dir=tmp_path, probe=probe)
    assert studio.recommended() == studio.default() == "bundled:ganimation-ffhq"
    assert studio.choices() == [
        ("ganimation-ffhq (real faces, 128 px), recommended", "bundled:ganimation-ffhq"),
        ("boxhgan (synthetic faces, 64 px)", "bundled:boxhgan"),
        ("stargan (synthetic faces, 64 px)", "bundled:stargan"),
    ]
    real = studio.load("bundled:ganimation-ffhq")
    assert (real.trained_on, real.resolution, real.faces) == ("ffhq", 128, "real")
    assert "trained on real photos (ffhq) at 128 px" in real.describe()
    synthetic = studio.load("bundled:stargan")
    assert synthetic.faces == "synthetic"
    assert "on a photo of a real person it changes little" in synthetic.describe()
    assert studio.choices()[0][0].endswith("recommended")  # loading changes no label


def test_the_sliders_show_the_aus_the_model_is_asked_for(weights, probe, tmp_path):
    studio = Studio(out_dir=tmp_path, probe=probe)
    surprise = [studio.preset("surprise", 1.0, s) for s in ("bundled:ganimation-ffhq", None)]
    au25, au26 = au_index(25), au_index(26)
    assert surprise[0][au25] == surprise[0][au26] == 4.0  # FFHQ's labels tie AU25 and AU26
    assert (surprise[1][au25], surprise[1][au26]) == (0.0, 4.0)  # the prototype
    assert studio.preset("surprise", 1.0, "bundled:stargan") == surprise[1]  # a label model


def test_without_a_real_face_editor_none_is_recommended(weights, tmp_path):
    for name in ("ganimation-ffhq",):
        for item in (weights / name).iterdir():
            item.unlink()
        (weights / name).rmdir()
    studio = Studio(out_dir=tmp_path)
    assert studio.recommended() is None
    assert studio.default() == "bundled:boxhgan"  # the first listed
    assert all("recommended" not in label for label, _ in studio.choices())


def test_a_named_default_wins_and_an_empty_studio_says_what_to_do(weights, tmp_path):
    assert Studio(out_dir=tmp_path, default="bundled:stargan").default() == "bundled:stargan"
    with pytest.raises(ValueError, match="no editor to serve"):
        Studio([], out_dir=tmp_path).default()


def test_a_folder_without_a_training_record_is_listed_as_unrecorded(tmp_path, probe):
    folder = save(tmp_path / "mine", "stargan_synthfaces", 64, None)
    studio = Studio([str(folder)], out_dir=tmp_path / "out", probe=probe)
    assert studio.facts(str(folder)) == (None, 64)
    assert studio.recommended() is None
    assert studio.choices() == [(f"{folder} (64 px)", str(folder))]
    assert "its training data is not recorded" in studio.load(str(folder)).describe()
    assert editor_label("x", None, 0, False) == "x"


def test_load_reads_the_training_dataset_into_the_model(weights):
    assert segan.load("bundled:ganimation-ffhq").trained_on == "ffhq"
    assert segan.load("bundled:ganimation-ffhq").alignment == "ffhq"
    assert segan.load("bundled:stargan").trained_on == "synthfaces"


def test_segan_edit_without_a_model_uses_the_recommended_editor(weights, tmp_path, capsys):
    face = to_uint8(SynthFaces("test", 1, 128).batch([0])["image"])[0]
    Image.fromarray(face).save(tmp_path / "face.png")
    out = tmp_path / "out"
    args = ["edit", str(tmp_path / "face.png"), "--whole", "--expression", "happy"]
    assert cli([*args, "--out", str(out)]) == 0
    assert "model: bundled:ganimation-ffhq" in capsys.readouterr().err
    edited = np.asarray(Image.open(out / "face_happy.png"))
    assert edited.shape == face.shape and not np.array_equal(edited, face)


def test_a_real_face_editor_draws_part_maps_with_a_parser_trained_on_real_faces(weights):
    from segan.pipeline import EditPipeline

    assert EditPipeline.load("bundled:stargan").parser.architecture == "bisenet"
    assert EditPipeline.load("bundled:ganimation-ffhq").parser is None  # none for real faces
    save(weights / "unet-ffhq", "unet_synthfaces", 128, "ffhq", alignment="ffhq")
    assert EditPipeline.load("bundled:ganimation-ffhq").parser.architecture == "unet"
    assert EditPipeline.load("bundled:stargan").parser.architecture == "bisenet"
