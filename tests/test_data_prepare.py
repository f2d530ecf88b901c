"""`segan prepare` and prepared folders: the same items as the loader, skipped files listed, no
half-written cache, and training straight from a prepared folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import TINY

from segan.cli import main as cli
from segan.data.affectnet import AffectNet
from segan.data.cache import CACHE_FORMAT, PreparedFaces, is_prepared, prepare
from segan.data.openface import OpenFaceAUs
from segan.data.records import DataError
from segan.labels import EXPRESSION_INDEX
from segan.synth.writers import (
    write_affectnet,
    write_kdef,
    write_openface_for_manifest,
    write_openface_videos,
    write_rafd,
)
from segan.train.config import ConfigError, load_config
from segan.train.data import PreparedSource, check_data
from segan.train.methods import make_task
from segan.train.trainer import Trainer

RES = 32


@pytest.fixture(scope="module")
def affectnet(tmp_path_factory) -> tuple[Path, Path, list[dict]]:
    """An AffectNet tree (24 faces + code 8-10 rows) with OpenFace CSVs; one JPEG corrupted."""
    root = tmp_path_factory.mktemp("affectnet")
    manifest = write_affectnet(root, 24, resolution=64, seed=3)
    aus = root / "openface"
    write_openface_for_manifest(aus, manifest)
    training = [m for m in manifest if m["split"] == "training" and m["code"] < 8]
    (root / training[5]["path"]).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root, aus, manifest


def test_prepared_items_equal_the_loaders_and_skips_are_listed(affectnet, tmp_path):
    root, aus, manifest = affectnet
    dataset = AffectNet(root, "training", RES, aus=OpenFaceAUs(aus))
    meta = prepare(dataset, tmp_path / "cache", options={"note": "test"})
    assert is_prepared(tmp_path / "cache") and not (tmp_path / "cache.partial").exists()
    assert meta["count"] == len(dataset) - 1
    assert len(meta["skipped"]) == 1 and "cannot decode" in meta["skipped"][0][1]
    bad = [m for m in manifest if m["split"] == "training" and m["code"] < 8][5]
    assert meta["skipped"][0][0].endswith(Path(bad["path"]).name)
    names = {8: "none", 9: "uncertain", 10: "no-face"}
    extra = [m["code"] for m in manifest if m["split"] == "training" and m["code"] >= 8]
    assert meta["dropped"] == {f"code {c} ({names[c]})": extra.count(c) for c in set(extra)}
    assert meta["keys"] == ["image", "expression", "aus", "landmarks", "valence", "arousal"]

    prepared = PreparedFaces(tmp_path / "cache")
    paths = (tmp_path / "cache" / "paths.txt").read_text().split()
    by_name = {Path(m["path"]).name: m for m in manifest}
    good = [k for k in range(len(dataset)) if str(dataset.item_path(k)) in paths]
    assert len(good) == len(prepared)
    for row, k in enumerate(good):
        item, cached = dataset.load(k), prepared[row]
        assert set(cached) == set(item)
        assert torch.equal(cached["image"], item["image"])  # exactly the decoded pixels
        for key in ("expression", "aus", "landmarks", "valence"):
            assert torch.allclose(cached[key], item[key]), key
        truth = by_name[Path(paths[row]).name]
        assert int(cached["expression"]) == EXPRESSION_INDEX[truth["expression"]]
        assert np.allclose(cached["aus"].numpy(), np.round(truth["aus"], 2), atol=1e-5)


def test_batches_come_back_in_the_asked_order(affectnet, tmp_path):
    root, aus, _ = affectnet
    prepare(AffectNet(root, "validation", RES, aus=OpenFaceAUs(aus)), tmp_path / "c")
    prepared = PreparedFaces(tmp_path / "c")
    order = [len(prepared) - 1, 0, len(prepared) - 1]
    batch = prepared.batch(order)
    assert batch["image"].shape == (3, 3, RES, RES) and batch["image"].dtype == torch.float32
    for j, k in enumerate(order):
        assert torch.equal(batch["image"][j], prepared[k]["image"])
    loader = torch.utils.data.DataLoader(prepared, batch_size=2)
    first = next(iter(loader))
    assert torch.equal(first["expression"], prepared.batch([0, 1])["expression"])


def test_an_interrupted_prepare_leaves_no_cache_and_a_rerun_succeeds(affectnet, tmp_path):
    root, _, _ = affectnet
    dataset = AffectNet(root, "training", RES)
    real_load = dataset.load

    def crash(k):
        if k == 3:
            raise KeyboardInterrupt
        return real_load(k)

    dataset.load = crash
    with pytest.raises(KeyboardInterrupt):
        prepare(dataset, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not is_prepared(tmp_path / "out.partial")
    dataset.load = real_load
    assert prepare(dataset, tmp_path / "out")["count"] == len(dataset) - 1
    with pytest.raises(DataError, match="already exists"):
        prepare(dataset, tmp_path / "out")


def test_damaged_or_foreign_folders_are_named(tmp_path, affectnet):
    with pytest.raises(DataError, match=r"not a prepared dataset.*segan prepare"):
        PreparedFaces(tmp_path)
    root, _, _ = affectnet
    prepare(AffectNet(root, "validation", RES), tmp_path / "c")
    np.save(tmp_path / "c" / "expression.npy", np.zeros(1, np.int64))
    with pytest.raises(DataError, match=r"expression\.npy holds 1 rows"):
        PreparedFaces(tmp_path / "c")


def test_prepare_command(affectnet, tmp_path, capsys):
    root, aus, _ = affectnet
    out = tmp_path / "prepared"
    argv = ["prepare", "affectnet", str(root), str(out), "--resolution", str(RES)]
    assert cli([*argv, "--aus", str(aus), "--option", "scale=1.4"]) == 0
    text = capsys.readouterr().out
    assert "1 skipped: 1 cannot decode" in text and f"at {RES} px" in text
    meta = json.loads((out / "meta.json").read_text())
    assert meta["options"]["scale"] == 1.4 and "aus" in meta["keys"]
    assert cli(["prepare", "affectnet", str(tmp_path / "nowhere"), str(tmp_path / "x")]) == 2
    assert "AffectNet root folder" in capsys.readouterr().err
    assert cli([*argv, "--option", "scale"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_prepare_command_takes_a_csv_file_option(affectnet, tmp_path, capsys):
    """The example `segan prepare --help` gives: --option csv_file=FILE, with the default split."""
    root, _, manifest = affectnet
    listed = root / "Manually_Annotated_file_lists" / "validation.csv"
    own = tmp_path / "my_list.csv"
    own.write_text(listed.read_text())
    out = tmp_path / "prepared"
    argv = ["prepare", "affectnet", str(root), str(out), "--resolution", str(RES)]
    assert cli([*argv, "--option", f"csv_file={own}"]) == 0, capsys.readouterr().err
    meta = json.loads((out / "meta.json").read_text())
    validation = [m for m in manifest if m["split"] == "validation" and m["code"] < 8]
    assert meta["count"] == len(validation) and meta["options"]["csv_file"] == str(own)
    paths = (out / "paths.txt").read_text().split()
    assert sorted(Path(p).name for p in paths) == sorted(Path(m["path"]).name for m in validation)
    # a list name works too, and with a split AffectNet has no list for
    named = ["prepare", "affectnet", str(root), str(tmp_path / "named"), "--split", "test"]
    assert cli([*named, "--resolution", str(RES), "--option", "csv_file=validation"]) == 0
    assert json.loads((tmp_path / "named" / "meta.json").read_text())["count"] == len(validation)
    assert cli([*argv[:3], str(tmp_path / "twice"), "--option", "a=1", "--option", "a=2"]) == 2
    assert "given twice" in capsys.readouterr().err


def test_prepare_command_takes_an_openface_frame_pattern(tmp_path, capsys):
    faces = tmp_path / "faces"
    manifest = write_openface_videos(tmp_path / "openface", faces / "happy", 2, 3, resolution=RES)
    out = tmp_path / "prepared"
    argv = ["prepare", "folder", str(faces), str(out), "--split", "all", "--resolution", str(RES)]
    argv += ["--aus", str(tmp_path / "openface"), "--option", "crop=none"]
    assert cli(argv) == 2  # FeatureExtraction frames need names
    err = capsys.readouterr().err
    assert "frame_pattern" in err and str(tmp_path / "openface") in err and "Traceback" not in err
    pattern = "{video}/frame_{frame:05d}.jpg"
    assert cli([*argv, "--option", f"frame_pattern={pattern}"]) == 0, capsys.readouterr().err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["count"] == len(manifest) and meta["options"]["frame_pattern"] == pattern
    prepared = PreparedFaces(out)
    truth = {str(faces / "happy" / m["path"]): m for m in manifest}
    paths = (out / "paths.txt").read_text().split()
    for row, path in enumerate(paths):
        want = np.round(truth[path]["aus"], 2)
        assert np.allclose(prepared[row]["aus"].numpy(), want, atol=1e-5), path


def test_prepare_command_reports_kdef_placeholders(tmp_path, capsys):
    manifest = write_kdef(tmp_path / "kdef", 2, 32, sessions=("A", "B"), placeholders=2)
    out = tmp_path / "prepared"
    argv = ["prepare", "kdef", str(tmp_path / "kdef"), str(out), "--split", "all"]
    assert cli([*argv, "--resolution", str(RES)]) == 0
    assert "2 blank placeholder" in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert meta["dropped"]["blank placeholder"] == 2 and meta["count"] == len(manifest) - 2
    blank = {Path(m["path"]).name for m in manifest if m["blank"]}
    assert not blank & {Path(p).name for p in (out / "paths.txt").read_text().split()}


def test_prepare_with_worker_processes_writes_the_same_arrays(tmp_path):
    write_rafd(tmp_path / "rafd", 3, resolution=64, gazes=("frontal",))
    from segan.data.rafd import RaFD

    dataset = RaFD(tmp_path / "rafd", "all", RES)
    prepare(dataset, tmp_path / "a")
    prepare(dataset, tmp_path / "b", workers=2)
    for key in ("image", "expression", "identity"):
        a = np.load(tmp_path / "a" / f"{key}.npy")
        assert np.array_equal(a, np.load(tmp_path / "b" / f"{key}.npy")), key


# --- training from a prepared folder -----------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(affectnet, tmp_path_factory) -> Path:
    root, aus, _ = affectnet
    out = tmp_path_factory.mktemp("prepared") / "affectnet"
    prepare(AffectNet(root, "training", RES, aus=OpenFaceAUs(aus)), out)
    return out


def _config(name: str, path: Path, out: Path, *extra: str):
    return load_config(
        name,
        [
            f"data.path={path}",
            f"data.resolution={RES}",
            "optim.batch_size=4",
            "optim.steps=2",
            "run.progress=false",
            "run.sample_every=0",
            "run.checkpoint_every=0",
            f"run.output_dir={out}",
            *extra,
        ],
    )


def test_classifier_and_regressor_train_from_a_prepared_folder(prepared, tmp_path):
    for name in ("classifier_affectnet", "regressor_affectnet"):
        trainer = Trainer(_config(name, prepared, tmp_path / name))
        terms = trainer.train_step(0)
        assert all(np.isfinite(v) for v in terms.values()), terms


def test_prepared_source_draws_every_item_once_per_pass_and_splits_ranks(prepared):
    config = load_config("classifier_affectnet", [f"data.path={prepared}"]).data
    n = len(PreparedFaces(prepared))
    ranks = [PreparedSource(config, 3, rank=r, world=2) for r in range(2)]
    steps = -(-n // 6)  # one pass: 2 ranks x 3 items per step
    seen = [int(i) for s in range(steps) for src in ranks for i in src.indices(s)]
    assert sorted(seen[:n]) == list(range(n))  # a permutation, rank slots interleaved
    again = PreparedSource(config, 3, rank=1, world=2)
    assert torch.equal(again.indices(5), ranks[1].indices(5))  # a pure function of the step
    assert not torch.equal(ranks[0].indices(0), ranks[1].indices(0))


def test_balance_draws_every_expression_about_equally_often(tmp_path):
    """A prepared folder of 40 faces, 30 neutral, 6 happy and 4 sad."""
    labels = np.array([0] * 30 + [1] * 6 + [2] * 4)
    np.random.default_rng(0).shuffle(labels)
    folder = tmp_path / "skewed"
    folder.mkdir()
    np.save(folder / "image.npy", np.zeros((40, 8, 8, 3), np.uint8))
    np.save(folder / "expression.npy", labels)
    meta = {"format": CACHE_FORMAT, "dataset": "affectnet", "split": "train", "resolution": 8}
    meta |= {"count": 40, "keys": ["image", "expression"]}
    (folder / "meta.json").write_text(json.dumps(meta))
    counts = np.bincount(labels, minlength=8)

    def drawn(balance: float) -> np.ndarray:
        config = load_config(
            "classifier_affectnet", [f"data.path={folder}", f"data.balance={balance}"]
        ).data
        source = PreparedSource(config, 4)
        items = np.concatenate([source.indices(s).numpy() for s in range(2000)])
        return np.bincount(labels[items], minlength=8)[counts > 0] / len(items)

    plain, balanced = drawn(0.0), drawn(1.0)
    share = counts[counts > 0] / counts.sum()
    assert np.abs(plain - share).max() < 0.02  # every face once a pass: the set's own shares
    assert np.abs(balanced - 1 / len(share)).max() < 0.03  # every expression alike
    config = load_config("classifier_affectnet", [f"data.path={folder}", "data.balance=2"])
    with pytest.raises(ConfigError, match=r"data.balance must lie in 0..1, got 2"):
        PreparedSource(config.data, 4)


def test_configs_naming_prepared_data_are_checked_before_training(prepared, tmp_path, affectnet):
    root, _, _ = affectnet
    raw = _config("classifier_affectnet", root, tmp_path / "r")
    with pytest.raises(ConfigError, match=r"not a prepared affectnet folder.*segan prepare"):
        check_data(raw.data, make_task(raw))
    generic = _config("classifier_affectnet", root, tmp_path / "r", "data.dataset=folder")
    with pytest.raises(ConfigError, match=r"is not a prepared folder; run `segan prepare folder"):
        check_data(generic.data, make_task(generic))
    other = _config("classifier_affectnet", prepared, tmp_path / "r", "data.resolution=64")
    with pytest.raises(ConfigError, match="prepared at 32 px"):
        check_data(other.data, make_task(other))
    no_aus = tmp_path / "no_aus"
    prepare(AffectNet(root, "validation", RES), no_aus)
    ganimation = _config("ganimation_affectnet", no_aus, tmp_path / "g")
    with pytest.raises(ConfigError, match=r"trains on \['aus'\].*--aus"):
        Trainer(ganimation)
    assert not (tmp_path / "g").exists()


def test_a_configured_loss_the_data_cannot_feed_stops_before_training(prepared, tmp_path):
    """seghgan's parser loss (loss.seg) needs masks; AffectNet has none."""
    out = tmp_path / "s"
    tiny = [*TINY["seghgan_unet_synthfaces"], "data.parser_dataset=null"]
    config = _config("seghgan_unet_affectnet", prepared, out, *tiny)
    with pytest.raises(ConfigError, match=r"loss.seg=1: needs each item's 'mask'.*lacks"):
        Trainer(config)
    assert not out.exists()
    Trainer(_config("seghgan_unet_affectnet", prepared, out, *tiny, "loss.seg=0"))


def test_landmarks_estimated_where_the_data_has_none_train_boxhgan(tmp_path, capsys):
    """RaFD ships no landmarks: `--option landmarks=mesh` fits 68 points from the Face
    Landmarker's mesh (close to the rendered faces' true ones), a picture without a face is
    skipped and named, and boxhgan_rafd trains on the prepared folder."""
    from PIL import Image

    from segan.data.catalog import open_dataset
    from segan.photos.images import read_photo

    root = tmp_path / "rafd"
    manifest = write_rafd(root, 2, resolution=256, gazes=("frontal",))
    blank = root / manifest[0]["path"].replace("_01_", "_99_")
    Image.new("RGB", (256, 385), (200, 200, 200)).save(blank)
    dataset = open_dataset("rafd", root, "all", 64, landmarks="mesh")
    assert "landmarks" in dataset.keys
    truth = {Path(m["path"]).name: np.asarray(m["landmarks"]) for m in manifest}
    errors = []
    for k, record in enumerate(dataset.records[:4]):
        if record.path == blank:
            continue
        box = dataset.crop_box(record, read_photo(record.path))
        expected = box.to_crop(truth[record.path.name], 64)
        errors.append(np.abs(dataset.load(k)["landmarks"].numpy() - expected).mean())
    assert errors and max(errors) < 1.5, errors  # pixels of a 64 px crop

    out = tmp_path / "prepared"
    argv = ["prepare", "rafd", str(root), str(out), "--split", "all", "--resolution", str(RES)]
    assert cli([*argv, "--option", "landmarks=mesh"]) == 0, capsys.readouterr().err
    meta = json.loads((out / "meta.json").read_text())
    assert "landmarks" in meta["keys"] and meta["count"] == len(manifest)
    assert [Path(p).name for p, _ in meta["skipped"]] == [blank.name]
    assert "no face" in meta["skipped"][0][1]
    without = tmp_path / "plain"
    assert cli(["prepare", "rafd", str(root), str(without), "--split", "all", *argv[6:]]) == 0
    config = load_config(
        "boxhgan_rafd",
        [
            f"data.resolution={RES}",
            *TINY["boxhgan_synthfaces"],
            "optim.batch_size=2",
            "optim.steps=2",
            "run.progress=false",
            "run.sample_every=0",
            "run.checkpoint_every=0",
            f"run.output_dir={tmp_path / 'run'}",
        ],
    )
    plain = dataclasses.replace(config.data, path=str(without))
    with pytest.raises(ConfigError, match=r"lacks .*--option landmarks=mesh"):
        check_data(plain, make_task(config))
    config.data.path = str(out)
    Trainer(config).fit()
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
