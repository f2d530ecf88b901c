"""Real-photo machinery on SynthFaces renders and hand-made geometry: the model-file locator,
FFHQ's alignment square, crop and paste-back, the mesh's iBUG points and part masks, AUs and
the expression rule, `segan annotate` and the FFHQ reader, and the face finder."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from segan.assets import Asset, AssetUnavailableError, Carrier, locate
from segan.labels import AU_IDS, EXPRESSION_AUS, EXPRESSIONS, PART_INDEX
from segan.photos.align import Alignment, eyes_and_mouth, ffhq_alignment
from segan.photos.aus import as_blendshape_aus, aus_from_blendshapes, expression_from_aus
from segan.photos.faces import NoFaceError
from segan.photos.ibug import IBUG68_VERTICES, ibug68
from segan.photos.mesh import BLENDSHAPES
from segan.photos.parts import MESH_PARTS, UNKNOWN, mesh_part_mask
from segan.synth.dataset import SynthFaces
from segan.visualize import to_uint8


@pytest.fixture(scope="module")
def faces():
    """Eight SynthFaces test renders at 128 px: uint8 pictures, exact masks and landmarks."""
    batch = SynthFaces("test", 8, 128).batch(list(range(8)))
    return to_uint8(batch["image"]), batch["mask"].numpy(), batch["landmarks"].numpy()


@pytest.fixture(scope="module")
def landmarker():
    from segan.photos.landmarks import MeshLandmarker

    return MeshLandmarker.from_file()


# --- the model-file locator ---------------------------------------------------------------


def _asset(tmp_path, content=b"weights", **kwargs) -> tuple[Asset, object]:
    file = tmp_path / "model.bin"
    file.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    return Asset("test_model", "model.bin", digest, "a test model", "us", "MIT", **kwargs), file


def test_locate_takes_a_given_path_and_checks_its_hash(tmp_path):
    asset, file = _asset(tmp_path)
    assert locate(asset, file) == file
    wrong = tmp_path / "other.bin"
    wrong.write_bytes(b"something else")
    with pytest.raises(AssetUnavailableError, match=r"other\.bin.*SHA-256"):
        locate(asset, wrong)
    with pytest.raises(AssetUnavailableError, match=r"missing\.bin is not a file"):
        locate(asset, tmp_path / "missing.bin")


def test_locate_reads_the_environment_then_the_cache_and_says_the_fix(tmp_path, monkeypatch):
    asset, file = _asset(tmp_path, urls=("http://example.invalid/model.bin",))
    monkeypatch.setenv("SEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGAN_OFFLINE", "1")
    with pytest.raises(AssetUnavailableError) as err:
        locate(asset)
    assert "segan fetch test_model" in str(err.value) and "SEGAN_TEST_MODEL" in str(err.value)
    monkeypatch.setenv("SEGAN_TEST_MODEL", str(file))
    assert locate(asset) == file
    monkeypatch.delenv("SEGAN_TEST_MODEL")
    (tmp_path / "cache").mkdir()
    cached = tmp_path / "cache" / "model.bin"
    cached.write_bytes(b"weights")
    assert locate(asset) == cached


def test_locate_finds_a_file_inside_an_installed_package_without_importing_it(tmp_path):
    import importlib.metadata

    dist = importlib.metadata.distribution("pytest")
    member = next(f for f in dist.files if str(f).endswith("__init__.py"))
    content = dist.locate_file(member).read_bytes()
    carrier = Carrier("pytest", dist.version, str(member))
    asset = Asset(
        "carried", "x.py", hashlib.sha256(content).hexdigest(), "d", "p", "MIT", carriers=(carrier,)
    )
    assert locate(asset).read_bytes() == content


# --- FFHQ's alignment ----------------------------------------------------------------------


def _frontal_points(cx=100.0, cy=90.0, eyes=40.0, mouth=48.0) -> np.ndarray:
    """Eye centres and mouth corners of an upright face."""
    return np.array(
        [[cx - eyes / 2, cy], [cx + eyes / 2, cy], [cx - 18, cy + mouth], [cx + 18, cy + mouth]]
    )


def test_ffhq_square_follows_its_recipe_and_turns_with_the_face():
    points = _frontal_points()
    square = ffhq_alignment(points)
    # upright: axis-aligned; half-side max(2 x eye distance, 1.8 x eye-to-mouth); centre
    # eye centre + 0.1 eye-to-mouth
    half = max(2 * 40, 1.8 * 48)
    assert square.side == pytest.approx(2 * half)
    centre = np.array([100, 90 + 4.8])
    assert square.quad.mean(0) == pytest.approx(centre)
    assert square.quad[0] == pytest.approx(centre - half)
    turn = np.deg2rad(20)
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    turned = ffhq_alignment((points - centre) @ rot.T + centre)
    edge = turned.quad[3] - turned.quad[0]
    assert np.arctan2(edge[1], edge[0]) == pytest.approx(turn)
    assert turned.side == pytest.approx(square.side)
    with pytest.raises(ValueError, match="coincide"):
        ffhq_alignment(np.zeros((4, 2)))


def test_eyes_and_mouth_are_ffhqs_points_of_the_68():
    points = np.arange(136, dtype=float).reshape(68, 2)
    got = eyes_and_mouth(points)
    assert got[0] == pytest.approx(points[36:42].mean(0))
    assert got[1] == pytest.approx(points[42:48].mean(0))
    assert got[2] == pytest.approx(points[48]) and got[3] == pytest.approx(points[54])


def test_the_square_of_a_whole_picture_crops_the_picture_itself():
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), (5, 5), 2)
    whole = Alignment(np.array([[-0.5, -0.5], [-0.5, 95.5], [95.5, 95.5], [95.5, -0.5]]))
    assert np.abs(whole.crop(photo, 96).astype(int) - photo).max() <= 1
    points = rng.uniform(0, 95, (10, 2))
    assert whole.to_crop(points, 96) == pytest.approx(points)
    assert whole.to_photo(whole.to_crop(points, 48), 48) == pytest.approx(points)


def test_paste_back_of_an_unchanged_crop_leaves_every_pixel_and_a_change_stays_inside():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    square = ffhq_alignment(_frontal_points(160, 110, 30, 36))
    crop = square.crop(photo, 64)
    assert np.array_equal(square.paste(photo, crop, crop.copy()), photo)
    brighter = np.clip(crop.astype(int) + 40, 0, 255).astype(np.uint8)
    out = square.paste(photo, crop, brighter)
    changed = np.argwhere((out != photo).any(-1))
    lo, hi = square.quad.min(0), square.quad.max(0)
    assert len(changed) > 0
    assert (changed[:, 1] >= lo[0] - 1).all() and (changed[:, 1] <= hi[0] + 1).all()
    assert (changed[:, 0] >= lo[1] - 1).all() and (changed[:, 0] <= hi[1] + 1).all()
    centre = np.rint(square.quad.mean(0)).astype(int)
    assert int(out[centre[1], centre[0]].astype(int).sum()) > int(photo[centre[1], centre[0]].sum())


def test_a_square_leaving_the_photo_is_padded_into_its_median_colour():
    photo = np.zeros((100, 100, 3), np.uint8)
    photo[:, :50] = 200
    square = Alignment(
        np.array([[-100.0, -100.0], [-100.0, 200.0], [200.0, 200.0], [200.0, -100.0]])
    )
    crop = square.crop(photo, 60)
    corner = crop[:3, :3].reshape(-1, 3).astype(float)
    median = np.median(photo.reshape(-1, 3), axis=0)
    assert np.abs(corner - median).max() <= 2  # far outside: the median colour
    assert crop[30, 25].mean() > 150 and crop[30, 35].mean() < 50  # the photo itself, centred


# --- the mesh: iBUG points, part masks ------------------------------------------------------


def test_ibug_table_is_convex_combinations_of_mesh_vertices():
    assert len(IBUG68_VERTICES) == 68
    for pairs in IBUG68_VERTICES:
        weights = [w for _, w in pairs]
        assert min(weights) > 0 and sum(weights) == pytest.approx(1, abs=2e-3)
        assert all(0 <= v < 478 for v, _ in pairs)
    mesh = np.random.default_rng(0).uniform(0, 100, (478, 2))
    assert ibug68(mesh).shape == (68, 2)
    assert ibug68(mesh + 5) == pytest.approx(ibug68(mesh) + 5)
    with pytest.raises(ValueError, match="478"):
        ibug68(mesh[:100])


def test_landmarker_reads_synthfaces_eyes_and_mouth_where_the_renderer_put_them(faces, landmarker):
    pictures, _, truth = faces
    for rgb, exact in zip(pictures, truth, strict=True):
        found = landmarker.detect(np.ascontiguousarray(rgb))
        assert len(found) == 1
        ours = eyes_and_mouth(ibug68(found[0].xy))
        theirs = eyes_and_mouth(exact)
        iod = np.linalg.norm(theirs[1] - theirs[0])
        assert np.linalg.norm(ours - theirs, axis=1).max() < 0.15 * iod


def test_mesh_masks_cover_synthfaces_parts_and_leave_the_rest_unknown(faces, landmarker):
    pictures, masks, _ = faces
    inter, union = {p: 0 for p in MESH_PARTS}, {p: 0 for p in MESH_PARTS}
    for rgb, exact in zip(pictures, masks, strict=True):
        mesh = landmarker.detect(np.ascontiguousarray(rgb))[0]
        drawn = mesh_part_mask(mesh.xy, 128)
        assert set(np.unique(drawn)) <= {UNKNOWN, *(PART_INDEX[p] for p in MESH_PARTS)}
        assert (drawn[0] == UNKNOWN).all()  # the top row is hair or background: unknown
        for p in MESH_PARTS:
            a, b = drawn == PART_INDEX[p], exact == PART_INDEX[p]
            inter[p] += (a & b).sum()
            union[p] += (a | b).sum()
    iou = {p: inter[p] / union[p] for p in MESH_PARTS}
    assert iou["skin"] > 0.75 and iou["l_eye"] > 0.35 and iou["r_eye"] > 0.35
    assert iou["nose"] > 0.4


# --- AUs and the expression rule ----------------------------------------------------------


def test_blendshapes_to_aus():
    assert aus_from_blendshapes(np.zeros(52)) == pytest.approx(np.zeros(17))
    assert aus_from_blendshapes(np.ones(52)) == pytest.approx(np.full(17, 5.0))
    smile = np.zeros(52)
    smile[[BLENDSHAPES.index("mouthSmileLeft"), BLENDSHAPES.index("mouthSmileRight")]] = 0.5
    aus = aus_from_blendshapes(smile)
    assert aus[AU_IDS.index(12)] == pytest.approx(2.5)
    assert np.count_nonzero(aus) == 1
    assert aus_from_blendshapes(np.zeros((3, 4, 52))).shape == (3, 4, 17)
    with pytest.raises(ValueError, match="52"):
        aus_from_blendshapes(np.zeros(17))


def test_aus_tied_as_blendshape_labels_tie_them():
    labels = aus_from_blendshapes(np.random.default_rng(0).uniform(0, 1, (50, 52)))
    assert as_blendshape_aus(labels) == pytest.approx(labels)  # labels are already in form
    prototypes = as_blendshape_aus(EXPRESSION_AUS.numpy() * 4.0)
    for a, b in ((6, 7), (9, 10), (25, 26)):
        both = EXPRESSION_AUS.numpy()[:, [AU_IDS.index(a), AU_IDS.index(b)]].max(1) * 4.0
        assert prototypes[:, AU_IDS.index(a)] == pytest.approx(both)
        assert prototypes[:, AU_IDS.index(b)] == pytest.approx(both)
    alone = [AU_IDS.index(au) for au in AU_IDS if au not in (6, 7, 9, 10, 25, 26)]
    assert prototypes[:, alone] == pytest.approx(EXPRESSION_AUS.numpy()[:, alone] * 4.0)
    with pytest.raises(ValueError, match="17"):
        as_blendshape_aus(np.zeros(16))


def test_every_expression_prototype_reads_as_itself_and_weak_ones_as_neutral():
    strong = EXPRESSION_AUS.numpy() * 4.0
    assert [EXPRESSIONS[int(e)] for e in expression_from_aus(strong)] == list(EXPRESSIONS)
    weak = EXPRESSION_AUS.numpy() * 0.8
    assert (expression_from_aus(weak) == EXPRESSIONS.index("neutral")).all()


# --- segan annotate and the FFHQ reader ----------------------------------------------------


@pytest.fixture(scope="module")
def ffhq_folder(tmp_path_factory, faces):
    """An FFHQ-style folder: SynthFaces renders named by FFHQ id (train, val and test ids) and
    one picture with no face."""
    folder = tmp_path_factory.mktemp("ffhq")
    pictures = faces[0]
    ids = [10, 11, 12, 4100, 4501, 4502]
    for face_id, rgb in zip(ids, pictures, strict=False):
        Image.fromarray(rgb).save(folder / f"{face_id:05d}.png")
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "00013.png")
    return folder


def test_annotate_a_folder_and_read_it_back_as_ffhq(ffhq_folder, tmp_path):
    from segan.cli import main as cli
    from segan.data.cache import PreparedFaces, prepare
    from segan.data.ffhq import FFHQ
    from segan.photos.annotate import Annotations

    out = tmp_path / "labels.npz"
    assert cli(["annotate", str(ffhq_folder), str(out)]) == 0
    labels = Annotations.load(out)
    assert labels.names[:4] == ["00010.png", "00011.png", "00012.png", "00013.png"]
    assert labels.found.tolist() == [True, True, True, False, True, True, True]
    assert labels.landmarks().shape == (7, 68, 2) and np.isnan(labels.landmarks()[3]).all()
    train = FFHQ(ffhq_folder, "train", 64, annotations=out)
    assert [r.identity for r in train.records] == [10, 11, 12]
    assert train.dropped["no face found by the landmarker"] == 1
    assert [r.identity for r in FFHQ(ffhq_folder, "test", 64, annotations=out).records] == [
        4501,
        4502,
    ]
    item = train[0]
    assert set(item) == {"image", "expression", "aus", "identity", "landmarks", "mask"}
    assert item["image"].shape == (3, 64, 64) and item["mask"].shape == (64, 64)
    mask = item["mask"].numpy()
    assert (mask == UNKNOWN).any() and (mask == PART_INDEX["skin"]).any()
    assert (mask == PART_INDEX["l_eye"]).any()
    assert np.isin(mask, [PART_INDEX["u_lip"], PART_INDEX["l_lip"]]).any()
    eyes = item["landmarks"][36:48].numpy()
    assert (mask[np.rint(eyes[:, 1]).astype(int), np.rint(eyes[:, 0]).astype(int)] != UNKNOWN).all()
    plain = FFHQ(ffhq_folder, "train", 64)
    assert set(plain[0]) == {"image", "identity"} and len(plain) == 4
    prepare(train, tmp_path / "prepared")
    assert PreparedFaces(tmp_path / "prepared").batch([0, 1])["mask"].shape == (2, 64, 64)


def test_annotations_that_do_not_fit_name_the_file(ffhq_folder, tmp_path):
    from segan.data.ffhq import FFHQ
    from segan.data.records import DataError, MaskError
    from segan.photos.annotate import AnnotationError, Annotations

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(AnnotationError, match=r"bad\.npz"):
        Annotations.load(bad)
    with pytest.raises(DataError, match=r"nothere\.npz does not exist"):
        FFHQ(ffhq_folder, "train", 64, annotations=tmp_path / "nothere.npz")
    other = tmp_path / "other"
    other.mkdir()
    big = np.zeros((256, 256, 3), np.uint8)
    Image.fromarray(big).save(other / "00010.png")
    labels = Annotations(
        ["00010.png"],
        np.array([[128, 128]]),
        np.zeros((1, len(Annotations.__dataclass_fields__["vertices"].default), 2), np.float32),
        np.zeros((1, 52), np.float32),
    )
    with pytest.raises(MaskError, match="annotated at 128x128"):
        FFHQ(other, "train", 64, annotations=labels).load(0)


# --- the face finder -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finder():
    from segan.photos.finder import FaceFinder

    return FaceFinder.from_files()


def test_finder_finds_the_largest_of_several_faces_with_its_mesh(faces, finder):
    pictures = faces[0]
    canvas = np.full((400, 700, 3), 90, np.uint8)
    canvas[40:168, 40:168] = pictures[0]
    big = cv2.resize(pictures[1], (256, 256), interpolation=cv2.INTER_CUBIC)
    canvas[100:356, 400:656] = big
    found = finder.find(canvas, meshes="all")
    assert len(found) == 2
    assert found[0].size > found[1].size and found[0].box[0] > 300
    largest = finder.largest(canvas)
    assert largest.mesh is not None
    ours = eyes_and_mouth(largest.landmarks())
    truth = eyes_and_mouth(faces[2][1] * 2 + np.array([400, 100]))
    iod = np.linalg.norm(truth[1] - truth[0])
    assert np.linalg.norm(ours - truth, axis=1).max() < 0.15 * iod
    crop = largest.alignment().crop(canvas, 64)
    assert crop.shape == (64, 64, 3)


def test_finder_says_why_there_is_no_face(finder, faces):
    noise = cv2.GaussianBlur(
        np.random.default_rng(3).integers(0, 255, (300, 300, 3), dtype=np.uint8), (9, 9), 3
    )
    with pytest.raises(NoFaceError, match="no face found in the 300x300 picture"):
        finder.largest(noise)
    from segan.photos.finder import FaceFinder

    strict = FaceFinder(finder.detector, finder.landmarker, min_face=500)
    with pytest.raises(NoFaceError, match="too small to edit"):
        strict.largest(cv2.resize(faces[0][0], (256, 256)))
    with pytest.raises(ValueError, match="uint8"):
        finder.find(np.zeros((10, 10, 3), np.float32))


def test_a_profile_keeps_the_detectors_points_when_the_mesh_fails(finder, faces):
    from segan.photos.finder import Face

    face = Face(
        (0.0, 0.0, 10.0, 10.0),
        0.9,
        points5=np.array([[30.0, 40.0], [60.0, 40.0], [45.0, 55.0], [35.0, 70.0], [55.0, 70.0]]),
    )
    assert face.eyes_and_mouth() == pytest.approx(face.points5[[0, 1, 3, 4]])
    assert face.alignment().side > 0
    with pytest.raises(ValueError, match="neither a mesh nor detector points"):
        Face((0, 0, 10, 10), 1.0).eyes_and_mouth()


def test_mixed_batches_keep_both_kinds_and_repeat_exactly(tmp_path, ffhq_folder):
    from segan.cli import main as cli
    from segan.data.cache import prepare
    from segan.data.ffhq import FFHQ
    from segan.train.config import DataConfig
    from segan.train.data import MixedSource

    labels = tmp_path / "labels.npz"
    assert cli(["annotate", str(ffhq_folder), str(labels)]) == 0
    prepare(FFHQ(ffhq_folder, "train", 32, annotations=labels), tmp_path / "prep")
    config = DataConfig("ffhq", 32, path=str(tmp_path / "prep"), synthfaces_share=0.25)
    source = MixedSource(config, 8, 1, 0, 1, "cpu")
    batch = source.batch(3)
    assert set(batch) == {"image", "mask", "expression", "aus", "landmarks"}
    assert batch["image"].shape == (8, 3, 32, 32)
    real, synth = batch["mask"][:6], batch["mask"][6:]
    assert (real == UNKNOWN).any() and not (synth == UNKNOWN).any()
    assert torch.equal(source.batch(3)["image"], batch["image"])
    assert not torch.equal(source.batch(4)["image"], batch["image"])
    with pytest.raises(Exception, match="synthfaces_share"):
        MixedSource(
            DataConfig("ffhq", 32, path=config.path, synthfaces_share=0.01), 8, 1, 0, 1, "cpu"
        )


def test_an_ffhq_model_gets_the_aligned_crop_and_its_edit_goes_back_inside_the_square(
    faces, finder
):
    from tiny import tiny_model

    from segan.pipeline import EditPipeline

    editor = tiny_model("stargan_synthfaces", 32)
    editor.alignment = "ffhq"
    pipe = EditPipeline(editor, finder=finder)
    photo = np.full((300, 400, 3), 100, np.uint8)
    photo[60:252, 150:342] = cv2.resize(faces[0][2], (192, 192), interpolation=cv2.INTER_CUBIC)
    kept = pipe.edit(photo, "happy", intensity=0.0)
    assert kept.alignment is not None
    assert np.array_equal(kept.output, photo)  # an edit that changes nothing changes no pixel
    square = finder.largest(photo).alignment()
    assert kept.alignment.quad == pytest.approx(square.quad)
    assert np.array_equal(kept.crop, square.crop(photo, 32))
    edited = pipe.edit(photo, "happy", intensity=1.0)
    changed = np.argwhere((edited.output != photo).any(-1))
    lo, hi = square.quad.min(0), square.quad.max(0)
    assert (
        len(changed) and (changed[:, 1] >= lo[0] - 1).all() and (changed[:, 1] <= hi[0] + 1).all()
    )
    drawn = edited.annotated()
    assert (drawn != photo).any()
    with pytest.raises(NoFaceError):
        pipe.edit(np.full((200, 200, 3), 100, np.uint8), "happy")


def test_cli_names_a_missing_landmarker_file_and_lists_the_model_files(
    ffhq_folder, tmp_path, monkeypatch, capsys
):
    from segan.cli import main as cli

    monkeypatch.setenv("SEGAN_FACE_LANDMARKER", str(tmp_path / "nowhere.task"))
    assert cli(["annotate", str(ffhq_folder), str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert "nowhere.task is not a file" in err and "segan fetch face_landmarker" in err
    assert not (tmp_path / "out.npz").exists()
    assert cli(["fetch"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("face_landmarker", "retinaface", "fer_emotion"))
