"""Fixtures for core's tests: fresh embedded backends per test."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from hitcount.core.config import Config


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Config:
    """A configuration whose sqlite files live in the test's own directory."""
    return Config({"HITCOUNT_DATA_DIR": str(tmp_path), "HITCOUNT_SQLITE_SYNCHRONOUS": "NORMAL"})


@pytest.fixture
def memory_config() -> Config:
    """A configuration with a memory namespace no other test shares."""
    return Config({"HITCOUNT_MEMORY_NAMESPACE": uuid.uuid4().hex})
