"""Every notebook runs top to bottom (tiny sizes), writing its figures and tables."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# Per-notebook overrides of the parameters cell that keep the run small.
SMALL = {
    "00_synthfaces.ipynb": {"resolution": 32, "identities": 2, "stats_faces": 64},
}


def _run(name: str, out_dir: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"{name} needs exactly one cell tagged 'parameters'"
    overrides = {**SMALL.get(name, {}), "out_dir": str(out_dir)}
    params[0].source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in overrides.items())
    NotebookClient(nb, timeout=600, kernel_name="python3").execute(cwd=str(NOTEBOOKS))
    return nb


def test_every_notebook_is_covered():
    assert {p.name for p in NOTEBOOKS.glob("*.ipynb")} == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_and_writes_its_outputs(name, tmp_path):
    nb = _run(name, tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    written = {p.name for p in tmp_path.iterdir()}
    assert {"synthfaces_contact_sheet.png", "class_frequency.csv", "class_frequency.md"} <= written
    csv = (tmp_path / "class_frequency.csv").read_text().splitlines()
    assert csv[0] == "class,pixel_share,face_share" and len(csv) == 20
    shares = [float(line.split(",")[1]) for line in csv[1:]]
    assert abs(sum(shares) - 1.0) < 1e-3
