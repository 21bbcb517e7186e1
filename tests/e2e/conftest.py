"""Fixtures of the end-to-end tests: one pipeline for the run (see :mod:`pipeline`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.pipeline import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One pipeline for the whole run; tests use ids of their own."""
    stack = Stack(tmp_path_factory.mktemp("e2e"))
    yield stack
    try:
        stack.stop()
    finally:
        stack.discard_data()


@pytest.fixture
def id() -> str:
    """An id no other test sends hits for."""
    return f"e2e-{uuid.uuid4().hex[:12]}"
