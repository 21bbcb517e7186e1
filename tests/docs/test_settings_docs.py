"""Every setting is a promise: each one registered is documented in its package's README, and the
generated reference there is current (as datasette's tests/test_docs.py holds its documentation to
its code). Needs every package installed, as `make .venv/.run-installed` does."""

from __future__ import annotations

import pytest

from hitcount.core import Runtime
from scripts.settings_reference import COMMAND, current_block, packages, readme, reference

REGISTRY = Runtime.load({}).registry


@pytest.mark.parametrize("name", sorted(REGISTRY.settings))
def test_every_setting_is_documented_in_the_readme_of_its_package(name: str) -> None:
    path = readme(REGISTRY.setting_providers[name].package)
    assert f"`{name}`" in path.read_text(), f"{name} is not documented in {path}: run `{COMMAND}`"


@pytest.mark.parametrize("package", packages(REGISTRY))
def test_the_settings_reference_of_each_readme_is_the_generated_one(package: str) -> None:
    path = readme(package)
    written = current_block(path.read_text())
    assert written is not None, f"{path} has no settings reference markers"
    assert written == reference(REGISTRY, package), f"the settings reference of {path} is stale: run `{COMMAND}`"
