"""Every notebook runs top to bottom (tiny sizes), writing its figures and tables."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from tiny import HD, HG, TINY

from segan.cli import main as cli
from segan.data.cache import PreparedFaces
from segan.synth.writers import write_affectnet, write_kdef, write_openface_for_manifest, write_rafd

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# Per-notebook overrides of the parameters cell that keep the run small.
# Notebook runs: the tests' tiny widths, batch 2, and one critic step per generator step for
# the (slow) hierarchies.
SEGHGAN_TINY = [*HG, "model.local_repeat=1", *HD, "optim.batch_size=2", "optim.n_critic=1"]
EDITORS_TINY = {
    name: [*TINY[name], "optim.batch_size=2"]
    + (["optim.n_critic=1"] if name.startswith(("seghgan", "boxhgan")) else [])
    for name in (
        "stargan_synthfaces",
        "ganimation_synthfaces",
        "sargan_synthfaces",
        "finegrained_synthfaces",
        "seghgan_bisenet_synthfaces",
        "boxhgan_synthfaces",
        "classifier_synthfaces",
        "regressor_synthfaces",
    )
}
SMALL = {
    "00_synthfaces.ipynb": {"resolution": 32, "identities": 2, "stats_faces": 64},
    "01_segmentation.ipynb": {
        "resolution": 32,
        "n_test": 8,
        "train_steps": 2,
        "joint_steps": 2,
        "overrides": {
            "bisenet": [*TINY["bisenet_synthfaces"], "optim.batch_size=2"],
            "unet": [*TINY["unet_synthfaces"], "optim.batch_size=2"],
            "seghgan": SEGHGAN_TINY,
        },
    },
    "02_expression_editing.ipynb": {
        "resolution": 32,
        "n_test": 8,
        "train_steps": 2,
        "evaluator_steps": 2,
        "overrides": EDITORS_TINY,
        "fid_extractor": "segan-tiny-random",
    },
    "03_fine_grained_aus.ipynb": {
        "resolution": 32,
        "n_test": 4,
        "scales": [0.0, 1.0],
        "train_steps": 2,
        "evaluator_steps": 2,
        "overrides": EDITORS_TINY,
    },
    "04_sargan_generalisation.ipynb": {
        "resolution": 32,
        "n_test": 4,
        "train_steps": 2,
        "overrides": EDITORS_TINY,
    },
}


def _run(name: str, out_dir: Path, **params) -> nbformat.NotebookNode:
    """Run notebook `name` with SMALL's settings, then `params`, writing into `out_dir`."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{name} needs exactly one cell tagged 'parameters'"
    overrides = {
        **SMALL.get(name, {}),
        **params,
        "out_dir": str(out_dir),
        "train_dir": str(out_dir / "runs"),
    }
    cells[0].source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in overrides.items())
    NotebookClient(nb, timeout=600, kernel_name="python3").execute(cwd=str(NOTEBOOKS))
    return nb


def _errors(nb: nbformat.NotebookNode) -> list:
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_every_notebook_is_covered():
    assert {p.name for p in NOTEBOOKS.glob("*.ipynb")} == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_and_writes_its_outputs(name, tmp_path):
    nb = _run(name, tmp_path)
    assert not _errors(nb)
    CHECKS[name](tmp_path)


def _check_synthfaces(tmp_path: Path) -> None:
    written = {p.name for p in tmp_path.iterdir()}
    assert {"synthfaces_contact_sheet.png", "class_frequency.csv", "class_frequency.md"} <= written
    csv = (tmp_path / "class_frequency.csv").read_text().splitlines()
    assert csv[0] == "class,pixel_share,face_share" and len(csv) == 20
    shares = [float(line.split(",")[1]) for line in csv[1:]]
    assert abs(sum(shares) - 1.0) < 1e-3


def _check_segmentation(tmp_path: Path) -> None:
    rows = (tmp_path / "segmentation_summary.csv").read_text().splitlines()
    assert rows[0] == "parser,training,miou,mean_f1_foreground,pixel_accuracy"
    settings = {tuple(r.split(",")[:2]) for r in rows[1:]}
    assert settings == {(a, m) for a in ("bisenet", "unet") for m in ("alone", "joint")}
    for row in rows[1:]:
        values = [float(v) for v in row.split(",")[2:]]
        assert len(values) == 3 and all(0 <= v <= 100 for v in values)
    table = (tmp_path / "segmentation_table.csv").read_text().splitlines()
    assert len(table) == 20 and table[1].startswith("background,")
    assert (tmp_path / "segmentation_examples.png").stat().st_size > 1000
    # the models were trained once and are reused
    assert (tmp_path / "runs" / "bisenet-alone-32" / "model" / "model.safetensors").is_file()


def _check_editing(tmp_path: Path) -> None:
    rows = (tmp_path / "editing_table.csv").read_text().splitlines()
    assert rows[0] == "method,fid,kid_x1000,expression_accuracy,au_mae,psnr,ssim,leakage"
    methods = [r.split(",")[0] for r in rows[1:]]
    assert methods == [
        "stargan",
        "ganimation",
        "sargan",
        "finegrained",
        "seghgan_bisenet",
        "boxhgan",
    ]
    for row in rows[1:]:
        fid, _, acc, mae, _, ssim, leak = (float(v) for v in row.split(",")[1:])
        assert fid >= 0 and 0 <= acc <= 100 and 0 <= mae <= 5 and -1 <= ssim <= 1 and leak >= 0
    assert (tmp_path / "editing_grid.png").stat().st_size > 1000


def _check_fine_grained(tmp_path: Path) -> None:
    rows = (tmp_path / "per_au_edits.csv").read_text().splitlines()
    assert rows[0].startswith("au,requested,") and len(rows) == 18
    assert [int(r.split(",")[0]) for r in rows[1:]][:3] == [1, 2, 4]
    requested = [float(r.split(",")[1]) for r in rows[1:]]
    assert all(0 < v <= 4 for v in requested)  # raising each AU to 4 from below
    sweep = (tmp_path / "intensity_sweep.csv").read_text().splitlines()
    assert sweep[0] == "scale,relative_psnr,relative_au_mae,absolute_psnr,absolute_au_mae"
    assert [float(r.split(",")[0]) for r in sweep[1:]] == [0.0, 1.0]
    assert (tmp_path / "intensity_sweep.png").stat().st_size > 1000


def _check_sargan(tmp_path: Path) -> None:
    colour = (tmp_path / "sargan_colour.csv").read_text().splitlines()
    assert colour[0] == "method,colour shift,skin colour error,PSNR to true edit"
    assert [r.split(",")[0] for r in colour[1:]] == ["sargan", "stargan"]
    styles = (tmp_path / "sargan_styles.csv").read_text().splitlines()
    assert len(styles) == 1 + 2 * 2
    assert {r.split(",")[1] for r in styles[1:]} == {"seen (light)", "unseen (dark)"}
    # the style-restricted runs really trained on the chosen tones only
    config = (tmp_path / "runs" / "sargan_style-32" / "config.yaml").read_text()
    assert "skin_tones:" in config and "0.6" in config
    assert (tmp_path / "sargan_styles.png").stat().st_size > 1000


CHECKS = {
    "04_sargan_generalisation.ipynb": _check_sargan,
    "03_fine_grained_aus.ipynb": _check_fine_grained,
    "00_synthfaces.ipynb": _check_synthfaces,
    "01_segmentation.ipynb": _check_segmentation,
    "02_expression_editing.ipynb": _check_editing,
}


# --- the papers' real datasets: publisher-layout trees, prepared at 32 px ----------------------


def _csv(path: Path) -> tuple[list[str], list[list[str]]]:
    header, *rows = path.read_text().splitlines()
    return header.split(","), [r.split(",") for r in rows]


SWEEP = ("psnr", "au_mae")


def _prepare(dataset: str, root: Path, out: Path, split: str, *extra: str) -> Path:
    argv = ["prepare", dataset, str(root), str(out), "--split", split, "--resolution", "32"]
    assert cli([*argv, *extra]) == 0
    return out


def test_notebook_03_runs_on_prepared_affectnet(tmp_path):
    """Notebook 03 on AffectNet + OpenFace AUs: the paper's recipes trained briefly on the
    folder, AU scores measured, the scores that need a true edit left empty."""
    root = tmp_path / "affectnet"
    manifest = write_affectnet(root, 40, resolution=64, seed=1)
    write_openface_for_manifest(root / "openface", manifest)
    prepared = _prepare("affectnet", root, tmp_path / "val", "val", "--aus", str(root / "openface"))
    tiny = {
        f"{name}_affectnet": EDITORS_TINY[f"{name}_synthfaces"]
        for name in ("finegrained", "ganimation", "regressor")
    }
    out = tmp_path / "out"
    params = {"dataset": "affectnet", "data_path": str(prepared), "overrides": tiny}
    nb = _run("03_fine_grained_aus.ipynb", out, **params)
    assert not _errors(nb)

    faces = PreparedFaces(prepared)
    n = min(4, len(faces))
    assert n == 4  # SMALL's n_test faces
    source = faces.batch(range(n))["aus"].numpy()
    header, rows = _csv(out / "per_au_edits.csv")
    assert header[:2] == ["au", "requested"] and len(rows) == 17
    for k, row in enumerate(rows):
        # each AU raised to 4 from the faces' own OpenFace intensities
        assert float(row[1]) == pytest.approx(4.0 - source[:, k].mean(), abs=1e-3)
        reads = [float(row[header.index(c)]) for c in ("relative_read", "absolute_read")]
        assert all(np.isfinite(v) and abs(v) <= 5 for v in reads)
        assert row[header.index("relative_leakage")] == row[header.index("absolute_leakage")] == ""
    header, rows = _csv(out / "intensity_sweep.csv")
    assert header == ["scale"] + [f"{m}_{k}" for m in ("relative", "absolute") for k in SWEEP]
    assert [float(r[0]) for r in rows] == [0.0, 1.0]
    for row in rows:
        assert row[1] == row[3] == ""  # no true edit on real faces
        assert all(0 <= float(v) <= 5 for v in (row[2], row[4]))
    assert (out / "intensity_sweep.png").stat().st_size > 1000
    assert "affectnet, 32 px, 4 faces" in (out / "per_au_edits.md").read_text()
    for name in ("finegrained", "ganimation", "regressor"):
        config = (out / "runs" / f"{name}-affectnet-32" / "config.yaml").read_text()
        assert "dataset: affectnet" in config and str(prepared) in config, name


def test_notebook_04_runs_on_prepared_kdef_with_rafd_out_of_distribution(tmp_path):
    """Notebook 04 on KDEF (colour table) and RaFD (unseen faces): models trained briefly on
    the KDEF folder, colour shift measured, the scores that need a true edit left empty."""
    write_kdef(tmp_path / "kdef", 2, 64)
    write_rafd(tmp_path / "rafd", 1, 64, gazes=("frontal",))
    kdef = _prepare("kdef", tmp_path / "kdef", tmp_path / "kdef_all", "all")
    rafd = _prepare("rafd", tmp_path / "rafd", tmp_path / "rafd_all", "all")
    # a method's KDEF recipe, or its SynthFaces recipe with data.dataset=kdef where none ships
    tiny = {
        f"{m}_{d}": EDITORS_TINY[f"{m}_synthfaces"]
        for m in ("sargan", "stargan")
        for d in ("kdef", "synthfaces")
    }
    out = tmp_path / "out"
    params = {"dataset": "kdef", "data_path": str(kdef), "overrides": tiny}
    params |= {"ood_dataset": "rafd", "ood_path": str(rafd)}
    nb = _run("04_sargan_generalisation.ipynb", out, **params)
    assert not _errors(nb)

    keys = ["colour shift", "skin colour error", "PSNR to true edit"]
    header, rows = _csv(out / "sargan_colour.csv")
    assert header == ["method", *keys]
    assert [r[0] for r in rows] == ["sargan", "stargan"]
    for row in rows:
        assert 0 < float(row[1]) < 255 and row[2] == row[3] == ""
    header, rows = _csv(out / "sargan_styles.csv")
    assert header == ["method", "style", *keys]
    assert [r[:2] for r in rows] == [
        [m, s] for m in ("sargan", "stargan") for s in ("seen (kdef)", "unseen (rafd)")
    ]
    for row in rows:
        assert 0 < float(row[2]) < 255 and row[3] == row[4] == ""
    # the seen rows are the colour table's faces, edited by the same models
    seen = {r[0]: r[2] for r in rows if r[1] == "seen (kdef)"}
    assert seen == {r[0]: r[1] for r in _csv(out / "sargan_colour.csv")[1]}
    assert (out / "sargan_styles.png").stat().st_size > 1000
    for key in ("sargan", "stargan"):
        config = (out / "runs" / f"{key}-kdef-32" / "config.yaml").read_text()
        assert "dataset: kdef" in config and str(kdef) in config, key
