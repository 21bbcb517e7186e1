"""Settings: parsing, clear errors, masking, and unknown variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitcount.core import Config, ConfigError, Setting
from hitcount.core.config import (
    mask_url,
    parse_duration,
    parse_optional_address,
    parse_optional_file,
    parse_positive_duration,
    parse_size,
)
from hitcount.core.settings import RETENTION

URL = Setting("HITCOUNT_TEST_URL", "redis://localhost:6379/0", "a URL", str)
TOKEN = Setting("HITCOUNT_TEST_TOKEN", "", "a secret", str, secret=True)
COUNT = Setting("HITCOUNT_TEST_COUNT", "3", "a number", int)


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("30s", 30), ("5m", 300), ("2h", 7200), ("7d", 604800), ("1.5", 1.5)]
)
def test_durations_take_a_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


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
    with pytest.raises(ConfigError, match=r"HITCOUNT_RETENTION='2d'.*longest window"):
        Config({"HITCOUNT_RETENTION": "2d"}).get(RETENTION)
    assert Config({}).get(RETENTION) == 7 * 86400


def test_passwords_in_urls_and_secrets_are_masked() -> None:
    config = Config({"HITCOUNT_TEST_URL": "rediss://user:hunter2@cache:6380/1", "HITCOUNT_TEST_TOKEN": "hunter2"})
    shown = {entry.name: entry.value for entry in config.entries([URL, TOKEN])}
    assert shown == {"HITCOUNT_TEST_URL": "rediss://user:****@cache:6380/1", "HITCOUNT_TEST_TOKEN": "****"}
    assert mask_url("http://127.0.0.1:9200") == "http://127.0.0.1:9200"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://:****@cache:6379/0"),
        ("http://elastic:p%40ss@[::1]:9200", "http://elastic:****@[::1]:9200"),
        ("redis://cache/0?password=hunter2", "redis://cache/0?password=****"),
        ("redis://cache/0?db=1&Password=hunter2&x=1", "redis://cache/0?db=1&Password=****&x=1"),
        (
            "https://es:9200/?api_key=abc&Access-Token=def&client_secret=ghi",
            "https://es:9200/?api_key=****&Access-Token=****&client_secret=****",
        ),
        ("https://es:9200/?APIKEY=abc&monkey=1", "https://es:9200/?APIKEY=****&monkey=****"),
        ("https://es:9200/?size=10&timeout=1s", "https://es:9200/?size=10&timeout=1s"),
        ("unix:///run/redis.sock?password=hunter2", "unix:///run/redis.sock?password=****"),
        ("http://u:hunter2@a:9200,http://v:hunter2@b:9200", "http://u:****@a:9200,http://v:****@b:9200"),
        ("cannot parse 'http://u:hunter2@[::1:9200'", "cannot parse 'http://****'"),
        (
            "redis queue redis://:hunter2@cache:6379/0: publish failed",
            "redis queue redis://:****@cache:6379/0: publish failed",
        ),
        ("http://user@host:9200", "http://user@host:9200"),
    ],
)
def test_every_url_in_a_text_has_its_password_and_secret_parameters_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_hitcount_config_masks_secret_query_parameters_and_every_url_of_a_list() -> None:
    config = Config({"HITCOUNT_TEST_URL": "http://a:hunter2@x:9200,http://y:9200/?token=hunter2"})
    [entry] = config.entries([URL])
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
