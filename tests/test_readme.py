"""The README's commands as written.

Every command of the README's bash blocks is checked by the program it names: `segan`'s own
argument parser (and, for training, the config the command line resolves to, overrides and
all), the training launchers' `-m segan.train` arguments, the bundle's recipe names, the app's
options. The quick ones (`python -c`, `segan edit`, `segan render`) and the Python blocks run for
real, in order, in an empty folder. The install-and-test line is the one `.ci/run` runs. The
table of bundled models names every bundled folder with the data it learnt from.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import app
from segan import bundled
from segan.cli import build_parser
from segan.train.__main__ import add_arguments, config_from_args
from segan.train.config import ConfigError
from segan.train.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUN_FOR_REAL = (("python", "-c"), ("segan", "edit"), ("segan", "render"))
SETUP = ("python3", ".", "pip", "pytest")  # the install-and-test line, which .ci/run runs


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)


def commands(code: str) -> list[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped, `&&` chains
    split, each as its argv."""
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        while argv:
            cut = argv.index("&&") if "&&" in argv else len(argv)
            out.append(argv[:cut])
            argv = argv[cut + 1 :]
    return out


def _launched(argv: list[str]) -> list[str] | None:
    """The `segan.train` arguments of `accelerate launch ... -m segan.train ...` / torchrun."""
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == "segan.train":
            return argv[i + 2 :]
    return None


def check(argv: list[str]) -> None:
    """Parse one README command with the program it names; fail on what it would refuse."""
    if argv[:1] == ["segan"]:
        args = build_parser().parse_args(argv[1:])
        if args.command == "train" and args.resume is None:
            config_from_args(args)
        return
    if argv[:3] == ["python", "-m", "segan.train.bundle"]:
        assert argv[3] in ("train", "publish", "command", "stash", "critic", "export"), argv
        assert set(argv[4:]) <= set(RECIPES), f"no such recipe in {argv}"
        return
    if argv[0] in ("accelerate", "torchrun"):
        rest = _launched(argv)
        assert rest is not None, f"{argv} does not launch segan.train"
        p = argparse.ArgumentParser()
        add_arguments(p)
        config_from_args(p.parse_args(rest))
        return
    if argv[:2] == ["python", "app.py"]:
        app.build_parser().parse_args(argv[2:])
        return
    if argv[0] in SETUP or tuple(argv[:2]) in RUN_FOR_REAL:  # the latter run below
        return
    raise AssertionError(f"the README runs {argv}, which this test does not know how to check")


def _readme_blocks() -> list[tuple[str, str]]:
    return blocks(README.read_text())


def test_every_readme_command_parses_as_written():
    checked = 0
    for lang, code in _readme_blocks():
        if lang != "bash":
            continue
        for argv in commands(code):
            check(argv)
            checked += 1
    assert checked >= 15  # the README's commands were found


def test_the_readme_test_line_is_what_ci_runs():
    line = next(
        code.strip() for lang, code in _readme_blocks() if lang == "bash" and "pytest" in code
    )
    assert line in (ROOT / ".ci/run").read_text()


def test_the_checker_refuses_what_segan_would():
    with pytest.raises(SystemExit):
        check(["segan", "edit", "--no-such-option", "x.png"])
    with pytest.raises(ConfigError, match="no_such_key"):
        check(["segan", "train", "stargan_synthfaces", "optim.no_such_key=1"])
    with pytest.raises(AssertionError, match="recipe"):
        check(["python", "-m", "segan.train.bundle", "train", "no-such-recipe"])
    with pytest.raises(AssertionError, match="does not know"):
        check(["make", "all"])
    assert commands("a b \\\n  c  # note\nd && e f\n") == [["a", "b", "c"], ["d"], ["e", "f"]]


def test_the_readme_quick_commands_and_python_run(tmp_path):
    env = {**os.environ, "SEGAN_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    ran = []
    for lang, code in _readme_blocks():
        if lang == "python":
            # after the commands before it, as a reader runs them
            script = tmp_path / "example.py"
            script.write_text(code)
            run = [sys.executable, str(script)]
        elif lang == "bash":
            for argv in commands(code):
                if tuple(argv[:2]) not in RUN_FOR_REAL:
                    continue
                program = [sys.executable] + ([] if argv[0] == "python" else ["-m", "segan"])
                out = subprocess.run(
                    program + argv[1:], cwd=tmp_path, env=env, capture_output=True, text=True
                )
                assert out.returncode == 0, f"{shlex.join(argv)}:\n{out.stdout}\n{out.stderr}"
                ran.append(argv[:2])
            continue
        else:
            continue
        out = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert out.returncode == 0, f"README python block:\n{code}\n{out.stdout}\n{out.stderr}"
        ran.append(["python block"])
    assert ["python", "-c"] in ran and ["segan", "edit"] in ran and ["python block"] in ran
    edited = sorted(p.name for p in (tmp_path / "edited").iterdir())
    assert any(name.startswith("astronaut") for name in edited), edited
    assert (tmp_path / "surprise.png").is_file() and (tmp_path / "sheet.png").is_file()


def test_the_readme_names_every_bundled_model_and_its_data():
    text = README.read_text()
    table = text.split("| bundled | what it is | learnt from |", 1)[1].split("\n\n", 1)[0]
    learnt: dict[str, str] = {}
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for name in re.findall(r"`([\w.-]+)`", cells[0]):
            learnt[name] = cells[2].lower()
    assert set(learnt) == set(bundled.available())
    for name, data in learnt.items():
        config = json.loads((bundled.resolve(f"bundled:{name}") / "config.json").read_text())
        assert config["training"]["dataset"].lower() == data, name


def test_the_readme_states_the_bundled_weights_size():
    """The README's "N MB in all" is the bundled weight files' total, to the MB (10^6 bytes)."""
    stated = re.search(r"float16 safetensors, (\d+) MB in all", README.read_text())
    assert stated, "the README no longer states the bundled weights' size"
    total = sum(
        (bundled.resolve(f"bundled:{name}") / "model.safetensors").stat().st_size
        for name in bundled.available()
    )
    assert int(stated.group(1)) == round(total / 1e6)


def test_the_readme_and_docs_link_to_files_that_exist():
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the same page
            if not (page.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
