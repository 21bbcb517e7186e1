"""The rules of a hit's id, timestamp and uid."""

from __future__ import annotations

import pytest

from hitcount.core import Hit, InvalidHit, now_ns
from hitcount.core.hit import validate_id


@pytest.mark.parametrize("id", ["a", "page/1", "ünïcödé", "🙂" * 64, "x" * 256, "id:1 OR 1", "*", '"', "\\"])
def test_valid_ids_are_accepted(id: str) -> None:
    assert Hit(id, now_ns()).id == id


@pytest.mark.parametrize(
    ("id", "reason"),
    [
        ("", "empty"),
        ("x" * 257, "at most 256 UTF-8 bytes"),
        ("é" * 129, "at most 256 UTF-8 bytes"),  # 258 bytes in 129 characters
        ("a\x00b", "control"),
        ("line\nbreak", "control"),
        ("del\x7f", "control"),
        ("c1\x85", "control"),
        ("\ud800", "surrogate"),
        (42, "string"),
        (None, "string"),
    ],
)
def test_invalid_ids_are_refused_with_the_reason(id: object, reason: str) -> None:
    with pytest.raises(InvalidHit, match=reason):
        validate_id(id)


@pytest.mark.parametrize("timestamp", [-1, 1.5, "1", True])
def test_timestamp_must_be_a_non_negative_integer(timestamp: object) -> None:
    with pytest.raises(InvalidHit, match="timestamp"):
        Hit("a", timestamp)  # type: ignore[arg-type]


def test_uid_must_be_16_bytes() -> None:
    with pytest.raises(InvalidHit, match="uid"):
        Hit("a", 0, b"short")


def test_every_new_hit_has_its_own_uid() -> None:
    assert len({Hit.now("a").uid for _ in range(10_000)}) == 10_000
