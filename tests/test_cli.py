"""The `segan` command line."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from PIL import Image

from segan.cli import main


def test_console_script_is_declared():
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("segan") == "segan.cli:main"


def test_render_writes_a_contact_sheet(tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["render", "--n", "16", "--resolution", "32", "--out", str(out)]) == 0
    sheet = Image.open(out)
    # 8 columns; 2 identities, each a row of faces and a row of masks, plus the title strip.
    assert sheet.width == 8 * (32 + 2) + 2
    assert sheet.height == 4 * (32 + 2) + 2 + 16
    assert len(set(sheet.convert("RGB").tobytes()[i : i + 3] for i in range(0, 30000, 3))) > 100


def test_python_dash_m_runs_the_same_command(tmp_path):
    out = tmp_path / "s.png"
    cmd = [sys.executable, "-m", "segan", "render", "--n", "8", "--resolution", "32"]
    done = subprocess.run([*cmd, "--out", str(out), "--no-masks"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Image.open(out).height == (32 + 2) + 2 + 16  # one row of faces, no masks


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "--n", "10"], "multiple of 8"),
        (["render", "--n", "8", "--resolution", "50"], "resolution 50 is not supported"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["paint"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
