"""The retry delays and the settings the indexer reads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hitcount.core import Config, ConfigError
from hitcount.indexer.backoff import Backoff
from hitcount.indexer.settings import METRICS_BIND, IndexerSettings


def test_backoff_doubles_from_base_up_to_cap() -> None:
    backoff = Backoff(0.1, 1.0, uniform=lambda low, high: high)
    assert [backoff.next_delay() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_backoff_jitter_stays_in_the_upper_half_of_each_delay() -> None:
    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return low

    backoff = Backoff(0.1, 1.0, uniform=uniform)
    backoff.next_delay()
    backoff.next_delay()
    assert drawn == [pytest.approx((0.05, 0.1)), pytest.approx((0.1, 0.2))]


def test_backoff_starts_over_from_base_after_a_success() -> None:
    backoff = Backoff(0.1, 1.0, uniform=lambda low, high: high)
    backoff.next_delay()
    backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.1)


def test_backoff_stays_at_cap_after_very_many_failures() -> None:
    backoff = Backoff(0.1, 30.0, uniform=lambda low, high: high)
    delays = [backoff.next_delay() for _ in range(2000)]
    assert delays[-1] == 30.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (2.0, 1.0)])
def test_backoff_rejects_a_base_that_is_not_positive_or_above_cap(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="0 < base <= cap"):
        Backoff(base, cap)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", None), ("127.0.0.1:9108", ("127.0.0.1", 9108)), ("[::1]:9108", ("::1", 9108)), ("0.0.0.0:0", ("0.0.0.0", 0))],
)
def test_metrics_bind_is_host_and_port_or_empty_for_none(text: str, expected: tuple[str, int] | None) -> None:
    assert Config({METRICS_BIND.name: text}).get(METRICS_BIND) == expected


@pytest.mark.parametrize("text", ["9108", "localhost", "localhost:http", ":9108", "host:70000"])
def test_malformed_metrics_bind_is_an_error_naming_the_setting_and_value(text: str) -> None:
    with pytest.raises(ConfigError, match=f"HITCOUNT_INDEXER_METRICS_BIND={text!r} is invalid: expected host:port"):
        Config({METRICS_BIND.name: text}).get(METRICS_BIND)


def test_indexer_settings_come_from_max_attempts_and_core_retention_the_rest_from_constants() -> None:
    settings = IndexerSettings.from_config(Config({"HITCOUNT_INDEXER_MAX_ATTEMPTS": "3", "HITCOUNT_RETENTION": "4d"}))
    assert (settings.max_attempts, settings.retention) == (3, 4 * 86400.0)
    assert (settings.max_batches, settings.retry_cap, settings.consume_wait) == (100, 30.0, 1.0)
    assert (settings.retry_base, settings.purge_interval, settings.backlog_interval) == (0.1, 3600.0, 15.0)
    assert (settings.bulk_hits, settings.linger) == (10_000, 1.0)


def test_a_visibility_timeout_shorter_than_twice_the_linger_is_an_error_naming_it_and_the_constant() -> None:
    # Batches gathered for longer would be handed to another consumer while still in hand.
    with pytest.raises(ConfigError, match=r"HITCOUNT_QUEUE_VISIBILITY_TIMEOUT=1.5 s .*LINGER = 1 s"):
        IndexerSettings.from_config(Config({"HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "1.5s"}))
    assert IndexerSettings.from_config(Config({"HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "2s"})).linger == 1.0


def test_hitcount_config_fails_naming_a_visibility_timeout_too_short_for_the_linger() -> None:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("HITCOUNT_")}
    result = subprocess.run(
        [sys.executable, "-m", "hitcount.core.cli", "config"],
        env={**clean, "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "1s"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT=1 s must be at least twice the indexer's linger" in result.stderr
