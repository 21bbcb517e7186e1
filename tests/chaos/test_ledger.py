"""The chaos run's checker on made-up journals and stores: each kind of wrong hit is named, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.ledger import Ledger, read_journal


def test_acknowledged_hits_stored_once_are_exact_and_given_up_ones_may_count_or_not() -> None:
    ledger = Ledger.classify({"a": True, "b": True, "c": False, "d": False}, ["a", "b", "c"], counted=3)
    assert ledger.exact
    assert (ledger.sent, ledger.acknowledged, ledger.stored, ledger.given_up_counted) == (4, 2, 3, 1)


def test_an_acknowledged_hit_missing_is_lost() -> None:
    ledger = Ledger.classify({"a": True, "b": True}, ["a"], counted=1)
    assert not ledger.exact
    assert ledger.lost == {"b"}
    assert "lost 1: b" in ledger.problems()


def test_a_hit_stored_twice_is_duplicated_and_one_nobody_sent_is_unexpected() -> None:
    ledger = Ledger.classify({"a": True}, ["a", "a", "z"], counted=3)
    assert not ledger.exact
    assert dict(ledger.duplicated) == {"a": 2}
    assert ledger.unexpected == {"z"}


def test_an_api_count_other_than_the_store_holds_is_not_exact() -> None:
    ledger = Ledger.classify({"a": True}, ["a"], counted=2)
    assert not ledger.exact
    assert "the API counts 2" in ledger.problems()


def test_the_journals_of_every_load_process_are_read_and_a_uid_in_two_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1.txt").write_text("a acknowledged\nb given-up\n")
    (tmp_path / "2.txt").write_text("c acknowledged\n")
    assert read_journal(tmp_path) == {"a": True, "b": False, "c": True}
    (tmp_path / "3.txt").write_text("a acknowledged\n")
    with pytest.raises(ValueError, match="twice"):
        read_journal(tmp_path)
