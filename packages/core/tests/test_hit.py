"""The rules of a hit's id, timestamp and uid."""

from __future__ import annotations

import pytest

from hitcount.core import Hit, InvalidHit, now_ns
from hitcount.core.hit import validate_id


@pytest.mark.parametrize("id", ["a", "page/1", "ünïcödé", "🙂" * 64, "x" * 256, "id:1 OR 1", "*", '"', "\\"])
def test_valid_ids_are_accepted(id: str) -> None:
    assert Hit(id, now_ns()).id == id


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("cafe\u0301", "caf\u00e9"),  # e + combining acute accent: one é
        ("\u212b", "\u00c5"),  # ANGSTROM SIGN: LATIN CAPITAL LETTER A WITH RING ABOVE
        ("\u1100\u1161", "\uac00"),  # conjoining jamo: one Hangul syllable
    ],
)
def test_ids_are_kept_in_normal_form_c(given: str, stored: str) -> None:
    assert validate_id(given) == stored
    assert Hit(given, now_ns()).id == stored


def test_the_byte_limit_applies_to_the_normal_form() -> None:
    # 128 decomposed é are 384 bytes, but 256 once composed.
    assert Hit("e\u0301" * 128, now_ns()).id == "\u00e9" * 128


@pytest.mark.parametrize(
    ("id", "reason"),
    [
        ("evil\u202etxt.exe", "format characters.*U\\+202E RIGHT-TO-LEFT OVERRIDE"),
        ("zero\u200bwidth", "format characters.*U\\+200B ZERO WIDTH SPACE"),
        ("\ufeffbom", "format characters.*U\\+FEFF"),
        ("soft\u00adhyphen", "format characters.*U\\+00AD"),
        ("tag\U000e0041", "format characters.*U\\+E0041"),
        ("non\ufdd0char", "noncharacters.*U\\+FDD0"),
        ("non\ufffe", "noncharacters.*U\\+FFFE"),
        ("non\U0010ffff", "noncharacters.*U\\+10FFFF"),
        ("non\U0001fffe", "noncharacters.*U\\+1FFFE"),
    ],
)
def test_format_characters_and_noncharacters_are_refused_naming_them(id: str, reason: str) -> None:
    with pytest.raises(InvalidHit, match=reason):
        validate_id(id)
    with pytest.raises(InvalidHit, match=reason):
        Hit(id, now_ns())


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
