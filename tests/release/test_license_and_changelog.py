"""What the checkout says of itself agrees: the LICENSE is the license every package declares, and
CHANGELOG.md has an entry for the version every package has."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECTS = sorted((ROOT / "packages").glob("*/pyproject.toml"))
# The SPDX identifier of each license text, by the first line of the text.
SPDX = {"MIT License": "MIT"}


def declared(key: str) -> dict[str, str]:
    """The ``[project]`` ``key`` of each package, by its folder."""
    return {path.parent.name: tomllib.loads(path.read_text())["project"][key] for path in PYPROJECTS}


def test_every_package_declares_the_license_of_the_license_file() -> None:
    text = (ROOT / "LICENSE").read_text()
    license = SPDX[text.splitlines()[0]]
    assert re.search(r"^Copyright \(c\) \d{4} the hitcount authors$", text, re.MULTILINE)
    assert PYPROJECTS
    assert declared("license") == {package: license for package in declared("license")}


def test_the_changelog_has_an_unreleased_section_and_an_entry_for_the_packages_version() -> None:
    versions = set(declared("version").values())
    assert len(versions) == 1, f"the packages' versions differ: {declared('version')}"
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert versions <= set(headings), f"CHANGELOG.md has no heading `## {versions.pop()}`"
