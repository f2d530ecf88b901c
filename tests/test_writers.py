"""Dataset-layout writers: files land where the real datasets put them, with the truth written.

Checks re-derive what they can without the writers' code: names by regular expression, the
official CelebA split thresholds, masks and landmarks by rendering the same faces again.
"""

from __future__ import annotations

import csv
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segan.labels import (
    AFFECTNET_NON_EXPRESSION_CODES,
    AU_IDS,
    EXPRESSION_AUS,
    EXPRESSIONS,
    FACE_PARTS,
    KDEF_EXPRESSIONS,
    PART_INDEX,
    RAFD_EXPRESSIONS,
)
from segan.synth.dataset import render
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

CELEBA_N = 10
CELEBA_IMAGE, CELEBA_MASK = 64, 32
AFFECTNET_N, AFFECTNET_RES = 16, 32
AFFECTNET_HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
    "expression,valence,arousal"
)
RAFD_WORDS = (
    "angry",
    "contemptuous",
    "disgusted",
    "fearful",
    "happy",
    "neutral",
    "sad",
    "surprised",
)
RAFD_NAME = re.compile(
    r"^Rafd(\d{3})_(\d{2})_(Caucasian|Moroccan)_(female|male)_([a-z]+)_(frontal|left|right)\.jpg$"
)
KDEF_PATH = re.compile(
    r"^KDEF/([AB])([FM])(\d{2})/\1\2\3(AF|AN|DI|HA|NE|SA|SU)(FL|HL|S|HR|FR)\.JPG$"
)
AU_R = [f"AU{a:02d}_r" for a in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)]
AU_C = [f"AU{a:02d}_c" for a in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)]


def _render_one(entry: dict, resolution: int) -> dict[str, torch.Tensor]:
    """Render the manifest entry's identity and AUs again, independently of the writer."""
    ids = torch.tensor([entry["identity"]], dtype=torch.int64)
    return render(ids, torch.tensor([entry["aus"]], dtype=torch.float32), resolution)


def _read_rows(path: Path) -> list[dict[str, str]]:
    """An OpenFace CSV as dicts keyed by the column names without their leading space."""
    with path.open(newline="") as f:
        return list(csv.DictReader(f, skipinitialspace=True))


# --- CelebAMask-HQ ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def celeba(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("celebamask")
    return root, write_celebamask_hq(root, CELEBA_N, CELEBA_IMAGE, CELEBA_MASK, seed=3)


def test_celebamask_images_and_mapping(celeba: tuple[Path, list[dict]]) -> None:
    root, manifest = celeba
    names = sorted(p.name for p in (root / "CelebA-HQ-img").iterdir())
    assert names == sorted(f"{i}.jpg" for i in range(CELEBA_N))
    with Image.open(root / "CelebA-HQ-img/0.jpg") as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (CELEBA_IMAGE, CELEBA_IMAGE))
    lines = (root / "CelebA-HQ-to-CelebA-mapping.txt").read_text().splitlines()
    assert lines[0] == "idx         orig_idx    orig_file"
    rows = [line.split() for line in lines[1:]]
    assert [int(r[0]) for r in rows] == list(range(CELEBA_N))
    origs = [int(r[1]) for r in rows]
    assert len(set(origs)) == CELEBA_N
    assert all(r[2] == f"{int(r[1]) + 1:06d}.jpg" for r in rows)
    splits = ["train" if o < 162_771 else "val" if o < 182_638 else "test" for o in origs]
    assert all(o < 202_599 for o in origs)
    assert splits == [e["split"] for e in manifest]
    assert set(splits) == {"train", "val", "test"} and splits.count("train") >= 0.6 * CELEBA_N


def test_celebamask_masks_are_the_rendered_classes(celeba: tuple[Path, list[dict]]) -> None:
    root, manifest = celeba
    folder = root / "CelebAMask-HQ-mask-anno" / "0"
    assert [p.name for p in (root / "CelebAMask-HQ-mask-anno").iterdir()] == ["0"]
    for entry in manifest:
        i = entry["index"]
        truth = _render_one(entry, CELEBA_MASK)["mask"][0].numpy()
        present = {FACE_PARTS[c] for c in np.unique(truth) if c != 0}
        files = sorted(folder.glob(f"{i:05d}_*.png"))
        assert {p.name for p in files} == {f"{i:05d}_{part}.png" for part in present}
        fused = np.zeros_like(truth)
        for path in files:
            with Image.open(path) as im:
                assert (im.mode, im.size) == ("L", (CELEBA_MASK, CELEBA_MASK))
                binary = np.asarray(im)
            assert set(np.unique(binary)) <= {0, 255}
            assert not fused[binary == 255].any(), "part masks overlap"
            fused[binary == 255] = PART_INDEX[path.stem[6:]]
        np.testing.assert_array_equal(fused, truth)


def test_celebamask_masks_align_with_images(celeba: tuple[Path, list[dict]]) -> None:
    root, manifest = celeba
    for entry in manifest[:4]:
        big = _render_one(entry, CELEBA_IMAGE)
        with Image.open(root / entry["path"]) as im:
            picture = np.asarray(im).astype(np.int16)
        assert np.abs(picture - to_uint8(big["image"])[0]).mean() < 6
        fused = np.zeros((CELEBA_MASK, CELEBA_MASK), dtype=np.int64)
        for part, rel in entry["mask_paths"].items():
            with Image.open(root / rel) as im:
                fused[np.asarray(im) == 255] = PART_INDEX[part]
        nearest = big["mask"][0, 1::2, 1::2].numpy()
        assert (nearest == fused).mean() > 0.9


def test_celebamask_attributes(celeba: tuple[Path, list[dict]]) -> None:
    root, manifest = celeba
    lines = (root / "CelebAMask-HQ-attribute-anno.txt").read_text().splitlines()
    assert lines[0] == str(CELEBA_N)
    names = lines[1].split()
    assert len(names) == 40 and (names[0], names[-1]) == ("5_o_Clock_Shadow", "Young")
    assert [names.index(a) for a in ("Bald", "Eyeglasses", "Male", "Smiling", "Wearing_Hat")] == [
        4,
        15,
        20,
        31,
        35,
    ]
    masks = root / "CelebAMask-HQ-mask-anno" / "0"
    for entry, line in zip(manifest, lines[2:], strict=True):
        fields = line.split()
        assert fields[0] == f"{entry['index']}.jpg" and len(fields) == 41
        value = dict(zip(names, (int(v) for v in fields[1:]), strict=True))
        assert set(value.values()) <= {1, -1}
        has = {part: (masks / f"{entry['index']:05d}_{part}.png").exists() for part in FACE_PARTS}
        assert (value["Smiling"] == 1) == (entry["expression"] == "happy")
        assert (value["Eyeglasses"] == 1) == has["eye_g"]
        assert (value["Wearing_Hat"] == 1) == has["hat"]
        assert (value["Bald"] == 1) == (not has["hair"] and not has["hat"])


def test_celebamask_rgb_masks(tmp_path: Path) -> None:
    entry = write_celebamask_hq(tmp_path, 1, 32, 32, mask_mode="RGB")[0]
    with Image.open(tmp_path / entry["mask_paths"]["skin"]) as im:
        assert im.mode == "RGB"


# --- AffectNet --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def affectnet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("affectnet")
    return root, write_affectnet(root, AFFECTNET_N, AFFECTNET_RES, seed=1)


def _affectnet_rows(root: Path) -> dict[str, list[list[str]]]:
    out = {}
    for split in ("training", "validation"):
        lines = (root / f"Manually_Annotated_file_lists/{split}.csv").read_text().splitlines()
        assert lines[0] == AFFECTNET_HEADER
        out[split] = list(csv.reader(lines[1:]))
    return out


def test_affectnet_file_lists(affectnet: tuple[Path, list[dict]]) -> None:
    root, manifest = affectnet
    rows = _affectnet_rows(root)
    assert 1 <= len(rows["validation"]) <= 3 < len(rows["training"])
    every = rows["training"] + rows["validation"]
    codes = [int(r[6]) for r in every]
    assert all(codes.count(c) == AFFECTNET_N // 8 for c in range(8))
    assert {8, 9, 10} <= set(codes) <= set(range(11))
    by_path = {e["path"]: e for e in manifest}
    for row in every:
        assert len(row) == 9
        assert re.fullmatch(r"\d+/[0-9a-f]{40,}\.jpg", row[0])
        entry = by_path[f"Manually_Annotated_Images/{row[0]}"]
        code = int(row[6])
        assert code == entry["code"]
        names = {**dict(enumerate(EXPRESSIONS)), **AFFECTNET_NON_EXPRESSION_CODES}
        assert names[code] == entry["expression"]
        marks = row[5].split(";")
        assert len(marks) == 136 and all(re.fullmatch(r"-?\d+\.\d{2}", m) for m in marks)
        valence, arousal = float(row[7]), float(row[8])
        if code <= 8:
            assert -1 <= valence <= 1 and -1 <= arousal <= 1
        if code in (1, 2):  # happy is pleasant, sad unpleasant
            assert np.sign(valence) == (1 if code == 1 else -1)
        if code in (9, 10):  # Uncertain and Non-Face carry no valence/arousal
            assert valence == arousal == -2


def test_affectnet_face_box_contains_landmarks(affectnet: tuple[Path, list[dict]]) -> None:
    root, _ = affectnet
    rows = _affectnet_rows(root)
    for row in rows["training"] + rows["validation"]:
        x, y, w, h = (int(v) for v in row[1:5])
        with Image.open(root / "Manually_Annotated_Images" / row[0]) as im:
            width, height = im.size
        if int(row[6]) == 10:
            assert (x, y, w, h) == (-1, -1, -1, -1)
            continue
        points = np.array([float(v) for v in row[5].split(";")]).reshape(68, 2)
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        assert w * h < width * height
        assert (points[:, 0] >= x).all() and (points[:, 0] <= x + w).all()
        assert (points[:, 1] >= y).all() and (points[:, 1] <= y + h).all()


def test_affectnet_faces_are_pasted_renders(affectnet: tuple[Path, list[dict]]) -> None:
    root, manifest = affectnet
    for entry in [e for e in manifest if e["code"] != 10][:6]:
        out = _render_one(entry, AFFECTNET_RES)
        shift = np.array(entry["landmarks"]) - out["landmarks"][0].numpy()
        dx, dy = np.round(shift[0]).astype(int)
        assert np.abs(shift - (dx, dy)).max() < 0.01
        with Image.open(root / entry["path"]) as im:
            crop = np.asarray(im)[dy : dy + AFFECTNET_RES, dx : dx + AFFECTNET_RES]
        assert np.abs(crop.astype(np.int16) - to_uint8(out["image"])[0]).mean() < 8


def test_affectnet_without_extra_codes(tmp_path: Path) -> None:
    manifest = write_affectnet(tmp_path, 8, 32, extra_codes=False)
    rows = _affectnet_rows(tmp_path)
    assert sorted(int(r[6]) for r in rows["training"] + rows["validation"]) == list(range(8))
    assert len(manifest) == 8


def test_affectnet_header_styles(tmp_path: Path) -> None:
    headers = {"training": "hash", "validation": "none"}
    manifest = write_affectnet(tmp_path, 8, 32, extra_codes=False, header=headers)
    lists = tmp_path / "Manually_Annotated_file_lists"
    training = (lists / "training.csv").read_text().splitlines()
    validation = (lists / "validation.csv").read_text().splitlines()
    assert training[0] == "#" + AFFECTNET_HEADER
    assert len(training) - 1 == sum(e["split"] == "training" for e in manifest)
    assert len(validation) == sum(e["split"] == "validation" for e in manifest) >= 1
    assert all(re.fullmatch(r"\d+/[0-9a-f]{40,}\.jpg", line.split(",")[0]) for line in validation)
    write_affectnet(tmp_path / "none", 8, 32, extra_codes=False, header="none")
    first = (tmp_path / "none/Manually_Annotated_file_lists/training.csv").read_text()
    assert not first.startswith(("subDirectory", "#"))


def test_affectnet_repackaged_layout(tmp_path: Path) -> None:
    manifest = write_affectnet_repackaged(tmp_path, 16, 32, extra_codes=True)
    assert {e["split"] for e in manifest} == {"training", "validation"}
    numbers = [e["number"] for e in manifest]
    assert len(set(numbers)) == len(numbers) and max(numbers) >= len(numbers)  # not 0..n-1
    for entry in manifest:
        folder = {"training": "train_set", "validation": "val_set"}[entry["split"]]
        assert entry["path"] == f"{folder}/images/{entry['number']}.jpg"
        with Image.open(tmp_path / entry["path"]) as im:
            assert im.size == (32, 32) and im.format == "JPEG"
        notes = tmp_path / folder / "annotations"
        exp = np.load(notes / f"{entry['number']}_exp.npy")
        assert exp.dtype.kind == "U" and exp.shape == () and int(exp) == entry["code"]
        valence = np.load(notes / f"{entry['number']}_val.npy")
        arousal = np.load(notes / f"{entry['number']}_aro.npy")
        assert valence.dtype == arousal.dtype == np.float64
        assert float(valence) == entry["valence"] and float(arousal) == entry["arousal"]
        marks = np.load(notes / f"{entry['number']}_lnd.npy")
        assert marks.dtype == np.float64 and marks.shape == (136,)
        np.testing.assert_array_equal(marks.reshape(68, 2), entry["landmarks"])
        if entry["code"] == 10:
            assert (marks == -1).all()
        else:  # the face crop is the render: landmarks in its pixels
            out = _render_one(entry, 32)
            np.testing.assert_allclose(marks.reshape(68, 2), out["landmarks"][0].numpy(), atol=0.01)
    assert {e["code"] for e in manifest} == set(range(11))
    ints = write_affectnet_repackaged(tmp_path / "ints", 8, 32, exp_as="int")
    folder = "train_set" if ints[-1]["split"] == "training" else "val_set"
    exp = np.load(tmp_path / "ints" / folder / "annotations" / f"{ints[-1]['number']}_exp.npy")
    assert exp.dtype.kind == "i" and int(exp) == ints[-1]["code"]


# --- RaFD and KDEF ----------------------------------------------------------------------------
def test_rafd_names_parse_back(tmp_path: Path) -> None:
    manifest = write_rafd(tmp_path, 2, resolution=32, angles=(45, 90))
    parsed = {p.name: RAFD_NAME.match(p.name) for p in tmp_path.iterdir()}
    assert all(parsed.values()) and len(parsed) == 2 * 8 * 2 * 3
    keys = {(int(m[1]), int(m[2]), m[5], m[6]) for m in parsed.values()}
    assert keys == set(
        itertools.product((45, 90), (1, 2), RAFD_WORDS, ("frontal", "left", "right"))
    )
    people = {(int(m[2]), m[3], m[4]) for m in parsed.values()}
    assert len(people) == 2 and all(g == "male" for _, e, g in people if e == "Moroccan")
    identities = {}
    for entry in manifest:
        m = parsed[entry["path"]]
        assert (int(m[1]), int(m[2]), m[5], m[6]) == (
            entry["angle"],
            entry["subject"],
            entry["emotion"],
            entry["gaze"],
        )
        assert RAFD_EXPRESSIONS[m[5]] == entry["expression"]
        identities.setdefault(entry["subject"], set()).add(entry["identity"])
    assert (
        all(len(v) == 1 for v in identities.values()) and len(set.union(*identities.values())) == 2
    )
    with Image.open(tmp_path / manifest[0]["path"]) as im:
        assert im.size == (32, 48) and im.format == "JPEG"
        picture = np.asarray(im).astype(np.float64)
    # A flat studio backdrop around the face (not the render's own coloured background).
    backdrop = np.concatenate([picture[:4].reshape(-1, 3), picture[:10, :3].reshape(-1, 3)])
    assert backdrop.std(axis=0).max() < 4 and picture.std() > 20
    # The face is the frontal render, shifted down only: high in the portrait.
    shift = (
        np.array(manifest[0]["landmarks"]) - _render_one(manifest[0], 32)["landmarks"][0].numpy()
    )
    assert np.abs(shift[:, 0]).max() < 1e-4 and np.ptp(shift[:, 1]) < 1e-4 and shift[0, 1] > 0
    assert max(y for _, y in manifest[0]["landmarks"]) < 0.7 * 48


def test_kdef_paths_parse_back(tmp_path: Path) -> None:
    manifest = write_kdef(tmp_path, 3, resolution=32, angles=("S", "HR"), sessions=("A", "B"))
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.JPG"))
    matches = [KDEF_PATH.match(f) for f in files]
    assert all(matches) and len(files) == 3 * 2 * 7 * 2
    keys = {(m[1], m[2] + m[3], m[4], m[5]) for m in matches}
    expected = itertools.product("AB", ("F01", "M01", "F02"), KDEF_EXPRESSIONS, ("S", "HR"))
    assert keys == set(expected)
    assert sorted(e["path"] for e in manifest) == files
    for entry in manifest:
        m = KDEF_PATH.match(entry["path"])
        assert (m[1], m[2] + m[3], m[4], m[5]) == (
            entry["session"],
            entry["subject"],
            entry["emotion"],
            entry["angle"],
        )
        assert KDEF_EXPRESSIONS[m[4]] == entry["expression"]
    per_subject = {(e["subject"], e["identity"]) for e in manifest}
    assert len(per_subject) == 3
    with Image.open(tmp_path / files[0]) as im:
        assert im.size == (32, 43)


def test_kdef_placeholders_are_black_pictures(tmp_path: Path) -> None:
    manifest = write_kdef(tmp_path, 2, resolution=32, sessions=("A", "B"), placeholders=3)
    plain = write_kdef(tmp_path / "plain", 2, resolution=32, sessions=("A", "B"))
    assert [e["blank"] for e in plain] == [False] * len(plain)
    assert [{**e, "blank": False} for e in manifest] == plain  # only the pictures change
    blank = [e for e in manifest if e["blank"]]
    assert len(blank) == 3
    for entry in manifest:
        with Image.open(tmp_path / entry["path"]) as im:
            pixels = np.asarray(im)
            assert im.size == (32, 43)
        assert (pixels.max() <= 8) == entry["blank"]  # black after JPEG, or a face


def test_writers_are_deterministic(tmp_path: Path) -> None:
    a = write_kdef(tmp_path / "a", 1, resolution=32, emotions=("HA",))
    b = write_kdef(tmp_path / "b", 1, resolution=32, emotions=("HA",))
    c = write_kdef(tmp_path / "c", 1, resolution=32, emotions=("HA",), seed=1)
    assert a == b and a[0]["identity"] != c[0]["identity"]
    path = a[0]["path"]
    assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()


# --- OpenFace ---------------------------------------------------------------------------------
def _samples(count: int) -> list[tuple[str, list[float]]]:
    return [(f"img_{k}", (EXPRESSION_AUS[k % 8] * 3.3).tolist()) for k in range(count)]


def _check_au_row(row: dict[str, str], aus: list[float]) -> None:
    for column, value in zip(AU_R, aus, strict=True):
        assert row[column] == f"{value:.2f}"
    by_id = dict(zip(AU_IDS, aus, strict=True))
    for column in AU_C:
        present = by_id.get(int(column[2:4]), 0.0) >= 1.0
        assert row[column] == ("1.00" if present else "0.00")


def test_openface_face_landmark_img(tmp_path: Path) -> None:
    samples = _samples(6)
    manifest = write_openface(tmp_path, samples, failed_fraction=0.5, seed=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"img_{k}.csv" for k in range(6))
    assert sum(e["failed"] for e in manifest) == 3
    for (stem, aus), entry in zip(samples, manifest, strict=True):
        header = (tmp_path / f"{stem}.csv").read_text().splitlines()[0]
        assert header == ", ".join(["face", "confidence", *AU_R, *AU_C])
        assert header.split(",")[1] == " confidence" and " AU28_c" in header.split(",")
        (row,) = _read_rows(tmp_path / f"{stem}.csv")
        assert row["face"] == "0"
        if entry["failed"]:
            assert float(row["confidence"]) == 0
            assert all(float(row[c]) == 0 for c in AU_R + AU_C)
        else:
            assert 0.9 <= float(row["confidence"]) <= 1
            _check_au_row(row, aus)


def test_openface_feature_extraction(tmp_path: Path) -> None:
    samples = _samples(8)
    manifest = write_openface(tmp_path, samples, "FeatureExtraction", 0.25, name="clip")
    lines = (tmp_path / "clip.csv").read_text().splitlines()
    assert lines[0].startswith("frame, face_id, timestamp, confidence, success, AU01_r, ")
    rows = _read_rows(tmp_path / "clip.csv")
    assert [int(r["frame"]) for r in rows] == list(range(1, 9))
    failed = [r for r in rows if r["success"] == "0"]
    assert len(failed) == 2 == sum(e["failed"] for e in manifest)
    assert all(float(r["confidence"]) == 0 and float(r["AU12_r"]) == 0 for r in failed)
    for row, (_, aus) in zip(rows, samples, strict=True):
        if row["success"] == "1":
            _check_au_row(row, aus)
    with (tmp_path / "clip_frames.csv").open(newline="") as f:
        frames = list(csv.DictReader(f))
    assert [(int(r["frame"]), r["stem"]) for r in frames] == [
        (k + 1, stem) for k, (stem, _) in enumerate(samples)
    ]


def test_openface_for_manifest(affectnet: tuple[Path, list[dict]], tmp_path: Path) -> None:
    _, images = affectnet
    written = write_openface_for_manifest(tmp_path, images)
    assert {p.stem for p in tmp_path.iterdir()} == {Path(e["path"]).stem for e in images}
    for image, entry in zip(images, written, strict=True):
        (row,) = _read_rows(tmp_path / f"{Path(image['path']).stem}.csv")
        assert (float(row["confidence"]) == 0) == (image["code"] == 10) == entry["failed"]


def test_openface_videos_without_frame_list(tmp_path: Path) -> None:
    csvs, frames = tmp_path / "openface", tmp_path / "frames"
    manifest = write_openface_videos(csvs, frames, videos=2, frames=4, resolution=32)
    assert sorted(p.name for p in csvs.iterdir()) == ["video00.csv", "video01.csv"]
    files = sorted(p.relative_to(frames).as_posix() for p in frames.rglob("*.jpg"))
    want = [f"video{v:02d}/frame_{k:05d}.jpg" for v in range(2) for k in range(1, 5)]
    assert files == want == sorted(e["path"] for e in manifest)
    assert len({e["identity"] for e in manifest}) == 2
    for video in ("video00", "video01"):
        entries = [e for e in manifest if e["video"] == video]
        rows = _read_rows(csvs / f"{video}.csv")
        assert [int(r["frame"]) for r in rows] == [e["frame"] for e in entries] == [1, 2, 3, 4]
        intensities = [e["intensity"] for e in entries]
        assert intensities == sorted(intensities) and len(set(intensities)) > 1
        for row, entry in zip(rows, entries, strict=True):
            assert entry["csv"] == f"{video}.csv"
            _check_au_row(row, entry["aus"])
            out = to_uint8(_render_one(entry, 32)["image"])[0]
            with Image.open(frames / entry["path"]) as im:
                assert np.abs(np.asarray(im).astype(np.int16) - out).mean() < 8
    index = write_openface_videos(
        tmp_path / "o2", tmp_path / "f2", 1, 2, 32, frame_pattern="{video}_{index:03d}.jpg"
    )
    assert [e["path"] for e in index] == ["video00_000.jpg", "video00_001.jpg"]


# --- argument checks --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda r: write_celebamask_hq(r, 0, 32, 32), "n"),
        (lambda r: write_celebamask_hq(r, 2, 50, 32), "image_resolution"),
        (lambda r: write_celebamask_hq(r, 2, 32, 2048), "mask_resolution"),
        (lambda r: write_celebamask_hq(r, 2, 32, 32, mask_mode="P"), "mask_mode"),
        (lambda r: write_affectnet(r, -1, 32), "n"),
        (lambda r: write_affectnet(r, 4, 33), "resolution"),
        (lambda r: write_affectnet(r, 4, 32, seed=-1), "seed"),
        (lambda r: write_rafd(r, 0, 32), "subjects"),
        (lambda r: write_rafd(r, 1, 32, emotions=("joyful",)), "emotions"),
        (lambda r: write_rafd(r, 1, 32, angles=(30,)), "angles"),
        (lambda r: write_rafd(r, 1, 32, gazes=("up",)), "gazes"),
        (lambda r: write_rafd(r, 1, 36), "resolution"),
        (lambda r: write_kdef(r, 71, 32), "subjects"),
        (lambda r: write_kdef(r, ["X01"], 32), "subjects"),
        (lambda r: write_kdef(r, 1, 32, angles=("L",)), "angles"),
        (lambda r: write_kdef(r, 1, 32, emotions=("CO",)), "emotions"),
        (lambda r: write_kdef(r, 1, 32, sessions=("C",)), "sessions"),
        (lambda r: write_openface(r, _samples(2), kind="Video"), "kind"),
        (lambda r: write_openface(r, _samples(2), failed_fraction=1.5), "failed_fraction"),
        (lambda r: write_openface(r, [("a", [0.0] * 16)]), "samples"),
        (lambda r: write_openface(r, [("a", [9.0] * 17)]), "samples"),
        (lambda r: write_openface(r, []), "samples"),
        (lambda r: write_affectnet(r, 4, 32, header="bom"), "header"),
        (lambda r: write_affectnet(r, 4, 32, header={"test": "none"}), "header"),
        (lambda r: write_affectnet_repackaged(r, 4, 32, exp_as="float"), "exp_as"),
        (lambda r: write_affectnet_repackaged(r, 0, 32), "n"),
        (lambda r: write_kdef(r, 1, 32, placeholders=8), "placeholders"),
        (lambda r: write_kdef(r, 1, 32, placeholders=-1), "placeholders"),
        (lambda r: write_openface_videos(r, r, videos=0), "videos"),
        (lambda r: write_openface_videos(r, r, frames=0), "frames"),
        (lambda r: write_openface_videos(r, r, frame_pattern="{video}.jpg"), "frame_pattern"),
        (lambda r: write_openface_videos(r, r, frame_pattern="{clip}/{frame}"), "frame_pattern"),
        (lambda r: write_openface_videos(r, r, expression="bored"), "expression"),
    ],
)
def test_bad_arguments_name_the_argument(call, name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call(tmp_path)
    assert not any(tmp_path.rglob("*.*"))
