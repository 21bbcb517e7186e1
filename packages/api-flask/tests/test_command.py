"""The plugin: ``hitcount api`` and the API's settings, registered without importing the server stack."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hitcount.api_flask.plugin import PUBLISH_WITHIN_LEASE
from hitcount.api_flask.settings import SETTINGS
from hitcount.core import Runtime

HITCOUNT = Path(sys.executable).with_name("hitcount")
HEAVY = ("flask", "gevent", "gunicorn", "prometheus_client", "orjson")


def test_loading_the_plugin_imports_none_of_the_server_stack() -> None:
    # Every `hitcount` command loads the plugin; the gunicorn master must not hold prometheus_client.
    code = f"import sys, hitcount.api_flask.plugin; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_api_command_and_settings_are_registered_by_hitcount_api_flask() -> None:
    registry = Runtime.load({}).registry
    assert registry.commands["api"].provider.package == "hitcount-api-flask"
    for setting in SETTINGS:
        assert registry.settings[setting.name] == setting


def test_hitcount_config_lists_the_apis_settings_and_none_of_its_fixed_values() -> None:
    environ = {key: text for key, text in os.environ.items() if not key.startswith("HITCOUNT_")}
    result = subprocess.run([str(HITCOUNT), "config"], env=environ, capture_output=True, text=True, check=True)
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
    assert rows["HITCOUNT_BIND"] == "127.0.0.1:8000"
    assert rows["HITCOUNT_WORKERS"] == "2"
    assert rows["HITCOUNT_SPOOL_MAX_BYTES"] == "1024MiB"
    assert not {"HITCOUNT_CLIENT_TIMEOUT", "HITCOUNT_KEEPALIVE", "HITCOUNT_WORKER_CONNECTIONS"} & set(rows)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HITCOUNT_WORKERS", "0", "HITCOUNT_WORKERS='0' is invalid"),
        ("HITCOUNT_SPOOL_MAX_BYTES", "lots", "HITCOUNT_SPOOL_MAX_BYTES='lots' is invalid"),
        ("HITCOUNT_ACCESS_LOG", "loud", "HITCOUNT_ACCESS_LOG='loud' is invalid"),
        ("HITCOUNT_RATE_LIMIT", "fast", "HITCOUNT_RATE_LIMIT='fast' is invalid"),
        ("HITCOUNT_TRUSTED_PROXIES", "proxy.example", "HITCOUNT_TRUSTED_PROXIES='proxy.example' is invalid"),
        ("HITCOUNT_QUEUE", "carrier-pigeon", "no installed plugin provides a queue called 'carrier-pigeon'"),
        ("HITCOUNT_QUEUE", "memory", "HITCOUNT_QUEUE='memory' keeps batches inside one process"),
    ],
)
def test_hitcount_api_refuses_a_bad_setting_before_starting_gunicorn(
    variable: str, value: str, message: str, tmp_path: Path
) -> None:
    environ = {key: text for key, text in os.environ.items() if not key.startswith("HITCOUNT_")}
    environ.update({"HITCOUNT_DATA_DIR": str(tmp_path), variable: value})
    result = subprocess.run(
        [str(HITCOUNT), "api"], env=environ, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "gunicorn" not in result.stderr


def test_hitcount_config_lists_the_security_settings_with_the_read_tokens_masked(tmp_path: Path) -> None:
    environ = {key: text for key, text in os.environ.items() if not key.startswith("HITCOUNT_")}
    environ.update(HITCOUNT_DATA_DIR=str(tmp_path), HITCOUNT_READ_TOKENS="s3cret-one,s3cret-two")
    result = subprocess.run([str(HITCOUNT), "config"], env=environ, capture_output=True, text=True, check=True)
    for name in ("HITCOUNT_READ_TOKENS", "HITCOUNT_PUBLIC_IDS", "HITCOUNT_RATE_LIMIT", "HITCOUNT_TRUSTED_PROXIES"):
        assert name in result.stdout
    assert "s3cret" not in result.stdout


def test_hitcount_config_fails_naming_a_malformed_api_setting_and_why(tmp_path: Path) -> None:
    environ = {key: text for key, text in os.environ.items() if not key.startswith("HITCOUNT_")}
    environ.update(HITCOUNT_DATA_DIR=str(tmp_path), HITCOUNT_WORKERS="two")
    result = subprocess.run([str(HITCOUNT), "config"], env=environ, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "hitcount: error: HITCOUNT_WORKERS='two' is invalid: expected an integer of at least 1, such as 4"
    ]


def test_hitcount_api_on_an_address_already_taken_says_so_naming_hitcount_bind(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        environ = {key: text for key, text in os.environ.items() if not key.startswith("HITCOUNT_")}
        environ.update({"HITCOUNT_DATA_DIR": str(tmp_path), "HITCOUNT_BIND": address})
        result = subprocess.run(
            [str(HITCOUNT), "api"], env=environ, capture_output=True, text=True, timeout=30, check=False
        )
    assert result.returncode == 1
    assert f"hitcount: error: HITCOUNT_BIND={address}: something already listens there" in result.stderr
    assert "Can't connect" not in result.stderr  # gunicorn's retries, five times, never naming the setting


def test_a_redis_timeout_that_lets_a_publish_outlast_the_spool_lease_breaks_a_rule_naming_both() -> None:
    check = PUBLISH_WITHIN_LEASE.check
    assert check({"HITCOUNT_QUEUE": "redis", "HITCOUNT_REDIS_TIMEOUT": 0.5}) is None
    assert check({"HITCOUNT_QUEUE": "sqlite", "HITCOUNT_REDIS_TIMEOUT": 4.0}) is None
    problem = check({"HITCOUNT_QUEUE": "redis", "HITCOUNT_REDIS_TIMEOUT": 4.0})
    assert problem is not None
    assert "HITCOUNT_REDIS_TIMEOUT=4 s lets one publish take 12 s" in problem
    assert "hitcount.api_flask.spool.LEASE = 10 s" in problem
