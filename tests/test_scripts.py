"""scripts/ensure-venv.sh, the one install path of run.sh, test.sh and the Dockerfile: run by
the real bash against a stand-in .venv/bin/python that records what it is asked to do."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDING_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../calls.log"
"""


def project_copy(tmp_path: Path) -> Path:
    root = tmp_path / "galatea"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "ensure-venv.sh", root / "scripts")
    shutil.copy(ROOT / "pyproject.toml", root)
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(RECORDING_PYTHON)
    python.chmod(0o755)
    return root


def ensure(root: Path, extras: str) -> None:
    script = f'source "{root}/scripts/ensure-venv.sh" && ensure_venv "{extras}"'
    subprocess.run(["bash", "-c", script], check=True, timeout=30, capture_output=True)


def installs(root: Path) -> list[str]:
    log = root / ".venv" / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split()[-1].rsplit("[", 1)[1] for line in lines if " install " in line]


def test_switching_between_run_and_test_installs_once(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    ensure(root, "postgres,test")  # ./test.sh
    ensure(root, "postgres")  # ./run.sh: already there
    ensure(root, "postgres,test")  # ./test.sh again
    assert installs(root) == ["postgres,test]"]


def test_a_new_extra_is_added_to_what_was_there(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    ensure(root, "postgres")  # ./run.sh first
    ensure(root, "postgres,test")  # then ./test.sh: the union, never fewer
    ensure(root, "postgres")
    assert installs(root) == ["postgres]", "postgres,test]"]
    assert (root / ".venv" / ".galatea-installed").read_text().split()[1] == "postgres,test"


def test_a_changed_pyproject_reinstalls_with_the_same_extras(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    ensure(root, "postgres,test")
    with (root / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# a new dependency\n")
    ensure(root, "postgres")
    assert installs(root) == ["postgres,test]", "postgres,test]"]
