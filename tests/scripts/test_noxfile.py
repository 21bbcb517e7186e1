"""noxfile.py keeps every supported Python in the matrix: one the machine lacks fails its sessions,
saying how to install it, instead of leaving them out."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.services_env import ROOT


def nox(*arguments: str, home: Path, path: Path) -> subprocess.CompletedProcess[str]:
    """``nox`` on the checkout's noxfile, for a user whose home and PATH are those given.

    Its virtual environments go under ``home``: in the checkout's .nox, ``services-3.12`` would
    be the very environment of the session running this test on 3.12.
    """
    command = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "--envdir", str(home / "nox"), *arguments]
    environ = {**os.environ, "HOME": str(home), "PATH": f"{path}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    return subprocess.run(command, env=environ, capture_output=True, text=True, check=False, timeout=300)


def test_a_supported_python_the_machine_lacks_fails_its_sessions_saying_how_to_install_it(tmp_path: Path) -> None:
    pytest.importorskip("nox")
    # A machine with every supported Python but one (and no pyenv in its home). Not the Python
    # running this test: nox would find it as its own interpreter.
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    missing = "3.12" if running != "3.12" else "3.10"
    bin = tmp_path / "bin"
    bin.mkdir()
    known = os.pathsep.join([*glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin")), os.environ["PATH"]])
    for version in {"3.10", "3.11", "3.12", "3.13"} - {missing}:
        if found := shutil.which(f"python{version}", path=known):
            (bin / f"python{version}").symlink_to(found)
    if shutil.which(f"python{missing}", path=f"{bin}{os.pathsep}/usr/bin{os.pathsep}/bin"):
        pytest.skip(f"this machine's /usr/bin has Python {missing}")

    listed = nox("-l", home=tmp_path, path=bin)
    assert f"* services-{missing} " in listed.stdout, listed.stdout + listed.stderr
    # (The standard library's venv, as uv, which the noxfile asks for, may not be on this PATH.)
    run = nox("-s", f"services-{missing}", "--default-venv-backend", "venv", home=tmp_path, path=bin)
    assert run.returncode != 0
    assert f"Python interpreter {missing} not found" in run.stdout + run.stderr, run.stdout + run.stderr
    assert f"Python {missing} not found" in run.stderr, run.stderr
    assert f"pyenv install {missing}" in run.stderr, run.stderr
