"""Settings: parsing, clear errors, masking, and unknown variables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hitcount.core import Config, ConfigError, Setting
from hitcount.core.config import (
    Rule,
    format_duration,
    parse_csv,
    parse_duration,
    parse_optional_address,
    parse_optional_file,
    parse_positive_duration,
    parse_size,
)
from hitcount.core.settings import RETENTION

URL = Setting("HITCOUNT_TEST_URL", "redis://localhost:6379/0", "a URL", str, url=True)
URLS = Setting("HITCOUNT_TEST_URLS", "http://localhost:9200", "URLs", parse_csv, url=True)
TOKEN = Setting("HITCOUNT_TEST_TOKEN", "", "a secret", str, secret=True)
COUNT = Setting("HITCOUNT_TEST_COUNT", "3", "a number", int)


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("30s", 30), ("5m", 300), ("2h", 7200), ("7d", 604800), ("1.5", 1.5)]
)
def test_durations_take_a_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 ms"),
        (0.00042, "0.4 ms"),
        (0.00999, "10 ms"),
        (0.25, "250 ms"),
        (0.9996, "1 s"),
        (1.5, "1.5 s"),
        (90, "90 s"),
        (125, "2 min 5 s"),
        (7199, "119 min 59 s"),
        (9000, "2 h 30 min"),
        (129600, "36 h"),
        (216000, "2 days 12 h"),
        (604800, "7 days"),
        (604799.6, "7 days"),
        (-0.003, "-3 ms"),
    ],
)
def test_durations_in_words_use_the_largest_unit_held_twice_and_the_next_when_not_zero(
    seconds: float, words: str
) -> None:
    assert format_duration(seconds) == words


@pytest.mark.parametrize("text", ["30s", "5m", "2h", "3d", "7d"])
def test_a_duration_setting_reads_back_in_words_with_its_own_number(text: str) -> None:
    number, unit = text[:-1], text[-1]
    assert format_duration(parse_duration(text)) == f"{number} {dict(s='s', m='min', h='h', d='days')[unit]}"


@pytest.mark.parametrize("text", ["0", "0s", "0ms"])
def test_a_timeout_of_zero_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="above zero"):
        parse_positive_duration(text)
    assert parse_positive_duration("1ms") == 0.001


@pytest.mark.parametrize(("text", "size"), [("65536", 65536), ("64KiB", 65536), ("1MiB", 1048576), (" 10 B ", 10)])
def test_sizes_are_bytes_kib_or_mib(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0", "-1", "64KB", "1.5MiB", ""])
def test_other_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="at least 1 byte"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "address"), [("", None), (" ", None), ("127.0.0.1:9108", ("127.0.0.1", 9108)), ("[::1]:80", ("::1", 80))]
)
def test_an_optional_address_is_host_and_port_or_nothing(text: str, address: tuple[str, int] | None) -> None:
    assert parse_optional_address(text) == address


@pytest.mark.parametrize("text", ["9108", "host:", ":9108", "host:port", "host:70000"])
def test_an_address_without_host_or_port_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected host:port"):
        parse_optional_address(text)


def test_an_optional_file_must_exist(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    assert parse_optional_file("") is None
    assert parse_optional_file(str(tmp_path / "ca.pem")) == tmp_path / "ca.pem"
    with pytest.raises(ValueError, match="no such file"):
        parse_optional_file(str(tmp_path / "missing.pem"))


def test_a_setting_defaults_and_can_be_overridden() -> None:
    assert Config({}).get(COUNT) == 3
    assert Config({"HITCOUNT_TEST_COUNT": "7"}).get(COUNT) == 7


def test_a_malformed_value_names_the_variable_and_the_value() -> None:
    with pytest.raises(ConfigError, match=r"HITCOUNT_TEST_COUNT='seven' is invalid"):
        Config({"HITCOUNT_TEST_COUNT": "seven"}).get(COUNT)


def test_retention_below_the_longest_window_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"HITCOUNT_RETENTION='2d' is invalid: must be at least 3 days 1 h \(73h\): a hit may come 3 days late",
    ):
        Config({"HITCOUNT_RETENTION": "2d"}).get(RETENTION)
    assert Config({}).get(RETENTION) == 7 * 86400


def test_passwords_in_urls_and_secrets_are_masked() -> None:
    config = Config({"HITCOUNT_TEST_URL": "rediss://user:hunter2@cache:6380/1", "HITCOUNT_TEST_TOKEN": "hunter2"})
    shown = {entry.name: entry.value for entry in config.entries([URL, TOKEN])}
    assert shown == {"HITCOUNT_TEST_URL": "rediss://user:****@cache:6380/1", "HITCOUNT_TEST_TOKEN": "****"}


@pytest.mark.parametrize("password", ["Zq9,Xk7 Lm3", 'it\'s"quoted"', "a<b>c", "p@ss", "Zq9%2CXk7"])
def test_a_url_setting_is_shown_masked_and_its_secrets_never_shown_in_another_setting(password: str) -> None:
    url = f"redis://:{password}@127.0.0.1:6379/0"
    config = Config({"HITCOUNT_TEST_URL": url, "HITCOUNT_TEST_COUNT": f"{url} again"})
    shown = {entry.name: entry.value for entry in config.entries([URL, COUNT])}
    assert shown["HITCOUNT_TEST_URL"] == "redis://:****@127.0.0.1:6379/0"
    assert password not in shown["HITCOUNT_TEST_COUNT"]


def test_an_invalid_url_setting_is_reported_without_its_password() -> None:
    def parse(text: str) -> str:
        raise ValueError(f"cannot parse {text!r}")

    setting = Setting("HITCOUNT_TEST_URL", "", "a URL", parse, url=True)
    with pytest.raises(ConfigError) as raised:
        Config({"HITCOUNT_TEST_URL": "redis://:Zq9,Xk7 Lm3@[::1/0"}).get(setting)
    assert "Zq9,Xk7 Lm3" not in str(raised.value)
    assert "HITCOUNT_TEST_URL=" in str(raised.value)


def test_the_secrets_of_a_configuration_are_its_secret_values_and_the_secrets_of_its_urls() -> None:
    config = Config({"HITCOUNT_TEST_URL": "redis://:Zq9,Xk7 Lm3@cache/0", "HITCOUNT_TEST_TOKEN": "tok-one,tok-two"})
    masked = config.secrets([URL, TOKEN, COUNT]).mask("Zq9,Xk7 Lm3 tok-one tok-two tok-one,tok-two 3")
    assert masked == "**** **** **** **** 3"


def test_hitcount_config_masks_secret_query_parameters_and_every_url_of_a_list() -> None:
    config = Config({"HITCOUNT_TEST_URLS": "http://a:hunter2@x:9200,http://y:9200/?token=hunter2"})
    [entry] = config.entries([URLS])
    assert "hunter2" not in entry.value
    assert entry.value == "http://a:****@x:9200,http://y:9200/?token=****"


def test_unknown_hitcount_variables_are_reported_as_such() -> None:
    [entry] = Config({"HITCOUNT_QEUEU": "redis", "PATH": "/bin"}).entries([])
    assert entry.name == "HITCOUNT_QEUEU"
    assert "unknown" in entry.help
    assert entry.value == "****"


def test_settings_must_carry_the_prefix() -> None:
    with pytest.raises(ValueError, match="HITCOUNT_"):
        Setting("REDIS_URL", "", "", str)


def _count_below_limit(values: Mapping[str, Any]) -> str | None:
    count, limit = values[COUNT.name], values[LIMIT.name]
    return None if count < limit else f"{COUNT.name}={count} must be below {LIMIT.name}={limit}"


LIMIT = Setting("HITCOUNT_TEST_LIMIT", "10", "a bound", int)
BELOW = Rule("The count stays below the limit.", (COUNT.name, LIMIT.name), _count_below_limit)


def test_a_rule_sees_the_settings_it_reads_and_says_what_is_wrong_naming_both() -> None:
    assert Config({}).broken([BELOW], [COUNT, LIMIT]) == []
    broken = Config({COUNT.name: "12"})
    assert broken.broken([BELOW], [COUNT, LIMIT]) == ["HITCOUNT_TEST_COUNT=12 must be below HITCOUNT_TEST_LIMIT=10"]
    with pytest.raises(ConfigError, match="HITCOUNT_TEST_COUNT=12 must be below HITCOUNT_TEST_LIMIT=10"):
        broken.require([BELOW], [COUNT, LIMIT])


def test_a_rule_reading_a_setting_not_installed_or_invalid_does_not_apply() -> None:
    assert Config({COUNT.name: "12"}).broken([BELOW], [COUNT]) == []  # the limit's package is not installed
    assert Config({COUNT.name: "12", LIMIT.name: "many"}).broken([BELOW], [COUNT, LIMIT]) == []  # problems() says
