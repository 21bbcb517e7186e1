"""Settings: parsing, clear errors, masking, and unknown variables."""

from __future__ import annotations

import pytest

from hitcount.core import Config, ConfigError, Setting
from hitcount.core.config import mask_url, parse_duration
from hitcount.core.settings import RETENTION

URL = Setting("HITCOUNT_TEST_URL", "redis://localhost:6379/0", "a URL", str)
TOKEN = Setting("HITCOUNT_TEST_TOKEN", "", "a secret", str, secret=True)
COUNT = Setting("HITCOUNT_TEST_COUNT", "3", "a number", int)


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("30s", 30), ("5m", 300), ("2h", 7200), ("7d", 604800), ("1.5", 1.5)]
)
def test_durations_take_a_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_setting_defaults_and_can_be_overridden() -> None:
    assert Config({}).get(COUNT) == 3
    assert Config({"HITCOUNT_TEST_COUNT": "7"}).get(COUNT) == 7


def test_a_malformed_value_names_the_variable_and_the_value() -> None:
    with pytest.raises(ConfigError, match=r"HITCOUNT_TEST_COUNT='seven' is invalid"):
        Config({"HITCOUNT_TEST_COUNT": "seven"}).get(COUNT)


def test_retention_below_the_longest_window_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"HITCOUNT_RETENTION='2d'.*longest window"):
        Config({"HITCOUNT_RETENTION": "2d"}).get(RETENTION)
    assert Config({}).get(RETENTION) == 7 * 86400


def test_passwords_in_urls_and_secrets_are_masked() -> None:
    config = Config({"HITCOUNT_TEST_URL": "rediss://user:hunter2@cache:6380/1", "HITCOUNT_TEST_TOKEN": "hunter2"})
    shown = {entry.name: entry.value for entry in config.entries([URL, TOKEN])}
    assert shown == {"HITCOUNT_TEST_URL": "rediss://user:****@cache:6380/1", "HITCOUNT_TEST_TOKEN": "****"}
    assert mask_url("http://127.0.0.1:9200") == "http://127.0.0.1:9200"


def test_unknown_hitcount_variables_are_reported_as_such() -> None:
    [entry] = Config({"HITCOUNT_QEUEU": "redis", "PATH": "/bin"}).entries([])
    assert entry.name == "HITCOUNT_QEUEU"
    assert "unknown" in entry.help
    assert entry.value == "****"


def test_settings_must_carry_the_prefix() -> None:
    with pytest.raises(ValueError, match="HITCOUNT_"):
        Setting("REDIS_URL", "", "", str)
