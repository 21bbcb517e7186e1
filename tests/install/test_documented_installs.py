"""Every documented `pip install` takes hitcount's distributions from the checkout, never from an index.

Each command of the READMEs and the Dockerfile runs as written, from the checkout's root, in a
fresh virtual environment whose pip also sees an index holding an impostor of every hitcount
distribution (as anybody could publish under those names): what it installs of hitcount must
be the checkout's packages, and a plugin named without hitcount-core must fail rather than take
the impostor.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ROOT / "packages"
# The versions an impostor would publish: the checkout's without its local label, and a higher one.
IMPOSTOR_VERSIONS = ("0.1.0", "99.0")
DOCUMENTS = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted(PACKAGES.glob("*/README.md"))]


def distributions() -> dict[str, Path]:
    """hitcount's distributions by name, with the folder of each."""
    found = {}
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        name = re.search(r'^name = "([^"]+)"', pyproject.read_text(), re.MULTILINE)
        assert name, f"{pyproject} names no distribution"
        found[name.group(1)] = pyproject.parent
    return found


def documented_commands() -> list[str]:
    """Every `pip install` the READMEs show (in code blocks or inline), and the Dockerfile's install."""
    commands = []
    for document in DOCUMENTS:
        text = document.read_text()
        commands += re.findall(r"^\s*(pip install .+?)\s*(?:#.*)?$", text, re.MULTILINE)
        commands += re.findall(r"`(pip install [^`]+)`", text)
    return [*commands, dockerfile_install()]


def dockerfile_install() -> str:
    """Every pip command of the Dockerfile's RUN lines, in order, as one command: the image's install is
    all of them (the hashed third-party requirements, hitcount's packages without dependencies, pip check)."""
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    steps = [step.strip() for run in re.findall(r"^RUN (.+)$", dockerfile, re.MULTILINE) for step in run.split("&&")]
    return " && ".join(re.sub(r"\s+", " ", step) for step in steps if step.startswith("pip "))


def impostor_wheel(directory: Path, name: str, version: str) -> None:
    """A wheel of ``name`` ``version`` that is not hitcount's: it installs the module ``impostor``."""
    stem = f"{name.replace('-', '_')}-{version}"
    files = {
        "impostor.py": "RAN = True\n",
        f"{stem}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{stem}.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{stem}.dist-info/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{stem}.dist-info/RECORD"])
    with zipfile.ZipFile(directory / f"{stem}-py3-none-any.whl", "w") as wheel:
        for path, content in files.items():
            wheel.writestr(path, content)


@pytest.fixture(scope="module")
def impostors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for pip's --find-links holding an impostor of every hitcount distribution."""
    directory = tmp_path_factory.mktemp("impostors")
    for name in distributions():
        for version in IMPOSTOR_VERSIONS:
            impostor_wheel(directory, name, version)
    return directory


def fresh_environment(directory: Path, impostors: Path) -> tuple[Path, dict[str, str]]:
    """A new virtual environment (with pip) and the environment variables of a shell activated in it,
    whose pip also finds the impostors."""
    venv.create(directory, with_pip=True)
    bin = directory / "bin"
    environ = {**os.environ, "VIRTUAL_ENV": str(directory), "PATH": f"{bin}{os.pathsep}{os.environ['PATH']}"}
    environ["PIP_FIND_LINKS"] = " ".join(filter(None, [os.environ.get("PIP_FIND_LINKS"), str(impostors)]))
    environ.pop("PYTHONPATH", None)
    return bin / "python", environ


def installed(python: Path) -> dict[str, str | None]:
    """Each hitcount distribution installed in ``python``'s environment, with the URL it came from
    (None: from an index)."""
    script = """
import importlib.metadata, json, sys
found = {}
for dist in importlib.metadata.distributions():
    if dist.metadata["Name"].startswith("hitcount"):
        origin = dist.read_text("direct_url.json")
        found[dist.metadata["Name"]] = json.loads(origin)["url"] if origin else None
json.dump(found, sys.stdout)
"""
    result = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True)
    found: dict[str, str | None] = json.loads(result.stdout)
    return found


def test_the_documents_show_an_install_of_every_package() -> None:
    named = " ".join(documented_commands())
    assert [path.name for path in distributions().values() if f"./packages/{path.name}" not in named] == []


@pytest.mark.parametrize("command", documented_commands())
def test_a_documented_install_takes_hitcount_from_the_checkout_alone(
    command: str, impostors: Path, tmp_path: Path
) -> None:
    python, environ = fresh_environment(tmp_path / "venv", impostors)
    result = subprocess.run(["bash", "-c", command], check=False, cwd=ROOT, env=environ, capture_output=True, text=True)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    checkout = {name: path.as_uri() for name, path in distributions().items()}
    found = installed(python)
    assert "hitcount-core" in found, f"{command} installed no hitcount-core"
    assert {name: checkout.get(name) for name in found} == found, f"{command} installed {found}"


def test_a_plugin_installed_without_hitcount_core_fails_rather_than_take_it_from_an_index(
    impostors: Path, tmp_path: Path
) -> None:
    python, environ = fresh_environment(tmp_path / "venv", impostors)
    for name, path in distributions().items():
        if name == "hitcount-core":
            continue
        command = [str(python), "-m", "pip", "install", f"./packages/{path.name}"]
        result = subprocess.run(command, check=False, cwd=ROOT, env=environ, capture_output=True, text=True)
        assert result.returncode != 0, f"{name} installed alone:\n{result.stdout}"
        assert "No matching distribution found for hitcount-core==" in result.stderr, result.stderr
        assert installed(python) == {}, f"pip install ./packages/{path.name} left {installed(python)}"
