"""EditPipeline (segan.pipeline), bundled models (bundled:NAME) and `segan edit`.

Photos are SynthFaces test faces pasted into textured backgrounds; editors are tiny untrained
networks of the shipped configs (tests/tiny.py) or fakes defined here whose edit is known
exactly (the identity, a constant offset), so every pixel of the result can be predicted.
"""

from __future__ import annotations

import copy
import functools
import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import tiny_model

import segan
import segan.bundled as bundled
from segan.cli import main as cli
from segan.labels import EXPRESSIONS, au_index, expression_aus
from segan.models.base import Editor, EditOutput
from segan.models.ganimation import GANimation
from segan.photos import faces as faces_module
from segan.photos.faces import CropBox, NoFaceError, centre_square, seam_weights, square_box
from segan.photos.images import ImageReadError, to_tensor
from segan.pipeline import (
    MAX_INTENSITY,
    EditPipeline,
    compare,
    draw_box,
    expression_preset,
    parse_aus,
)
from segan.synth.dataset import SynthFaces
from segan.train.bundle import half_precision_copy
from segan.visualize import to_uint8

RES = 32  # the tiny models' resolution
W, H = 420, 340  # the test photo
FACE_AT = (80, 40)  # where the 256 px SynthFaces face sits in it


# --------------------------------------------------------------------------- helpers


class FakeEditor(Editor):
    """An editor whose edit is x + offset (offset 0: the identity). No `architecture`, so it is
    not registered; `kind` stands in for the class's condition_kind; it records conditions."""

    def __init__(self, offset=0.0, labels=EXPRESSIONS, image_size=RES, kind="label", aus=None):
        super().__init__()
        self.offset = float(offset)
        self.labels = tuple(labels)
        self.image_size = image_size
        self.condition_kind = kind
        if aus is not None:
            self.aus = tuple(aus)
        self.seen: list[torch.Tensor] = []

    def explain(self, x, condition):
        self.seen.append(condition.detach().clone())
        return EditOutput(image=(x + self.offset).clamp(-1, 1))


@functools.cache
def _model(config: str, resolution: int = RES, *extra: str):
    torch.manual_seed(0)
    return tiny_model(config, resolution, *extra)


def model(config: str, resolution: int = RES, *extra: str):
    return _model(config, resolution, *extra)


@functools.cache
def _faces() -> np.ndarray:
    """SynthFaces test faces 1 and 4 at 256 px (the Haar cascade finds face 1 in the photo)."""
    return to_uint8(SynthFaces("test", 16, 256).batch([1, 4])["image"])


def textured(width, height, seed=0):
    """A noisy mid-grey background (90..170: no edit here meets 0 or 255)."""
    return np.random.default_rng(seed).integers(90, 170, (height, width, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 420x340 photo with one detectable face whose crop square lies inside the photo."""
    out = textured(W, H)
    x, y = FACE_AT
    out[y : y + 256, x : x + 256] = _faces()[0]
    return out


@pytest.fixture
def no_detection(monkeypatch):
    """Detection raises: what passes with this fixture did not detect."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the face detector was called")

    monkeypatch.setattr(faces_module, "detect_faces", refuse)


def inside(box: CropBox, shape) -> np.ndarray:
    keep = np.zeros(shape[:2], bool)
    keep[max(box.top, 0) : box.top + box.side, max(box.left, 0) : box.left + box.side] = True
    return keep


def pipe(editor, **kwargs) -> EditPipeline:
    return EditPipeline(editor, **kwargs)


# --------------------------------------------------------------------------- edits


def test_identity_editor_leaves_every_pixel_of_the_photo_unchanged(photo):
    result = pipe(FakeEditor()).edit(photo, "happy")
    face = result.face
    assert face[2] > 80 and FACE_AT[0] < face[0] < FACE_AT[0] + 256  # the pasted face, found
    assert result.box == square_box(face)
    assert result.box.side > RES  # the crop was resampled down and the change back up
    assert result.crop.shape == result.edited_crop.shape == (RES, RES, 3)
    assert np.array_equal(result.edited_crop, result.crop)
    assert result.output.shape == photo.shape and result.output.dtype == np.uint8
    assert np.array_equal(result.output, photo)
    assert result.output is not photo
    assert result.explain == {} and result.aus is None
    assert set(result.seconds) == {"read", "detect", "edit", "paste", "total"}
    assert all(v >= 0 for v in result.seconds.values())


@pytest.mark.parametrize(
    "config", ["stargan_synthfaces", "sargan_synthfaces", "seghgan_bisenet_synthfaces"]
)
def test_intensity_zero_with_a_label_model_leaves_the_photo_unchanged(photo, config):
    p = pipe(model(config))
    zero = p.edit(photo, "happy", intensity=0.0)
    assert np.array_equal(zero.output, photo)
    assert np.array_equal(zero.edited_crop, zero.crop)
    full = p.edit(photo, "happy", intensity=1.0, face=zero.face)
    assert not np.array_equal(full.output, photo)  # the untrained model does change the face


def test_offset_edit_changes_only_the_crop_and_scales_with_intensity(no_detection):
    background = textured(300, 240, seed=3)
    box = (100, 80, 50, 50)
    p = pipe(FakeEditor(offset=0.2))  # +25.5 grey levels
    full = p.edit(background, "sad", box=box)
    half = p.edit(background, "sad", intensity=0.5, box=box)
    square = square_box(box)
    assert full.box == half.box == square
    assert square.left > 0 and square.top > 0 and square.left + square.side < 300  # inside
    assert square.top + square.side < 240
    keep = inside(square, background.shape)
    for result in (full, half):
        assert np.array_equal(result.output[~keep], background[~keep])  # outside untouched
    change_full = full.output.astype(float) - background
    change_half = half.output.astype(float) - background
    # away from the seam the weight is 1: the whole change, and half of it at intensity 0.5
    weight = seam_weights(square.side)
    core = np.zeros(background.shape[:2], bool)
    core[square.top : square.top + square.side, square.left : square.left + square.side] = (
        weight == 1.0
    )
    assert core.sum() > 0.5 * square.side**2
    assert np.all(np.abs(change_full[core] - 25.5) <= 1.0)
    assert np.all(np.abs(change_half[core] - 12.75) <= 1.0)
    assert np.all(np.abs(change_half[core] - change_full[core] / 2) <= 1.0)
    # across the seam the change fades to (nearly) nothing at the crop's edge
    edge = change_full[square.top + square.side // 2, square.left]
    assert np.all(np.abs(edge) <= 2.0)
    assert np.all(change_full[keep] >= 0) and np.all(change_half[keep] <= change_full[keep])


def test_au_models_ignore_the_label_intensity_scaling_but_use_the_preset(photo):
    """AU models get the intensity through the preset, not through x + a * (G(x) - x)."""
    editor = FakeEditor(offset=0.2, kind="aus")
    p = pipe(editor)
    result = p.edit(photo, "happy", intensity=0.5)
    change = result.edited_crop.astype(int) - result.crop.astype(int)
    assert np.all((change >= 25) | (result.crop > 220))  # the whole offset, not half of it
    assert np.allclose(result.aus, expression_aus(1, 2.0).numpy())


# --------------------------------------------------------------------------- conditions


def test_label_condition_is_one_hot_at_the_models_own_index(photo):
    editor = FakeEditor(labels=("happy", "sad", "neutral"))
    p = pipe(editor, name="three")
    crop = np.zeros((RES, RES, 3), np.uint8)
    for k, name in enumerate(("happy", "sad", "neutral")):
        c, target = p.condition(crop, name)
        assert target is None
        assert c.shape == (1, 3) and torch.equal(c[0], torch.eye(3)[k])
    c, _ = p.condition(crop, "SAD")  # case does not matter
    assert torch.equal(c[0], torch.eye(3)[1])
    c, _ = p.condition(crop, EXPRESSIONS.index("neutral"))  # an index into EXPRESSIONS
    assert torch.equal(c[0], torch.eye(3)[2])
    with pytest.raises(ValueError, match=r"three knows happy, sad, neutral, not 'anger'"):
        p.condition(crop, "anger")
    result = p.edit(photo, "sad")
    assert torch.equal(editor.seen[-1], torch.eye(3)[1][None])
    assert p.kind == "label" and not p.uses_aus and p.labels == ("happy", "sad", "neutral")
    assert result.aus is None


@pytest.mark.parametrize(
    ("kind", "kwargs", "message"),
    [
        ("label", {"expression": "grumpy"}, "unknown expression 'grumpy'"),
        ("label", {"expression": 8}, "unknown expression 8"),
        ("label", {"expression": "happy", "intensity": 1.3}, r"intensity must lie in \[0, 1.25\]"),
        ("label", {"expression": "happy", "intensity": -0.1}, "got -0.1"),
        ("label", {"expression": "happy", "intensity": float("nan")}, "got nan"),
        ("label", {}, "edits towards an expression; give one"),
        ("label", {"aus": {12: 3}}, "edits towards an expression; give one"),
        ("aus", {}, "give an expression or action units"),
        ("aus", {"expression": "grumpy"}, "unknown expression 'grumpy'"),
        ("aus", {"expression": "happy", "intensity": 2.0}, "intensity must lie"),
        ("aus", {"aus": {12: 5.5}}, r"AU12 = 5.5 lies outside 0..5"),
        ("aus", {"aus": {"AU6": -1}}, r"AU6 = -1 lies outside"),
        ("aus", {"aus": {"smile": 3}}, r"AU key 'smile' is not an AU number"),
        ("aus", {"aus": {3: 1}}, r"AU3 is not one of segan's 17 AUs"),
        ("aus", {"aus": [1.0] * 5}, r"aus must hold 17 values .* got 5"),
        ("relative_aus", {"aus": [0.0] * 16 + [9.0]}, r"AU45 = 9 lies outside"),
    ],
)
def test_bad_conditions_are_value_errors_naming_what_is_wrong(kind, kwargs, message):
    p = pipe(FakeEditor(kind=kind))
    crop = np.zeros((RES, RES, 3), np.uint8)
    with pytest.raises(ValueError, match=message):
        p.condition(crop, **kwargs)


def test_parse_aus_and_expression_preset():
    aus = parse_aus({12: 3.0, "AU6": 2.5, "au25_r": 1})
    expected = np.zeros(17)
    expected[[au_index(12), au_index(6), au_index(25)]] = (3.0, 2.5, 1.0)
    assert np.array_equal(aus, expected)
    vector = np.linspace(0, 5, 17)
    assert np.array_equal(parse_aus(vector), vector)
    assert np.array_equal(parse_aus(vector.reshape(1, 17)), vector)
    happy = EXPRESSIONS.index("happy")
    assert np.allclose(expression_preset("happy"), expression_aus(happy, 4.0).numpy())
    assert np.allclose(expression_preset("happy", 0.5), expression_aus(happy, 2.0).numpy())
    assert np.array_equal(expression_preset("happy", 0.0), np.zeros(17))
    top = expression_preset("surprise", MAX_INTENSITY)  # 4 * 1.25 = 5: the scale's top
    assert top.max() <= 5.0 and np.allclose(top, expression_aus(EXPRESSIONS.index("surprise"), 5.0))
    assert expression_preset("happy")[au_index(12)] > 0  # the smile is in the preset


def test_ganimation_condition_is_the_preset_over_five(photo):
    p = pipe(model("ganimation_synthfaces"))
    assert p.kind == "aus" and p.uses_aus and p.labels == EXPRESSIONS
    crop = np.zeros((RES, RES, 3), np.uint8)
    c, target = p.condition(crop, "happy", 0.75)
    assert np.allclose(target, expression_preset("happy", 0.75))
    assert c.shape == (1, 17) and c.dtype == torch.float32
    assert torch.allclose(c[0], torch.tensor(target / 5.0, dtype=torch.float32))
    c, target = p.condition(crop, "happy", 0.75, aus={12: 4.0, 6: 2.0})  # aus win
    assert target[au_index(12)] == 4.0 and target.sum() == 6.0
    assert c[0, au_index(12)].item() == pytest.approx(0.8) and c[0, au_index(6)] == 0.4
    result = p.edit(photo, aus={12: 4.0})
    assert result.aus[au_index(12)] == 4.0 and result.aus.sum() == 4.0


def test_an_au_model_trained_on_blendshape_labels_is_asked_for_tied_aus(photo):
    crop = np.zeros((RES, RES, 3), np.uint8)
    synthetic = model("ganimation_synthfaces")
    real = copy.deepcopy(synthetic)
    real.trained_on = "ffhq"  # FFHQ's AUs are read off blendshapes: AU25 and AU26 are one
    _, asked = pipe(synthetic).condition(crop, "surprise")
    assert asked[au_index(26)] == 4.0 and asked[au_index(25)] == 0.0  # the prototype as is
    c, tied = pipe(real).condition(crop, "surprise")
    assert tied[au_index(25)] == tied[au_index(26)] == 4.0
    assert c[0, au_index(25)].item() == pytest.approx(0.8)
    _, tied = pipe(real).condition(crop, aus={6: 1.0, 7: 3.0, 12: 2.0})  # sliders too
    assert tied[au_index(6)] == tied[au_index(7)] == 3.0 and tied[au_index(12)] == 2.0
    assert pipe(real).edit(photo, "happy").aus[au_index(7)] == 4.0


def test_an_au_editor_with_fewer_aus_gets_them_in_its_own_order(photo):
    torch.manual_seed(0)
    ganimation = GANimation(conv_dim=4, repeat_num=0, aus=[12, 6], image_size=RES).eval()
    c, target = pipe(ganimation).condition(photo[:RES, :RES], aus={6: 2.0, 12: 4.0, 1: 3.0})
    assert c.shape == (1, 2) and torch.allclose(c[0], torch.tensor([0.8, 0.4]))
    assert target.shape == (17,)
    fake = FakeEditor(kind="relative_aus", aus=(25, 1))
    c, _ = pipe(fake).condition(photo[:RES, :RES], aus={1: 1.0, 25: 5.0})
    assert torch.allclose(c[0], torch.tensor([1.0, 0.2]))
    result = pipe(ganimation).edit(photo, "happy")  # runs end to end
    assert result.output.shape == photo.shape


def test_finegrained_gets_relative_aus_from_the_au_estimator(photo):
    editor = model("finegrained_synthfaces")
    estimator = model("regressor_synthfaces", RES, "model.width=8")
    crop = pipe(editor).crop(pipe(editor).read(photo), (150, 100, 100, 100))[1]
    # without an estimator the source counts as neutral (zero AUs): the target itself
    alone = pipe(editor)
    assert alone.kind == "relative_aus" and alone.estimate_aus(crop) is None
    c, target = alone.condition(crop, "sad", 1.0)
    assert np.allclose(target, expression_preset("sad"))
    assert torch.allclose(c[0], torch.tensor(target / 5.0, dtype=torch.float32))
    # with one, the source is what it reads off the crop (0..5, in segan's AU order)
    with_estimator = pipe(editor, au_estimator=estimator)
    with torch.no_grad():
        raw = estimator(to_tensor(crop)[None])[0].double().numpy()
    source = np.zeros(17)
    for value, au in zip(raw, estimator.aus, strict=True):
        source[au_index(au)] = value
    assert np.all((source >= 0) & (source <= 5)) and source.std() > 0
    assert np.allclose(with_estimator.estimate_aus(crop), source)
    c, target = with_estimator.condition(crop, "sad", 1.0)
    assert torch.allclose(c[0], torch.tensor((target - source) / 5.0, dtype=torch.float32))
    assert (c < 0).any()  # relative: AUs the face shows more of than the target go negative
    result = with_estimator.edit(photo, "sad", box=(150, 100, 100, 100))
    assert np.allclose(result.aus, expression_preset("sad"))


# --------------------------------------------------------------------------- finding faces


def test_whole_uses_the_centre_square_without_detection(no_detection):
    wide = textured(300, 200, seed=5)
    p = pipe(FakeEditor(offset=0.2))
    assert p.find(p.read(wide), whole=True) == (50, 0, 200, 200)
    result = p.edit(wide, "happy", whole=True)
    assert result.face == (50, 0, 200, 200)
    assert result.box == centre_square(300, 200) == CropBox(50, 0, 200)
    keep = inside(result.box, wide.shape)
    assert np.array_equal(result.output[~keep], wide[~keep])
    assert not np.array_equal(result.output[keep], wide[keep])
    face = to_uint8(SynthFaces("test", 16, 64).batch([0])["image"])[0]  # a face crop already
    crop = p.edit(face, "happy", whole=True)
    assert crop.box == CropBox(0, 0, 64) and crop.crop.shape == (RES, RES, 3)


def test_a_photo_without_a_face_raises_no_face_error():
    p = pipe(FakeEditor())
    with pytest.raises(NoFaceError, match=r"no face found in the 200x160 picture"):
        p.edit(textured(200, 160, seed=7), "happy")


def test_a_given_box_is_used_as_given(photo, no_detection):
    p = pipe(FakeEditor(), scale=1.5)
    result = p.edit(photo, "happy", box=(200, 120, 60, 40))
    assert result.face == (200, 120, 60, 40)
    assert result.box == square_box((200, 120, 60, 40), 1.5) == CropBox(185, 95, 90)
    with pytest.raises(ValueError, match="does not overlap"):
        p.edit(photo, "happy", box=(500, 10, 20, 20))


# --------------------------------------------------------------------------- inputs


def _png(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_grayscale_file_stays_grayscale(photo, tmp_path):
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    path = tmp_path / "gray.png"
    path.write_bytes(_png(gray, "L"))
    result = pipe(FakeEditor(offset=0.2)).edit(path, "happy", box=(150, 100, 100, 100))
    image = result.output_image()
    assert image.mode == "L" and image.size == (W, H)
    edited = np.asarray(image)
    keep = inside(result.box, gray.shape)
    assert np.array_equal(edited[~keep], gray[~keep]) and (edited[keep] > gray[keep]).any()
    saved = result.save(tmp_path / "out.png")
    assert Image.open(saved).mode == "L"
    assert Image.open(result.save(tmp_path / "out.jpg")).mode == "L"


def test_rgba_file_keeps_its_alpha_exactly(photo, tmp_path):
    alpha = np.random.default_rng(1).integers(0, 256, photo.shape[:2]).astype(np.uint8)
    rgba = np.dstack([photo, alpha])
    path = tmp_path / "rgba.png"
    path.write_bytes(_png(rgba, "RGBA"))
    result = pipe(FakeEditor(offset=0.2)).edit(path, "happy", box=(150, 100, 100, 100))
    image = result.output_image()
    assert image.mode == "RGBA"
    assert np.array_equal(np.asarray(image)[..., 3], alpha)
    assert not np.array_equal(np.asarray(image)[..., :3], photo)
    back = Image.open(result.save(tmp_path / "out.png"))
    assert back.mode == "RGBA" and np.array_equal(np.asarray(back)[..., 3], alpha)
    jpeg = Image.open(result.save(tmp_path / "out.jpg"))  # JPEG cannot hold alpha: RGB
    assert jpeg.mode == "RGB"


@pytest.mark.parametrize("kind", ["gray", "rgb", "rgba", "pil", "pil-cmyk", "bytes", "path"])
def test_arrays_pil_images_bytes_and_paths_are_all_accepted(photo, tmp_path, kind):
    alpha = np.full(photo.shape[:2], 77, np.uint8)
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    if kind == "gray":
        image, mode = gray, "L"
    elif kind == "rgb":
        image, mode = np.asfortranarray(photo), "RGB"  # not C-contiguous
        assert not image.flags.c_contiguous
    elif kind == "rgba":
        image, mode = np.dstack([photo, alpha]), "RGBA"
    elif kind == "pil":
        image, mode = Image.fromarray(photo), "RGB"
    elif kind == "pil-cmyk":
        image, mode = Image.fromarray(photo).convert("CMYK"), "RGB"
    elif kind == "bytes":
        image, mode = _png(photo, "RGB"), "RGB"
    else:
        image, mode = tmp_path / "photo.png", "RGB"
        image.write_bytes(_png(photo, "RGB"))
    result = pipe(FakeEditor()).edit(image, "happy", box=(150, 100, 100, 100))
    out = result.output_image()
    assert out.mode == mode and out.size == (W, H)
    expected = gray if kind == "gray" else photo  # the identity edit
    if kind == "rgba":
        assert np.array_equal(np.asarray(out)[..., 3], alpha)
        assert np.array_equal(np.asarray(out)[..., :3], photo)
    else:
        assert np.array_equal(np.asarray(out), expected)


def test_a_pil_image_is_read_like_its_file_exif_turn_included(tmp_path):
    stored = np.full((40, 60, 3), 128, np.uint8)
    stored[:10, :10] = (255, 0, 0)  # a red marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    path = tmp_path / "turned.jpg"
    Image.fromarray(stored).save(path, "JPEG", quality=95, exif=exif)
    p = pipe(FakeEditor())
    from_file = p.read(path)
    with Image.open(path) as image:
        from_pil = p.read(image)
    assert from_file.size == from_pil.size == (40, 60)
    assert np.array_equal(from_pil.rgb, from_file.rgb)
    assert from_pil.rgb[:8, -8:, 0].mean() > 200  # the marker is now top-right


def test_a_picture_over_max_pixels_is_refused_with_its_size(photo, tmp_path):
    p = pipe(FakeEditor(), max_pixels=100_000)
    path = tmp_path / "big.png"
    path.write_bytes(_png(photo, "RGB"))
    for image in (photo, path, Image.fromarray(photo), _png(photo, "RGB")):
        with pytest.raises(ImageReadError, match=r"420x340 \(0.1 megapixels\)"):
            p.edit(image, "happy", box=(150, 100, 100, 100))
    assert pipe(FakeEditor(), max_pixels=W * H).read(photo).size == (W, H)  # at the limit: fine


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((40, 40, 3), np.float32), "expected uint8"),
        (np.zeros((40, 40, 2), np.uint8), "expected 1, 3 or 4 channels, got 2"),
        (np.zeros((2, 40, 40, 3), np.uint8), r"expected uint8 \(H, W\[, 3\|4\]\)"),
    ],
)
def test_arrays_that_are_not_pictures_are_image_read_errors(array, message):
    with pytest.raises(ImageReadError, match=message):
        pipe(FakeEditor()).read(array)


def test_unreadable_files_name_the_file(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    with pytest.raises(ImageReadError, match=r"notes\.txt: not an image"):
        pipe(FakeEditor()).edit(notes, "happy")


def test_only_editors_make_a_pipeline():
    with pytest.raises(TypeError, match="is a parser, not an expression editor"):
        EditPipeline(model("bisenet_synthfaces"))


def test_annotated_draws_the_face_box_and_the_crop_square(photo):
    result = pipe(FakeEditor()).edit(photo, "happy")
    picture = result.annotated()
    assert picture.shape == photo.shape and not np.array_equal(picture, photo)
    assert np.array_equal(result.photo.rgb, photo)  # the photo itself is not drawn on
    x, y, _, h = result.face
    assert tuple(picture[y + h // 2, x]) == (40, 220, 60)  # green face box
    assert tuple(picture[result.box.top + result.box.side // 2, result.box.left]) == (
        250,
        200,
        30,
    )
    assert np.array_equal(draw_box(photo, result.face)[0, 0], photo[0, 0])


# --------------------------------------------------------------------------- explanations


def test_seghgan_explains_with_its_part_map_and_region_masks(photo):
    editor = model("seghgan_bisenet_synthfaces")
    result = pipe(editor).edit(photo, "happy")
    names = set(result.explain)
    regions = {f"region: {name}" for name in editor.region_names}
    # and its attentive global branch's attention and colour maps
    branch = {"attention (bright = edited)", "colour map"}
    assert regions and names == {"part map"} | regions | branch
    for picture in result.explain.values():
        assert picture.dtype == np.uint8 and picture.shape[:2] == (256, 256)
    assert result.explain["part map"].shape == (256, 256, 3)
    assert all(result.explain[name].ndim == 2 for name in regions)


def test_ganimation_explains_with_attention_and_colour(photo):
    result = pipe(model("ganimation_synthfaces")).edit(photo, "surprise")
    assert set(result.explain) == {"attention (bright = edited)", "colour map"}
    assert result.explain["attention (bright = edited)"].shape == (256, 256, 3)


def test_boxhgan_explains_with_its_boxes(photo):
    result = pipe(model("boxhgan_synthfaces")).edit(photo, "sad")
    assert "local boxes" in result.explain
    assert result.explain["local boxes"].shape == (256, 256, 3)


def test_a_label_model_gets_a_part_map_from_a_parser_only(photo):
    parser = model("bisenet_synthfaces")
    editor = model("stargan_synthfaces")
    with_parser = pipe(editor, parser=parser).edit(photo, "happy")
    assert set(with_parser.explain) == {"part map"}
    with torch.no_grad():
        parts = parser(to_tensor(with_parser.crop)[None]).argmax(1)[0]
    from segan.visualize import colorize_mask

    small = with_parser.explain["part map"][:: 256 // RES, :: 256 // RES]
    assert np.array_equal(small, colorize_mask(parts))
    assert pipe(editor).edit(photo, "happy").explain == {}


# --------------------------------------------------------------------------- compare


def test_compare_edits_one_detected_face_and_skips_models_that_cannot(photo, monkeypatch):
    calls = []
    detect = faces_module.detect_faces
    monkeypatch.setattr(
        faces_module, "detect_faces", lambda *a, **k: calls.append(1) or detect(*a, **k)
    )
    pipelines = {
        "two labels": pipe(FakeEditor(labels=("happy", "sad"))),
        "stargan": pipe(model("stargan_synthfaces")),
        "ganimation 64": pipe(model("ganimation_synthfaces", 64)),
    }
    got_photo, face, results = compare(pipelines, photo, "anger", 0.5)
    assert len(calls) == 1  # found once
    assert np.array_equal(got_photo.rgb, photo)
    assert set(results) == {"stargan", "ganimation 64"}  # the two-label model cannot do anger
    assert all(r.face == face for r in results.values())
    assert results["stargan"].crop.shape == (RES, RES, 3)
    assert results["ganimation 64"].crop.shape == (64, 64, 3)  # each at its own resolution
    _, _, happy = compare(pipelines, photo, "happy")
    assert set(happy) == set(pipelines)
    assert np.array_equal(happy["two labels"].output, photo)
    _, face, results = compare(pipelines, photo, "sad", whole=True)
    assert face == (40, 0, 340, 340) and all(r.box == CropBox(40, 0, 340) for r in results.values())
    with pytest.raises(ValueError, match="no models to compare"):
        compare({}, photo, "happy")
    with pytest.raises(ValueError, match="unknown expression 'bored'"):
        compare(pipelines, photo, "bored")


# --------------------------------------------------------------------------- bundled models


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """An empty bundled-weights folder in place of segan/weights."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", folder)
    return folder


def test_bundled_models_load_by_name(weights, photo):
    assert bundled.available() == []
    editor = model("stargan_synthfaces")
    editor.save_pretrained(weights / "stargan")
    (weights / "half-made").mkdir()  # no weights: not a bundled model
    (weights / "half-made" / "config.json").write_text("{}")
    assert bundled.available() == ["stargan"]
    assert bundled.resolve("bundled:stargan") == bundled.resolve("stargan") == weights / "stargan"
    loaded = segan.load("bundled:stargan")
    assert type(loaded) is type(editor) and not loaded.training
    x = torch.rand(1, 3, RES, RES) * 2 - 1
    c = torch.eye(len(EXPRESSIONS))[[1]]
    assert torch.equal(loaded(x, c), editor(x, c))
    with pytest.raises(FileNotFoundError, match=r"no bundled model 'nope'; bundled: stargan"):
        segan.load("bundled:nope")
    with pytest.raises(FileNotFoundError, match="no bundled model 'half-made'"):
        segan.load("bundled:half-made")
    shutil.rmtree(weights / "stargan")
    with pytest.raises(FileNotFoundError, match=r"bundled: none \(run `python -m segan.train"):
        segan.load("bundled:stargan")


def test_pipeline_load_takes_the_bundled_parser_and_estimator_when_there(weights, photo):
    model("ganimation_synthfaces").save_pretrained(weights / "ganimation")
    p = EditPipeline.load("bundled:ganimation")
    assert p.name == "ganimation" and p.parser is None and p.au_estimator is None
    model("bisenet_synthfaces").save_pretrained(weights / "bisenet")
    model("regressor_synthfaces", RES, "model.width=8").save_pretrained(weights / "regressor")
    p = EditPipeline.load("bundled:ganimation")
    assert p.parser.architecture == "bisenet" and p.au_estimator.architecture == "au-regressor"
    assert "part map" in p.edit(photo, "happy").explain
    p = EditPipeline.load("bundled:ganimation", parser=None, au_estimator=None, name="mine")
    assert p.parser is None and p.au_estimator is None and p.name == "mine"
    p = EditPipeline.load(weights / "ganimation", parser=weights / "bisenet", au_estimator=None)
    assert p.parser is not None and p.name == str(weights / "ganimation")
    with pytest.raises(TypeError, match="not an expression editor"):
        EditPipeline.load("bundled:bisenet")


@pytest.mark.parametrize("spec", ["/no/such/model", "./missing", "a/b/c", "~/nothing-here"])
def test_specs_that_look_like_paths_are_no_such_model_folder(spec):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        segan.load(spec)


def test_half_precision_copy_halves_the_file_and_keeps_the_outputs(tmp_path):
    editor = model("stargan_synthfaces")
    full, half = tmp_path / "full", tmp_path / "half"
    editor.save_pretrained(full)
    half.mkdir()
    shutil.copy2(full / "config.json", half / "config.json")
    half_precision_copy(full / "model.safetensors", half / "model.safetensors")
    ratio = (half / "model.safetensors").stat().st_size / (
        full / "model.safetensors"
    ).stat().st_size
    assert 0.45 < ratio < 0.55
    from safetensors import safe_open

    with safe_open(str(half / "model.safetensors"), "pt") as f:
        assert f.metadata()["segan_storage"] == "float16"
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}  # noqa: SIM118
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    loaded = segan.load(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(2, 3, RES, RES) * 2 - 1
    c = torch.eye(len(EXPRESSIONS))[[1, 4]]
    with torch.no_grad():
        difference = (loaded(x, c) - editor(x, c)).abs().max().item()
    assert 0 < difference < 1e-2


# --------------------------------------------------------------------------- segan edit


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Tiny model folders for the command line, and a photo file with a face."""
    root = tmp_path_factory.mktemp("edit")
    model("stargan_synthfaces").save_pretrained(root / "stargan")
    model("seghgan_bisenet_synthfaces").save_pretrained(root / "seghgan")
    model("ganimation_synthfaces").save_pretrained(root / "ganimation")
    photo = textured(W, H)
    photo[FACE_AT[1] : FACE_AT[1] + 256, FACE_AT[0] : FACE_AT[0] + 256] = _faces()[0]
    Image.fromarray(photo).save(root / "face.png")
    return root


def edit(folders, out, *args):
    return cli(["edit", str(folders / "face.png"), "--out", str(out), *args])


def test_segan_edit_writes_the_edited_photo(folders, tmp_path, capsys, weights):
    out = tmp_path / "out"
    code = edit(folders, out, "--model", str(folders / "stargan"), "--expression", "happy")
    assert code == 0
    written = out / "face_happy.png"
    image = Image.open(written)
    assert image.size == (W, H) and image.mode == "RGB"
    assert not np.array_equal(np.asarray(image), np.asarray(Image.open(folders / "face.png")))
    line = capsys.readouterr().out
    assert f"-> {written}" in line and "face (" in line
    assert sorted(p.name for p in out.iterdir()) == ["face_happy.png"]  # no explanations
    code = edit(
        folders,
        out,
        "--model",
        str(folders / "stargan"),
        "--expression",
        "happy",
        "--intensity",
        "0",
    )
    assert code == 0
    assert np.array_equal(
        np.asarray(Image.open(written)), np.asarray(Image.open(folders / "face.png"))
    )


def test_segan_edit_explain_writes_the_pictures(folders, tmp_path, capsys):
    out = tmp_path / "out"
    code = edit(
        folders,
        out,
        "--model",
        str(folders / "seghgan"),
        "--expression",
        "sad",
        "--explain",
        "--parser",
        "none",
        "--au-estimator",
        "none",
    )
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {"face_sad.png", "face_part-map.png"} <= names
    assert any(name.startswith("face_region-") for name in names)
    code = edit(
        folders,
        out,
        "--model",
        str(folders / "ganimation"),
        "--aus",
        "6=2.5,12=4",
        "--explain",
        "--parser",
        "none",
        "--au-estimator",
        "none",
    )
    assert code == 0
    assert {"face_aus.png", "face_attention-bright-edited.png", "face_colour-map.png"} <= {
        p.name for p in out.iterdir()
    }


def test_segan_edit_whole_and_box_skip_detection(folders, tmp_path, no_detection, weights):
    out = tmp_path / "out"
    base = ["--model", str(folders / "stargan"), "--expression", "sad", "--parser", "none"]
    assert edit(folders, out, *base, "--whole") == 0
    assert edit(folders, out, *base, "--box", "150,100,100,100") == 0
    assert (out / "face_sad.png").is_file()


def test_segan_edit_skips_a_file_that_is_no_picture(folders, tmp_path, capsys, weights):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    blank = tmp_path / "blank.png"
    Image.fromarray(textured(200, 160, seed=7)).save(blank)
    out = tmp_path / "out"
    args = ["edit", str(notes), str(folders / "face.png"), str(blank), "--out", str(out)]
    args += ["--model", str(folders / "stargan"), "--expression", "happy", "--parser", "none"]
    assert cli(args) == 0
    err = capsys.readouterr().err
    assert f"skipped {notes}: {notes}: not an image" in err
    assert f"skipped {blank}: no face found" in err
    assert sorted(p.name for p in out.iterdir()) == ["face_happy.png"]
    only_bad = ["edit", str(notes), "--out", str(out), "--model", str(folders / "stargan")]
    assert cli([*only_bad, "--expression", "happy", "--parser", "none"]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--expression", "happy", "--box", "1,2,3"],
            "--box must be x,y,w,h in pixels, got '1,2,3'",
        ),
        (["--expression", "happy", "--box", "a,b,c,d"], "--box must be x,y,w,h"),
        (["--aus", "12"], "--aus items are AU=number such as 12=3.5, got '12'"),
        (["--aus", "6=abc"], "--aus items are AU=number such as 12=3.5, got '6=abc'"),
        (["--aus", "12=9"], "AU12 = 9 lies outside 0..5"),
        (["--aus", "smile=3"], "AU key 'smile'"),
        (["--expression", "grumpy"], "unknown expression 'grumpy'"),
        (["--expression", "happy", "--intensity", "2"], "intensity must lie in"),
        ([], "give --expression"),
    ],
)
def test_segan_edit_bad_arguments_exit_2_with_a_message(folders, tmp_path, capsys, args, message):
    model_name = "ganimation" if any(a.startswith("--aus") for a in args) else "stargan"
    code = edit(
        folders,
        tmp_path / "out",
        "--model",
        str(folders / model_name),
        "--parser",
        "none",
        "--au-estimator",
        "none",
        *args,
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("segan edit: error:") and message in err


def test_segan_edit_unknown_models_exit_2(folders, tmp_path, capsys, weights):
    assert edit(folders, tmp_path, "--model", "bundled:nope", "--expression", "happy") == 2
    assert "no bundled model 'nope'" in capsys.readouterr().err
    missing = tmp_path / "no-such-folder"
    assert edit(folders, tmp_path, "--model", str(missing), "--expression", "happy") == 2
    assert "no such model folder" in capsys.readouterr().err
