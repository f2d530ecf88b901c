"""Real-dataset loaders read the publishers' layouts, checked against the writers' manifests.

The writers in `segan.synth.writers` lay SynthFaces faces out exactly as CelebAMask-HQ, AffectNet,
RaFD, KDEF and OpenFace publish them and return what they wrote (the truth). Every check here
compares a loader's output with that truth, or with a value re-derived independently (a fresh
SynthFaces render, hand-written label tables, the crop geometry from first principles), never
with the loader's own code. Fixtures are tiny (32-64 px) and built once per module.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from segan.data.affectnet import AFFECTNET_COLUMNS, AffectNet
from segan.data.catalog import open_dataset
from segan.data.celebamask_hq import CelebAMaskHQ
from segan.data.folder import ImageFolderExpressions
from segan.data.kdef import KDEF
from segan.data.openface import OpenFaceAUs
from segan.data.rafd import RaFD
from segan.data.records import DataError
from segan.labels import EXPRESSION_INDEX, EXPRESSIONS, PART_INDEX
from segan.synth.dataset import SynthFaces, render
from segan.synth.writers import (
    write_affectnet,
    write_affectnet_repackaged,
    write_celebamask_hq,
    write_kdef,
    write_openface,
    write_openface_for_manifest,
    write_openface_videos,
    write_rafd,
)
from segan.visualize import to_uint8

CELEBA_N, CELEBA_IMAGE, CELEBA_MASK = 10, 64, 32
AFFECTNET_N, AFFECTNET_RES = 40, 32
RAFD_SUBJECTS, KDEF_SUBJECTS, PORTRAIT_RES = 20, 16, 32
RES = 32  # the items' resolution in most checks

# Hand-written label tables (the publishers' words -> segan expression names).
RAFD_WORDS = {
    "angry": "anger",
    "contemptuous": "contempt",
    "disgusted": "disgust",
    "fearful": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprised": "surprise",
}
KDEF_CODES = {
    "AF": "fear",
    "AN": "anger",
    "DI": "disgust",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
# What a SynthFaces item looks like at resolution R: key -> (dtype, shape).
SYNTH_SPEC = {
    "image": (torch.float32, (3, RES, RES)),
    "expression": (torch.int64, ()),
    "aus": (torch.float32, (17,)),
    "identity": (torch.int64, ()),
    "landmarks": (torch.float32, (68, 2)),
    "mask": (torch.int64, (RES, RES)),
}


@pytest.fixture(autouse=True)
def _quiet_skips(caplog: pytest.LogCaptureFixture) -> None:
    """Loaders log a warning per skipped file; keep the test output short."""
    caplog.set_level(logging.ERROR, logger="segan.data.records")


# --- helpers ----------------------------------------------------------------------------------
def _rel(path: Path, root: Path) -> str:
    return Path(path).relative_to(root).as_posix()


def _by_path(manifest: list[dict]) -> dict[str, dict]:
    return {entry["path"]: entry for entry in manifest}


def _truth(entry: dict, resolution: int) -> dict[str, torch.Tensor]:
    """A fresh SynthFaces render of a manifest entry's identity and AUs."""
    ids = torch.tensor([entry["identity"]], dtype=torch.int64)
    aus = torch.tensor([entry["aus"]], dtype=torch.float32)
    return {k: v[0] for k, v in render(ids, aus, resolution).items()}


def _items(dataset) -> list[dict[str, torch.Tensor]]:
    return [dataset[i] for i in range(len(dataset))]


def _skipped(dataset) -> dict[str, str]:
    """Skipped file name -> reason."""
    return {Path(path).name: reason for path, reason in dataset.skipped}


def _check_image(image: torch.Tensor, resolution: int) -> None:
    assert image.dtype == torch.float32 and image.shape == (3, resolution, resolution)
    assert image.min() >= -1.0 and image.max() <= 1.0
    assert image.std() > 0.05  # a picture, not a flat fill


def _save_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def _binary_png(path: Path, on: np.ndarray, mode: str = "L") -> None:
    """A CelebAMask-HQ style part mask: 255 where `on`, else 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(on, 255, 0).astype(np.uint8), "L").convert(mode).save(path)


def _face_pixels_close(item: torch.Tensor, entry: dict, source: int) -> float:
    """Mean |item - render| over the rendered face's non-background pixels ([-1, 1] units); the
    render is made at the `source` resolution the writer used and area-averaged to the item's."""
    resolution = item.shape[-1]
    truth = _truth(entry, resolution)
    image = _truth(entry, source)["image"]
    image = torch.nn.functional.avg_pool2d(image[None], source // resolution)[0]
    face = truth["mask"] != PART_INDEX["background"]
    return float((item - image).abs()[:, face].mean())


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def celeba(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("celebamask")
    return root, write_celebamask_hq(root, CELEBA_N, CELEBA_IMAGE, CELEBA_MASK)


@pytest.fixture(scope="module")
def celeba_rgb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("celebamask_rgb")
    return root, write_celebamask_hq(root, CELEBA_N, CELEBA_IMAGE, CELEBA_MASK, mask_mode="RGB")


@pytest.fixture(scope="module")
def affectnet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("affectnet")
    return root, write_affectnet(root, AFFECTNET_N, AFFECTNET_RES)


@pytest.fixture(scope="module")
def affectnet_aus(tmp_path_factory, affectnet) -> OpenFaceAUs:
    _, manifest = affectnet
    folder = tmp_path_factory.mktemp("affectnet_openface")
    write_openface_for_manifest(folder, manifest)
    return OpenFaceAUs(folder)


@pytest.fixture(scope="module")
def rafd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("rafd")
    manifest = write_rafd(
        root, RAFD_SUBJECTS, PORTRAIT_RES, angles=(45, 90), gazes=("frontal", "left")
    )
    (root / "Rafd090_01_Caucasian_female_happy.jpg").write_bytes(b"no gaze in the name")
    (root / "portrait.png").write_bytes(b"not a RaFD name")
    (root / "README.txt").write_text("not a picture: not counted")
    return root, manifest


@pytest.fixture(scope="module")
def rafd_aus(tmp_path_factory, rafd) -> OpenFaceAUs:
    folder = tmp_path_factory.mktemp("rafd_openface")
    write_openface_for_manifest(folder, rafd[1], kind="FeatureExtraction", name="rafd")
    return OpenFaceAUs(folder / "rafd.csv")


@pytest.fixture(scope="module")
def kdef(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("kdef")
    manifest = write_kdef(
        root, KDEF_SUBJECTS, PORTRAIT_RES, angles=("S", "HL"), sessions=("A", "B")
    )
    (root / "KDEF" / "AF01" / "AF01 copy.JPG").write_bytes(b"not a KDEF name")
    return root, manifest


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, dict]]]:
    """Pre-cropped faces sorted into expression folders; name -> (folder, manifest-like entry)."""
    root = tmp_path_factory.mktemp("folder")
    base = 2_050_000_000
    shots = {
        "happy/a.png": ("happy", {"identity": base + 1, "aus": [0.0] * 17}),
        "happy/b.photo.png": ("happy", {"identity": base + 2, "aus": [1.0] * 17}),
        "Sad/c.png": ("sad", {"identity": base + 3, "aus": [0.5] * 17}),
        "angry/d.png": ("anger", {"identity": base + 4, "aus": [2.0] * 17}),
    }
    for rel, (_, entry) in shots.items():
        _save_png(root / rel, to_uint8(_truth(entry, RES)["image"][None])[0])
    # a wider picture whose centred square is the face
    wide = {"identity": base + 5, "aus": [0.0] * 17}
    face = to_uint8(_truth(wide, RES)["image"][None])[0]
    _save_png(root / "Sad/wide.png", np.pad(face, ((0, 0), (4, 4), (0, 0)), mode="edge"))
    shots["Sad/wide.png"] = ("sad", wide)
    (root / "happy" / "notes.txt").write_text("not a picture")
    (root / "happy" / ".DS_Store").write_bytes(b"hidden: ignored")
    return root, shots


# --- CelebAMask-HQ ----------------------------------------------------------------------------
def test_celeba_split_counts_match_manifest(celeba):
    root, manifest = celeba
    want = Counter(entry["split"] for entry in manifest)
    assert min(want.values()) >= 1
    seen = {}
    for split in ("train", "val", "test"):
        dataset = CelebAMaskHQ(root, split, RES)
        assert len(dataset) == want[split]
        indices = dataset.indices()
        assert all(manifest[i]["split"] == split for i in indices)
        seen[split] = set(indices)
    assert set().union(*seen.values()) == set(range(CELEBA_N))
    assert len(CelebAMaskHQ(root, "all", RES)) == CELEBA_N


def test_celeba_mask_equals_render_at_mask_resolution(celeba):
    root, manifest = celeba
    dataset = CelebAMaskHQ(root, "all", CELEBA_MASK)
    assert dataset.keys == ("image", "mask")
    for k, item in enumerate(_items(dataset)):
        entry = manifest[dataset.indices()[k]]
        truth = _truth(entry, CELEBA_MASK)["mask"]
        assert item["mask"].dtype == torch.int64 and item["mask"].shape == truth.shape
        assert torch.equal(item["mask"], truth), f"image {entry['index']}"
        _check_image(item["image"], CELEBA_MASK)
        # the photo is the render at 64 px, shrunk by area averaging
        assert _face_pixels_close(item["image"], entry, CELEBA_IMAGE) < 0.05
    assert len(dataset.skipped) == 0


@pytest.mark.parametrize("resolution", [16, 64])
def test_celeba_mask_nearest_resize(celeba, resolution):
    """The 32 px truth, resized with nearest neighbour, is the item's mask exactly: 2x up, each
    pixel doubled; 2x down, every other pixel (the even or the odd ones: both lie half a pixel
    from the new pixel's centre). The image comes at the asked size."""
    root, manifest = celeba
    dataset = CelebAMaskHQ(root, "all", resolution)
    for k in range(0, CELEBA_N, 3):
        item = dataset[k]
        truth = _truth(manifest[dataset.indices()[k]], CELEBA_MASK)["mask"]
        if resolution < CELEBA_MASK:
            wants = [truth[::2, ::2], truth[1::2, 1::2]]
        else:
            wants = [truth.repeat_interleave(2, 0).repeat_interleave(2, 1)]
        assert item["mask"].shape == (resolution, resolution)
        assert any(torch.equal(item["mask"], want) for want in wants)
        _check_image(item["image"], resolution)


def test_celeba_rgb_masks_read_the_same(celeba, celeba_rgb):
    (root_l, _), (root_rgb, manifest_rgb) = celeba, celeba_rgb
    with Image.open(root_rgb / next(iter(manifest_rgb[0]["mask_paths"].values()))) as picture:
        assert picture.mode == "RGB"
    grey, rgb = CelebAMaskHQ(root_l, "all", RES), CelebAMaskHQ(root_rgb, "all", RES)
    assert grey.indices() == rgb.indices()
    for k in range(len(rgb)):
        assert torch.equal(grey[k]["mask"], rgb[k]["mask"])
        truth = _truth(manifest_rgb[rgb.indices()[k]], CELEBA_MASK)["mask"]
        assert torch.equal(rgb[k]["mask"], truth)


def _copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_celeba_mapping_without_header(celeba, tmp_path):
    root, manifest = celeba
    copy = _copy_tree(root, tmp_path / "celeba")
    mapping = copy / "CelebA-HQ-to-CelebA-mapping.txt"
    lines = mapping.read_text().splitlines()
    assert lines[0].split()[:2] == ["idx", "orig_idx"]
    mapping.write_text("\n".join(lines[1:]) + "\n")
    for split in ("train", "val", "test"):
        want = sorted(e["index"] for e in manifest if e["split"] == split)
        assert sorted(CelebAMaskHQ(copy, split, RES).indices()) == want


def _tiny_celeba(root: Path, origs: list[int]) -> Path:
    """Images 0.. with one skin mask each, mapped to the given 0-based CelebA indices."""
    rng = np.random.default_rng(0)
    for i in range(len(origs)):
        _save_png(root / "CelebA-HQ-img" / f"{i}.png", rng.integers(0, 256, (32, 32, 3), np.uint8))
        on = np.zeros((32, 32), bool)
        on[8:24, 8:24] = True
        _binary_png(root / "CelebAMask-HQ-mask-anno" / "0" / f"{i:05d}_skin.png", on)
    lines = ["idx orig_idx orig_file"]
    lines += [f"{i} {o} {o + 1:06d}.jpg" for i, o in enumerate(origs)]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(lines) + "\n")
    return root


def test_celeba_official_split_boundaries(tmp_path):
    """CelebAMask-HQ's g_partition.py on the mapping's orig_idx: train < 162771 <= val <
    182638 <= test (the issue's thresholds, the split behind 24,183 / 2,993 / 2,824)."""
    origs = [0, 162_770, 162_771, 182_637, 182_638, 202_598]
    root = _tiny_celeba(tmp_path / "celeba", origs)
    got = {s: CelebAMaskHQ(root, s, RES).indices() for s in ("train", "val", "test")}
    assert got == {"train": [0, 1], "val": [2, 3], "test": [4, 5]}


def test_celeba_unmapped_and_maskless_images_are_dropped(tmp_path):
    root = _tiny_celeba(tmp_path / "celeba", [1, 2, 3])
    _save_png(root / "CelebA-HQ-img" / "3.png", np.zeros((32, 32, 3), np.uint8))  # unmapped
    (root / "CelebAMask-HQ-mask-anno" / "0" / "00001_skin.png").unlink()  # no masks left
    dataset = CelebAMaskHQ(root, "train", RES)
    assert dataset.indices() == [0, 2]
    assert dataset.dropped == Counter({"not in the mapping file": 1, "no mask files": 1})
    assert "not in the mapping file" in dataset.report()


def test_celeba_overlapping_parts_later_class_wins(tmp_path):
    """Where part masks overlap the later segan class wins: hat over hair, hair over skin, nose
    over skin, eyeglasses over eye; the order the files are written in does not matter."""
    root = tmp_path / "celeba"
    _save_png(root / "CelebA-HQ-img" / "0.jpg", np.full((32, 32, 3), 90, np.uint8))
    masks = root / "CelebAMask-HQ-mask-anno" / "0"
    regions = {  # part -> (rows, cols)
        "hat": (slice(0, 6), slice(4, 28)),
        "hair": (slice(0, 12), slice(0, 32)),
        "skin": (slice(8, 28), slice(6, 26)),
        "nose": (slice(14, 22), slice(13, 19)),
        "eye_g": (slice(10, 14), slice(8, 24)),
        "l_eye": (slice(11, 13), slice(17, 21)),
    }
    want = np.zeros((32, 32), np.int64)
    for part, (rows, cols) in regions.items():  # written hat first, skin after hair, ...
        on = np.zeros((32, 32), bool)
        on[rows, cols] = True
        _binary_png(masks / f"00000_{part}.png", on, mode="RGB" if part == "nose" else "L")
        want[on] = np.maximum(want[on], PART_INDEX[part])
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("0 5 000006.jpg\n")
    mask = CelebAMaskHQ(root, "train", 32)[0]["mask"].numpy()
    np.testing.assert_array_equal(mask, want)
    assert mask[2, 10] == PART_INDEX["hat"] and mask[9, 2] == PART_INDEX["hair"]
    assert mask[9, 10] == PART_INDEX["hair"] and mask[16, 15] == PART_INDEX["nose"]
    assert mask[12, 18] == PART_INDEX["eye_g"] and mask[25, 10] == PART_INDEX["skin"]


def test_celeba_mask_of_wrong_size_is_skipped_and_counted(celeba, tmp_path):
    root, manifest = celeba
    copy = _copy_tree(root, tmp_path / "celeba")
    bad_aspect, bad_part = manifest[3], manifest[6]
    for rel in bad_aspect["mask_paths"].values():  # every part 32x16: the aspect is wrong
        Image.new("L", (32, 16), 255).save(copy / rel)
    rel = next(iter(bad_part["mask_paths"].values()))  # one part of another size
    Image.new("L", (16, 16), 255).save(copy / rel)
    dataset = CelebAMaskHQ(copy, "all", RES)
    items = _items(dataset)
    assert len(items) == CELEBA_N and all(i["mask"].shape == (RES, RES) for i in items)
    skipped = _skipped(dataset)
    assert set(skipped) == {f"{bad_aspect['index']}.jpg", f"{bad_part['index']}.jpg"}
    aspect = skipped[f"{bad_aspect['index']}.jpg"]
    assert f"{bad_aspect['index']:05d}_" in aspect and ".png" in aspect
    assert "32x16" in aspect and f"{CELEBA_IMAGE}x{CELEBA_IMAGE}" in aspect
    mixed = skipped[f"{bad_part['index']}.jpg"]
    assert f"{bad_part['index']:05d}_" in mixed and "16x16" in mixed and "32x32" in mixed
    assert "2 skipped" in dataset.report()
    _items(dataset)  # a second epoch: the same two files, not counted again
    assert len(dataset.skipped) == 2


def test_celeba_missing_folders_and_files(celeba, tmp_path):
    root, _ = celeba
    copy = _copy_tree(root, tmp_path / "celeba")
    shutil.rmtree(copy / "CelebA-HQ-img")
    with pytest.raises(DataError, match="CelebA-HQ-img"):
        CelebAMaskHQ(copy, "train", RES)
    copy = _copy_tree(root, tmp_path / "celeba2")
    (copy / "CelebA-HQ-to-CelebA-mapping.txt").unlink()
    with pytest.raises(DataError, match="mapping"):
        CelebAMaskHQ(copy, "train", RES)
    assert len(CelebAMaskHQ(copy, "all", RES)) == CELEBA_N  # no split, no mapping needed
    with pytest.raises(DataError, match="split"):
        CelebAMaskHQ(root, "validation", RES)
    with pytest.raises(DataError, match="does not exist"):
        CelebAMaskHQ(tmp_path / "nowhere", "all", RES)


# --- AffectNet --------------------------------------------------------------------------------
def _expected_landmarks(entry: dict, scale: float, resolution: int) -> tuple[np.ndarray, float]:
    """The manifest's photo landmarks in crop pixels, from first principles: a square of side
    scale * max(w, h) centred on the face box, shrunk to `resolution`. Integer pixel boxes may
    move the answer by about a photo pixel; the second value is that tolerance in crop pixels."""
    x, y, w, h = entry["face_box"]
    side = scale * max(w, h)
    corner = np.array([x + w / 2 - side / 2, y + h / 2 - side / 2])
    points = (np.array(entry["landmarks"]) - corner) * resolution / side
    return points, 1.5 * resolution / side


def test_affectnet_labels_counts_and_dropped_codes(affectnet):
    root, manifest = affectnet
    truth = _by_path(manifest)
    for csv_file, listed in (("training", "training"), ("validation", "validation")):
        rows = [e for e in manifest if e["split"] == listed]
        kept = [e for e in rows if e["code"] < 8]
        dataset = AffectNet(root, csv_file, RES)
        assert len(dataset) == len(kept)
        assert sorted(_rel(dataset.item_path(i), root) for i in range(len(dataset))) == sorted(
            e["path"] for e in kept
        )
        for code in (8, 9, 10):
            n = sum(e["code"] == code for e in rows)
            counted = sum(v for k, v in dataset.dropped.items() if k.startswith(f"code {code} "))
            assert counted == n
        assert sum(dataset.dropped.values()) == len(rows) - len(kept)
        for i, item in enumerate(_items(dataset)):
            entry = truth[_rel(dataset.item_path(i), root)]
            assert item["expression"].item() == entry["code"]
            assert entry["code"] == EXPRESSION_INDEX[entry["expression"]]
            assert item["valence"].item() == pytest.approx(entry["valence"], abs=1e-6)
            assert item["arousal"].item() == pytest.approx(entry["arousal"], abs=1e-6)
            _check_image(item["image"], RES)
    assert sum(e["code"] >= 8 for e in manifest if e["split"] == "training") >= 3
    assert "code 10" in AffectNet(root, "training", RES).report()


@pytest.mark.parametrize("scale", [1.5, 2.0])
def test_affectnet_landmarks_in_crop_pixels(affectnet, scale):
    root, manifest = affectnet
    truth = _by_path(manifest)
    dataset = AffectNet(root, "training", RES, scale=scale)
    assert "landmarks" in dataset.keys
    for i in range(0, len(dataset), 4):
        item = dataset[i]
        entry = truth[_rel(dataset.item_path(i), root)]
        want, tolerance = _expected_landmarks(entry, scale, RES)
        assert item["landmarks"].dtype == torch.float32 and item["landmarks"].shape == (68, 2)
        np.testing.assert_allclose(item["landmarks"].numpy(), want, atol=tolerance)
        # the writer's box frames the landmarks: they land inside the crop, around its middle
        centre = item["landmarks"].numpy().mean(axis=0) / RES
        assert np.all(np.abs(centre - 0.5) < 0.2)


def _rewrite_csv(source: Path, target: Path, edit) -> Path:
    lines = source.read_text().splitlines()
    target.write_text("\n".join(edit(line) for line in lines) + "\n")
    return target


def test_affectnet_csv_with_spaces_and_missing_column(affectnet, tmp_path):
    root, _ = affectnet
    listed = root / "Manually_Annotated_file_lists" / "training.csv"
    spaced = _rewrite_csv(listed, tmp_path / "spaced.csv", lambda line: line.replace(",", ", "))
    assert ", face_x, " in spaced.read_text()
    plain, padded = AffectNet(root, "training", RES), AffectNet(root, spaced, RES)
    assert [r.path for r in padded.records] == [r.path for r in plain.records]
    assert padded.dropped == plain.dropped
    for a, b in zip(_items(plain)[:5], _items(padded)[:5], strict=True):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)

    def drop_arousal(line: str) -> str:
        return line.rsplit(",", 1)[0]

    short = _rewrite_csv(listed, tmp_path / "short.csv", drop_arousal)
    with pytest.raises(DataError, match="arousal") as err:
        AffectNet(root, short, RES)
    assert "short.csv" in str(err.value)
    with pytest.raises(DataError, match="does not exist"):
        AffectNet(root, tmp_path / "missing.csv", RES)


def test_affectnet_bad_and_missing_files_are_skipped(affectnet, tmp_path):
    root, manifest = affectnet
    copy = _copy_tree(root, tmp_path / "affectnet")
    kept = [e for e in manifest if e["split"] == "training" and e["code"] < 8]
    garbage, truncated, missing = kept[1], kept[4], kept[7]
    (copy / garbage["path"]).write_bytes(b"\xff\xd8\xff garbage, not a JPEG" * 20)
    data = (copy / truncated["path"]).read_bytes()
    (copy / truncated["path"]).write_bytes(data[: len(data) // 2])
    (copy / missing["path"]).unlink()
    dataset = AffectNet(copy, "training", RES)
    assert len(dataset) == len(kept) - 1
    assert _skipped(dataset) == {Path(missing["path"]).name: "no such file"}
    items = _items(dataset)  # never raises
    assert len(items) == len(dataset)
    assert all(item["image"].shape == (3, RES, RES) for item in items)
    skipped = _skipped(dataset)
    assert set(skipped) == {Path(e["path"]).name for e in (garbage, truncated, missing)}
    assert "not an image" in skipped[Path(garbage["path"]).name]
    assert "cannot decode" in skipped[Path(truncated["path"]).name]
    assert "3 skipped" in dataset.report()
    # an item in place of a skipped one is the next readable record, with its own labels
    truth = _by_path(manifest)
    for i, record in enumerate(dataset.records):
        if record.path.name == Path(garbage["path"]).name:
            nxt = dataset.records[i + 1]
            assert dataset[i]["expression"].item() == truth[_rel(nxt.path, copy)]["code"]
    _items(dataset)
    assert len(dataset.skipped) == 3  # a second epoch does not count them again


def test_affectnet_openface_aus(affectnet, affectnet_aus, tmp_path):
    root, manifest = affectnet
    truth = _by_path(manifest)
    dataset = AffectNet(root, "training", RES, aus=affectnet_aus)
    assert "aus" in dataset.keys and "no AUs" not in dataset.dropped
    assert len(dataset) == sum(e["split"] == "training" and e["code"] < 8 for e in manifest)
    for i, item in enumerate(_items(dataset)):
        want = np.round(truth[_rel(dataset.item_path(i), root)]["aus"], 2)
        assert item["aus"].dtype == torch.float32 and item["aus"].shape == (17,)
        np.testing.assert_allclose(item["aus"].numpy(), want, atol=1e-6)
    # a picture without OpenFace output is dropped and counted
    folder = _copy_tree(affectnet_aus.source, tmp_path / "openface")
    gone = dataset.records[0].path.stem
    (folder / f"{gone}.csv").unlink()
    fewer = AffectNet(root, "training", RES, aus=OpenFaceAUs(folder))
    assert len(fewer) == len(dataset) - 1 and fewer.dropped["no AUs"] == 1


@pytest.fixture(scope="module")
def affectnet_copies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """The `affectnet` fixture's tree as copies in circulation spell it: training.csv with a
    '#subDirectory_filePath' header, validation.csv without a header row."""
    root = tmp_path_factory.mktemp("affectnet_copies")
    headers = {"training": "hash", "validation": "none"}
    return root, write_affectnet(root, AFFECTNET_N, AFFECTNET_RES, header=headers)


def _record_summary(dataset: AffectNet, root: Path) -> list[tuple]:
    """What a loader read from each row, with paths relative to the tree."""
    return [
        (
            _rel(r.path, root),
            r.expression,
            r.face,
            r.extra,
            None if r.landmarks is None else r.landmarks.tolist(),
        )
        for r in dataset.records
    ]


def test_affectnet_hash_header_and_headerless_validation(affectnet, affectnet_copies):
    plain_root, manifest = affectnet
    root, copies = affectnet_copies
    assert copies == manifest  # the same rows: only the file lists' first lines differ
    lists = root / "Manually_Annotated_file_lists"
    assert (lists / "training.csv").read_text().startswith("#subDirectory_filePath,face_x,")
    first = (lists / "validation.csv").read_text().splitlines()[0]
    assert first.split(",")[0].endswith(".jpg")  # a data row, no header
    for csv_file in ("training", "validation"):
        want, got = AffectNet(plain_root, csv_file, RES), AffectNet(root, csv_file, RES)
        assert _record_summary(got, root) == _record_summary(want, plain_root)
        assert got.dropped == want.dropped  # the first (data) row was not taken for a header
        rows = [e for e in manifest if e["split"] == csv_file]
        assert len(got) + sum(got.dropped.values()) == len(rows)
    (lists / "validation.csv").write_text("path,x,y\n" + first + "\n")
    with pytest.raises(DataError, match="missing columns") as err:
        AffectNet(root, "validation", RES)
    assert "validation.csv" in str(err.value)


def _first_expression_line(path: Path, skip: int = 2) -> int:
    """The 0-based line index of the (skip+1)-th row with an expression code 0..7."""
    lines = path.read_text().splitlines()
    found = [k for k, line in enumerate(lines[1:], 1) if int(line.split(",")[6]) < 8]
    return found[skip]


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("face_y", "", "empty where a number is expected"),
        ("valence", "n/a", "'n/a' is not a number"),
        ("arousal", "  ", "empty where a number is expected"),
        ("expression", "", "empty where a number is expected"),
        ("facial_landmarks", "1;2;" * 67 + "x;4", "'x' is not a number"),
    ],
)
def test_affectnet_bad_cell_names_file_line_and_column(affectnet, tmp_path, column, value, words):
    root, _ = affectnet
    listed = root / "Manually_Annotated_file_lists" / "training.csv"
    target = _first_expression_line(listed)
    lines = listed.read_text().splitlines()
    cells = lines[target].split(",")
    cells[AFFECTNET_COLUMNS.index(column)] = value
    lines[target] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        AffectNet(root, bad, RES)
    message = str(err.value)
    assert str(bad) in message and f"line {target + 1}," in message
    assert f"column {column}:" in message and words in message
    assert "could not convert" not in message


@pytest.fixture(scope="module")
def repackaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("affectnet_repackaged")
    return root, write_affectnet_repackaged(root, 32, RES, extra_codes=True)


def _decoded(path: Path) -> torch.Tensor:
    """A picture file as a (3, H, W) tensor in [-1, 1], decoded by PIL directly."""
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(rgb).permute(2, 0, 1) / 127.5 - 1.0


def test_affectnet_repackaged_labels_landmarks_and_pictures(repackaged):
    root, manifest = repackaged
    truth = _by_path(manifest)
    assert (root / "train_set" / "images").is_dir() and (root / "val_set" / "annotations").is_dir()
    for csv_file in ("training", "validation"):
        rows = [e for e in manifest if e["split"] == csv_file]
        kept = [e for e in rows if e["code"] < 8]
        dataset = AffectNet(root, csv_file, RES)
        assert dataset.layout == "repackaged" and dataset.keys[:3] == (
            "image",
            "expression",
            "landmarks",
        )
        assert sorted(_rel(r.path, root) for r in dataset.records) == sorted(
            e["path"] for e in kept
        )
        for code in (8, 9, 10):
            counted = sum(v for k, v in dataset.dropped.items() if k.startswith(f"code {code} "))
            assert counted == sum(e["code"] == code for e in rows)
        for i, item in enumerate(_items(dataset)):
            entry = truth[_rel(dataset.item_path(i), root)]
            assert (
                item["expression"].item() == entry["code"] == EXPRESSION_INDEX[entry["expression"]]
            )
            assert item["valence"].item() == pytest.approx(entry["valence"], abs=1e-6)
            assert item["arousal"].item() == pytest.approx(entry["arousal"], abs=1e-6)
            # the pictures are face crops at RES: the crop is the whole picture, unchanged
            assert torch.equal(item["image"], _decoded(dataset.item_path(i)))
            np.testing.assert_allclose(item["landmarks"].numpy(), entry["landmarks"], atol=1e-4)
    assert sum(e["split"] == "validation" and e["code"] < 8 for e in manifest) >= 1


def test_affectnet_repackaged_int_codes_catalog_and_missing_annotations(tmp_path):
    root = tmp_path / "affectnet"
    manifest = write_affectnet_repackaged(root, 16, RES, exp_as="int")
    train = [e for e in manifest if e["split"] == "training"]
    assert (
        np.load(root / "train_set" / "annotations" / f"{train[0]['number']}_exp.npy").dtype.kind
        == "i"
    )
    assert len(open_dataset("affectnet", root, "train", RES)) == len(train)
    assert len(open_dataset("affectnet", root, "val", RES)) == len(manifest) - len(train)
    annotations = root / "train_set" / "annotations"
    gone, broken = train[2]["number"], train[5]["number"]
    (annotations / f"{gone}_aro.npy").unlink()
    (annotations / f"{broken}_lnd.npy").write_bytes(b"not a numpy file")
    dataset = AffectNet(root, "training", RES)
    assert len(dataset) == len(train) - 2
    skipped = _skipped(dataset)
    assert set(skipped) == {f"{gone}.jpg", f"{broken}.jpg"}
    assert f"{gone}_aro.npy does not exist" in skipped[f"{gone}.jpg"]
    assert f"{broken}_lnd.npy" in skipped[f"{broken}.jpg"]
    assert "2 skipped" in dataset.report()
    with pytest.raises(DataError, match="'training' or 'validation'"):
        AffectNet(root, "test", RES)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"Manually_Annotated_Images.*train_set"):
        AffectNet(tmp_path / "empty", "training", RES)


# --- RaFD -------------------------------------------------------------------------------------
def test_rafd_counts_and_options(rafd):
    root, manifest = rafd
    frontal = [e for e in manifest if e["angle"] == 90]
    assert len(RaFD(root, "all", RES)) == len(frontal)
    assert len(RaFD(root, "all", RES, angles=(45, 90))) == len(manifest)
    assert len(RaFD(root, "all", RES, angles=(45,))) == len(manifest) - len(frontal)
    only = RaFD(root, "all", RES, gazes=("frontal",))
    assert len(only) == sum(e["gaze"] == "frontal" for e in frontal)
    assert all(
        "_frontal" in r.path.name and r.path.name.startswith("Rafd090") for r in only.records
    )


def test_rafd_labels_identity_and_dropped(rafd):
    root, manifest = rafd
    truth = _by_path(manifest)
    dataset = RaFD(root, "all", RES)
    assert dataset.keys == ("image", "expression", "identity")
    assert dataset.dropped == Counter({"not a RaFD name": 2})
    seen = set()
    for i, item in enumerate(_items(dataset)):
        entry = truth[_rel(dataset.item_path(i), root)]
        assert item["expression"].item() == EXPRESSIONS.index(RAFD_WORDS[entry["emotion"]])
        assert RAFD_WORDS[entry["emotion"]] == entry["expression"]
        assert item["identity"].item() == entry["subject"]
        _check_image(item["image"], RES)
        seen.add(entry["emotion"])
    assert seen == set(RAFD_WORDS)


def test_rafd_fixed_crop_is_the_face(rafd):
    """RaFD's fixed crop (full width, 12% of it from the top) is where the writer put the
    face: the crop shows the render's face pixels."""
    root, manifest = rafd
    truth = _by_path(manifest)
    dataset = RaFD(root, "all", RES, gazes=("frontal",))
    for i in range(0, len(dataset), 7):
        entry = truth[_rel(dataset.item_path(i), root)]
        assert _face_pixels_close(dataset[i]["image"], entry, RES) < 0.1


def test_rafd_subject_disjoint_splits(rafd):
    root, manifest = rafd
    subjects = {}
    for split in ("train", "val", "test"):
        dataset = RaFD(root, split, RES)
        subjects[split] = {r.identity for r in dataset.records}
        assert subjects[split], split
        # every frontal picture of a subject in this split is in it
        for subject in subjects[split]:
            n = sum(e["subject"] == subject and e["angle"] == 90 for e in manifest)
            assert sum(r.identity == subject for r in dataset.records) == n
    assert not subjects["train"] & subjects["val"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"]
    assert set().union(*subjects.values()) == set(range(1, RAFD_SUBJECTS + 1))
    other = {r.identity for r in RaFD(root, "train", RES, seed=1).records}
    assert other != subjects["train"]  # the seed picks another subject split


def test_rafd_bad_names_and_options(tmp_path):
    root = tmp_path / "rafd"
    (entry,) = write_rafd(root, 1, RES, emotions=("happy",), gazes=("frontal",))
    with pytest.raises(DataError, match="crop"):
        RaFD(root, "all", RES, crop="face")
    with pytest.raises(DataError, match="split"):
        RaFD(root, "everything", RES)
    shutil.copy(root / entry["path"], root / "Rafd090_02_Caucasian_male_bored_frontal.jpg")
    with pytest.raises(DataError, match="bored"):
        RaFD(root, "all", RES)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty"):
        RaFD(empty, "all", RES)


def test_rafd_detect_crop_finds_faces_or_skips(tmp_path):
    root = tmp_path / "rafd"
    manifest = write_rafd(root, 2, 64, emotions=("happy", "neutral", "angry"), gazes=("frontal",))
    flat = "Rafd090_09_Caucasian_male_neutral_frontal.jpg"
    Image.new("RGB", (64, 96), (236, 236, 232)).save(root / flat)
    dataset = RaFD(root, "all", 48, crop="detect")
    assert len(dataset) == len(manifest) + 1
    items = _items(dataset)
    assert all(item["image"].shape == (3, 48, 48) for item in items)
    skipped = _skipped(dataset)
    assert flat in skipped
    assert all(reason.startswith("no face") for reason in skipped.values())
    assert len(skipped) <= 1 + len(manifest) // 2  # most rendered faces are found
    detected = {dataset.item_path(i).name for i in range(len(dataset))} - set(skipped)
    fixed = RaFD(root, "all", 48)
    for i in range(len(fixed)):
        if fixed.item_path(i).name in detected:  # both crops frame the same face
            j = [r.path.name for r in dataset.records].index(fixed.item_path(i).name)
            a, b = dataset[j]["image"], fixed[i]["image"]
            assert torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1] > 0.5


# --- KDEF -------------------------------------------------------------------------------------
def test_kdef_labels_identity_and_views(kdef):
    root, manifest = kdef
    truth = _by_path(manifest)
    straight = [e for e in manifest if e["angle"] == "S"]
    dataset = KDEF(root, "all", RES)
    assert len(dataset) == len(straight)
    assert len(KDEF(root / "KDEF", "all", RES)) == len(straight)  # the KDEF folder itself
    assert len(KDEF(root, "all", RES, sessions=("B",))) == len(straight) // 2
    assert len(KDEF(root, "all", RES, angles=("S", "HL"))) == len(manifest)
    assert dataset.dropped == Counter({"not a KDEF name": 1})
    identity_of: dict[str, int] = {}
    sessions = set()
    for i, item in enumerate(_items(dataset)):
        rel = _rel(dataset.item_path(i), root)
        entry = truth[rel]
        code = Path(rel).stem[4:6]
        assert item["expression"].item() == EXPRESSIONS.index(KDEF_CODES[code])
        assert KDEF_CODES[code] == entry["expression"]
        assert (
            identity_of.setdefault(entry["subject"], item["identity"].item())
            == item["identity"].item()
        )  # one identity per subject across both sessions
        sessions.add(entry["session"])
        _check_image(item["image"], RES)
        if i % 9 == 0:  # the fixed crop (full width, 10% from the top) is the face
            assert _face_pixels_close(item["image"], entry, RES) < 0.1
    assert sessions == {"A", "B"}
    assert len(set(identity_of.values())) == KDEF_SUBJECTS
    assert identity_of["F01"] != identity_of["M01"]
    labels = {r.expression for r in dataset.records}
    assert labels == {EXPRESSIONS.index(name) for name in KDEF_CODES.values()}
    assert EXPRESSION_INDEX["contempt"] not in labels


def test_kdef_subject_disjoint_splits(kdef):
    root, _ = kdef
    subjects = {}
    for split in ("train", "val", "test"):
        dataset = KDEF(root, split, RES)
        subjects[split] = {r.identity for r in dataset.records}
        assert subjects[split], split
    assert not subjects["train"] & subjects["val"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"]
    assert sum(len(KDEF(root, s, RES)) for s in ("train", "val", "test")) == len(
        KDEF(root, "all", RES)
    )
    everyone = {r.identity for r in KDEF(root, "all", RES).records}
    assert set().union(*subjects.values()) == everyone and len(everyone) == KDEF_SUBJECTS


def test_kdef_blank_placeholders_are_skipped_and_counted(tmp_path, caplog):
    manifest = write_kdef(tmp_path, 2, PORTRAIT_RES, sessions=("A", "B"), placeholders=3)
    blank = {e["path"] for e in manifest if e["blank"]}
    assert len(blank) == 3
    with Image.open(tmp_path / sorted(blank)[0]) as picture:
        assert np.asarray(picture).max() <= 8  # what the release's placeholders look like
    caplog.set_level(logging.WARNING, logger="segan.data.kdef")
    dataset = KDEF(tmp_path, "all", RES)
    assert sorted(_rel(p, tmp_path) for p in dataset.blank) == sorted(blank)
    assert len(dataset) == len(manifest) - 3
    assert not blank & {_rel(r.path, tmp_path) for r in dataset.records}
    assert dataset.dropped["blank placeholder"] == 3
    assert "3 blank placeholder" in dataset.report()
    assert any("3 blank placeholder" in r.getMessage() for r in caplog.records)
    for item in _items(dataset):
        _check_image(item["image"], RES)  # every face left has content
    everything = KDEF(tmp_path, "all", RES, skip_blank=False)
    assert len(everything) == len(manifest) and everything.blank == []


# --- OpenFace ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def au_samples() -> list[tuple[str, list[float]]]:
    rng = np.random.default_rng(7)
    return [(f"img_{k:02d}", [float(v) for v in rng.uniform(0, 5, 17)]) for k in range(12)]


def _check_openface(aus: OpenFaceAUs, manifest: list[dict], samples) -> None:
    good = [e for e in manifest if not e["failed"]]
    assert 0 < len(good) < len(manifest)
    assert aus.failed == len(manifest) - len(good)
    assert sorted(aus) == sorted(e["stem"] for e in good) and len(aus) == len(good)
    original = dict(samples)
    for entry in manifest:
        if entry["failed"]:
            assert entry["stem"] not in aus and aus.get(entry["stem"]) is None
            continue
        got = aus[entry["stem"]]
        assert got.dtype == np.float32 and got.shape == (17,)
        np.testing.assert_allclose(got, np.round(original[entry["stem"]], 2), atol=1e-6)
        np.testing.assert_array_equal(aus[entry["stem"] + ".jpg"], got)  # picture names too


def test_openface_landmark_img_folder(au_samples, tmp_path):
    manifest = write_openface(tmp_path, au_samples, "FaceLandmarkImg", failed_fraction=0.25)
    _check_openface(OpenFaceAUs(tmp_path), manifest, au_samples)
    one = manifest[[e["failed"] for e in manifest].index(False)]
    single = OpenFaceAUs(tmp_path / one["path"])
    assert list(single) == [one["stem"]]


def test_openface_feature_extraction(au_samples, tmp_path):
    manifest = write_openface(
        tmp_path, au_samples, "FeatureExtraction", failed_fraction=0.25, name="clip"
    )
    _check_openface(OpenFaceAUs(tmp_path / "clip.csv"), manifest, au_samples)
    _check_openface(OpenFaceAUs(tmp_path), manifest, au_samples)  # the folder: sidecar skipped
    # without the sidecar, say how to name the frames; frames= does it
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(tmp_path / "clip.csv", lone / "clip.csv")
    with pytest.raises(DataError, match="frames=") as err:
        OpenFaceAUs(lone / "clip.csv")
    assert "clip_frames.csv" in str(err.value)
    frames = [f"{stem}.jpg" for stem, _ in au_samples]
    _check_openface(OpenFaceAUs(lone / "clip.csv", frames=frames), manifest, au_samples)
    with pytest.raises(DataError, match="frame"):
        OpenFaceAUs(lone / "clip.csv", frames=frames[:3])


def test_openface_min_confidence_and_dotted_stems(tmp_path):
    aus = [1.234] * 17
    write_openface(tmp_path, [("photo.2020", aus), ("b", aus)], "FeatureExtraction", name="s")
    mapping = OpenFaceAUs(tmp_path / "s.csv")
    assert sorted(mapping) == ["b", "photo.2020"]
    assert "photo.2020" in mapping and "photo.2020.jpg" in mapping
    np.testing.assert_allclose(mapping["photo.2020"], [1.23] * 17, atol=1e-6)
    folder = tmp_path / "img"
    write_openface(folder, [("photo.2020", aus)])
    assert "photo.2020" in OpenFaceAUs(folder)
    rows = (tmp_path / "s.csv").read_text().splitlines()[1:]
    assert max(float(row.split(",")[3]) for row in rows) < 0.995  # the confidence column
    strict = OpenFaceAUs(tmp_path / "s.csv", min_confidence=0.995)
    assert len(strict) == 0 and strict.failed == 2


def test_openface_missing_au_columns(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("frame, face_id, confidence, success\n1, 0, 0.98, 1\n")
    with pytest.raises(DataError, match="AU01_r") as err:
        OpenFaceAUs(bad)
    assert "bad.csv" in str(err.value)
    # in a folder an unreadable CSV is skipped and listed, the others are read
    write_openface(tmp_path, [("good", [2.0] * 17)])
    mapping = OpenFaceAUs(tmp_path)
    assert list(mapping) == ["good"]
    assert [Path(p).name for p, _ in mapping.skipped] == ["bad.csv"]
    with pytest.raises(DataError, match="does not exist"):
        OpenFaceAUs(tmp_path / "nothing")


def test_openface_columns_by_name_not_position(tmp_path):
    """Columns in another order, extra columns, names with and without the leading space."""
    names = [f"AU{a:02d}_r" for a in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)]
    values = {name: round(0.25 * k + 0.13, 2) for k, name in enumerate(names)}
    shuffled = list(reversed(names))
    header = [
        "face",
        " gaze_0_x",
        " confidence",
        " AU12_c",
        *[" " + n for n in shuffled],
        "pose_Rx",
    ]
    faces = [  # two faces: the more confident one is kept
        ["0", "0.1", "0.60", "1.00", *["4.9"] * 17, "0.5"],
        ["1", "0.2", "0.97", "1.00", *[f"{values[n]:.2f}" for n in shuffled], "0.4"],
    ]
    (tmp_path / "pic.csv").write_text("\n".join(", ".join(row) for row in [header, *faces]) + "\n")
    mapping = OpenFaceAUs(tmp_path)
    np.testing.assert_allclose(mapping["pic"], [values[n] for n in names], atol=1e-6)
    assert mapping.failed == 0


def test_openface_bad_cell_names_file_line_and_column(tmp_path):
    write_openface(tmp_path, [("a", [1.0] * 17), ("b", [2.0] * 17)], "FeatureExtraction", name="s")
    path = tmp_path / "s.csv"
    header, *rows = path.read_text().splitlines()
    column = [c.strip() for c in header.split(",")].index("AU12_r")
    cells = rows[1].split(",")
    cells[column] = " "
    rows[1] = ",".join(cells)
    path.write_text("\n".join([header, *rows]) + "\n")
    with pytest.raises(DataError) as err:
        OpenFaceAUs(path)
    message = str(err.value)
    assert str(path) in message and "line 3," in message and "column AU12_r:" in message
    assert "empty where a number is expected" in message


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Two videos' frames extracted as {video}/frame_{frame:05d}.jpg into an expression folder,
    and OpenFace FeatureExtraction CSVs of them (no frame list)."""
    root = tmp_path_factory.mktemp("videos")
    manifest = write_openface_videos(
        root / "openface", root / "faces" / "happy", videos=2, frames=3, resolution=RES
    )
    return root, manifest


PATTERN = "{video}/frame_{frame:05d}.jpg"


def _check_video_aus(dataset, manifest: list[dict], frames_root: Path) -> None:
    truth = {e["path"]: e for e in manifest}
    assert len(dataset) == len(manifest) and "aus" in dataset.keys
    for i, item in enumerate(_items(dataset)):
        entry = truth[_rel(dataset.item_path(i), frames_root)]
        np.testing.assert_allclose(item["aus"].numpy(), np.round(entry["aus"], 2), atol=1e-6)


def test_openface_frame_pattern_joins_each_videos_frames(videos):
    root, manifest = videos
    csvs, frames_root = root / "openface", root / "faces" / "happy"
    assert sorted(p.name for p in csvs.iterdir()) == ["video00.csv", "video01.csv"]
    names = {
        v: [Path(e["path"]).name for e in manifest if e["video"] == v]
        for v in ("video00", "video01")
    }
    assert names["video00"] == names["video01"]  # the same file names in every video
    first = [e["aus"] for e in manifest if e["frame"] == 1]
    assert first[0] != first[1]  # so a join by file name alone would mix the videos up
    aus = OpenFaceAUs(csvs, frame_pattern=PATTERN)
    assert sorted(aus) == sorted(e["path"][: -len(".jpg")] for e in manifest)
    dataset = ImageFolderExpressions(root / "faces", RES, crop="none", aus=aus)
    _check_video_aus(dataset, manifest, frames_root)
    # the same through the catalog, the way `segan prepare --option frame_pattern=` passes it
    opened = open_dataset(
        "folder", root / "faces", "all", RES, aus=csvs, crop="none", frame_pattern=PATTERN
    )
    _check_video_aus(opened, manifest, frames_root)
    # {index} counts from 0: frames extracted from 1 but named so are one off, the last unmatched
    shifted = OpenFaceAUs(csvs, frame_pattern="{video}/frame_{index:05d}.jpg")
    assert "video00/frame_00000" in shifted and "video00/frame_00003" not in shifted
    off = ImageFolderExpressions(root / "faces", RES, crop="none", aus=shifted)
    assert len(off) == len(manifest) - 2 and off.dropped["no AUs"] == 2


def test_openface_frames_without_names_say_what_is_needed(videos):
    root, _ = videos
    csvs = root / "openface"
    for source in (csvs, csvs / "video00.csv"):
        with pytest.raises(DataError) as err:
            OpenFaceAUs(source)
        message = str(err.value)
        assert f"in {csvs} says" in message and "frame_pattern=" in message
        assert "{video}" in message and "{frame" in message and "video00_frames.csv" in message
    for pattern, words in (
        ("{video}.jpg", "no {frame} or {index}"),
        ("{clip}/{frame}.jpg", "unknown fields ['clip']"),
        ("{video}/{frame:d}{", "cannot be filled"),
    ):
        with pytest.raises(DataError, match="frame_pattern") as err:
            OpenFaceAUs(csvs, frame_pattern=pattern)
        assert words in str(err.value)
    with pytest.raises(DataError, match="both give AUs"):
        OpenFaceAUs(csvs, frame_pattern="frame_{frame:05d}.jpg")  # the videos' frames collide
    with pytest.raises(DataError, match="frame_pattern is an option of the OpenFace reader"):
        open_dataset("folder", root / "faces", "all", RES, crop="none", frame_pattern=PATTERN)


# --- image folders ----------------------------------------------------------------------------
def test_folder_labels_and_undistorted_crops(folder):
    root, shots = folder
    dataset = ImageFolderExpressions(root, RES, crop="none")
    assert dataset.keys == ("image", "expression")
    assert dataset.dropped == Counter({"not an image file": 1})
    assert sorted(_rel(r.path, root) for r in dataset.records) == sorted(shots)
    for i, item in enumerate(_items(dataset)):
        name, entry = shots[_rel(dataset.item_path(i), root)]
        assert item["expression"].item() == EXPRESSIONS.index(name)
        want = _truth(entry, RES)["image"]
        assert (item["image"] - want).abs().max() <= 1 / 127.5 + 1e-6  # lossless PNG
    with pytest.raises(DataError, match="crop"):
        ImageFolderExpressions(root, RES, crop="centre")


def test_folder_unknown_or_no_folders(folder, tmp_path):
    root, _ = folder
    copy = _copy_tree(root, tmp_path / "faces")
    (copy / "smiling").mkdir()
    with pytest.raises(DataError, match="smiling") as err:
        ImageFolderExpressions(copy, RES, crop="none")
    assert "happy" in str(err.value)  # says what the names can be
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no expression folders"):
        ImageFolderExpressions(empty, RES)


def test_folder_detect_skips_pictures_without_faces(tmp_path):
    root = tmp_path / "faces"
    portraits = tmp_path / "rafd"
    manifest = write_rafd(portraits, 1, 64, emotions=("happy", "neutral"), gazes=("frontal",))
    (root / "happy").mkdir(parents=True)
    for entry in manifest:
        shutil.copy(portraits / entry["path"], root / "happy" / entry["path"])
    rng = np.random.default_rng(0)
    noise = np.clip(128 + rng.normal(0, 12, (96, 96, 3)), 0, 255).astype(np.uint8)
    _save_png(root / "happy" / "noise.png", noise)
    dataset = ImageFolderExpressions(root, RES)  # crop="detect" by default
    items = _items(dataset)
    assert all(item["image"].shape == (3, RES, RES) for item in items)
    skipped = _skipped(dataset)
    assert "noise.png" in skipped and "no face" in skipped["noise.png"]
    assert len(skipped) < len(dataset)
    only_noise = tmp_path / "noise"
    _save_png(only_noise / "sad" / "noise.png", noise)
    with pytest.raises(DataError, match="no picture could be read"):
        ImageFolderExpressions(only_noise, RES)[0]


# --- the shared item format -------------------------------------------------------------------
@pytest.fixture(scope="module")
def loaders(celeba, affectnet, affectnet_aus, rafd, rafd_aus, kdef, folder) -> dict:
    return {
        "celebamaskhq": CelebAMaskHQ(celeba[0], "all", RES),
        "affectnet": AffectNet(affectnet[0], "training", RES, aus=affectnet_aus),
        "rafd": RaFD(rafd[0], "all", RES, aus=rafd_aus),
        "kdef": KDEF(kdef[0], "all", RES),
        "folder": ImageFolderExpressions(folder[0], RES, crop="none"),
    }


def test_synthfaces_spec_is_what_synthfaces_gives():
    item = SynthFaces("test", size=4, resolution=RES)[0]
    for key, (dtype, shape) in SYNTH_SPEC.items():
        assert item[key].dtype == dtype and tuple(item[key].shape) == shape, key


@pytest.mark.parametrize("name", ["celebamaskhq", "affectnet", "rafd", "kdef", "folder"])
def test_items_match_synthfaces_and_collate(loaders, name):
    dataset = loaders[name]
    extras = {"valence", "arousal"}
    item = dataset[0]
    assert tuple(item) == dataset.keys
    assert set(item) <= set(SYNTH_SPEC) | extras and "image" in item
    for key, value in item.items():
        dtype, shape = SYNTH_SPEC.get(key, (torch.float32, ()))
        assert value.dtype == dtype and tuple(value.shape) == shape, key
    assert item["image"].min() >= -1 and item["image"].max() <= 1
    batch = next(iter(DataLoader(dataset, batch_size=4, shuffle=True)))
    assert set(batch) == set(item)
    for key, value in batch.items():
        assert tuple(value.shape) == (4, *item[key].shape) and value.dtype == item[key].dtype
    with pytest.raises(IndexError):
        dataset[len(dataset)]


def test_rafd_with_openface_aus(rafd, rafd_aus, loaders):
    root, manifest = rafd
    truth = _by_path(manifest)
    dataset = loaders["rafd"]
    for i in range(0, len(dataset), 5):
        want = np.round(truth[_rel(dataset.item_path(i), root)]["aus"], 2)
        np.testing.assert_allclose(dataset[i]["aus"].numpy(), want, atol=1e-6)


# --- the catalog ------------------------------------------------------------------------------
def test_open_dataset(affectnet, rafd, rafd_aus, celeba, folder, tmp_path):
    with pytest.raises(DataError) as err:
        open_dataset("nosuchset", tmp_path)
    for name in ("celebamaskhq", "affectnet", "rafd", "kdef", "folder", "ffhq"):
        assert name in str(err.value)
    with pytest.raises(DataError, match="train or val"):
        open_dataset("affectnet", affectnet[0], "test", RES)
    validation = open_dataset("affectnet", affectnet[0], "val", RES)
    assert len(validation) == sum(
        e["split"] == "validation" and e["code"] < 8 for e in affectnet[1]
    )
    with_aus = open_dataset("rafd", rafd[0], "all", RES, aus=str(rafd_aus.source))
    assert "aus" in with_aus.keys and len(with_aus) == len(RaFD(rafd[0], "all", RES))
    with pytest.raises(DataError, match="AUs"):
        open_dataset("celebamaskhq", celeba[0], "all", RES, aus=rafd_aus)
    with pytest.raises(DataError, match="split"):
        open_dataset("folder", folder[0], "val", RES)
    assert len(open_dataset("folder", folder[0], "all", RES, crop="none")) == len(folder[1])


# --- the package's names ----------------------------------------------------------------------
PUBLIC_NAMES = {
    "AffectNet": "segan.data.affectnet",
    "CelebAMaskHQ": "segan.data.celebamask_hq",
    "DataError": "segan.data.records",
    "FFHQ": "segan.data.ffhq",
    "FaceDataset": "segan.data.records",
    "FaceRecord": "segan.data.records",
    "ImageFolderExpressions": "segan.data.folder",
    "KDEF": "segan.data.kdef",
    "OpenFaceAUs": "segan.data.openface",
    "PreparedFaces": "segan.data.cache",
    "RaFD": "segan.data.rafd",
    "open_dataset": "segan.data.catalog",
    "prepare": "segan.data.cache",
}


def test_loaders_import_from_segan_data():
    imported: dict = {}  # what `from segan.data import AffectNet, ...` binds
    exec(f"from segan.data import {', '.join(PUBLIC_NAMES)}", imported)
    for name, module in PUBLIC_NAMES.items():
        assert imported[name] is getattr(importlib.import_module(module), name), name
    package = importlib.import_module("segan.data")
    assert sorted(package.__all__) == sorted(PUBLIC_NAMES)
    assert set(PUBLIC_NAMES) <= set(dir(package))
    with pytest.raises(ImportError, match="Loader"):
        exec("from segan.data import Loader", {})


def test_import_segan_data_stays_cheap():
    heavy = ("torch", "cv2", "numpy", "PIL", "mediapipe")
    code = f"import sys, segan.data; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
