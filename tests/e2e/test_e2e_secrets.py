"""What leaves the processes as text never holds a configured secret: ``hitcount config``, errors,
``/readyz`` details and the logs of the API and the indexer, with Redis where nothing listens.

The passwords hold the characters (``,``, a blank, quotes, ``<``, ``>``, ``@``) that end a URL to
anyone guessing where one ends in free text; redis-py accepts them all as written.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from hitcount.core.testing.processes import DEADLINE, free_port, wait_until
from tests.e2e.pipeline import Stack

pytest.importorskip("hitcount.queue_redis")

PASSWORDS = ["Zq9,Xk7 Lm3", "q'u\"o<t>e", "p@ss:w0rd", "Zq9%2CXk7%20Lm3"]


def nowhere(password: str) -> str:
    """A Redis URL with ``password`` where nothing listens."""
    return f"redis://:{password}@127.0.0.1:{free_port()}/0"


def leaks(text: str, password: str) -> bool:
    return password in text or unquote(password) in text


def hitcount(*arguments: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hitcount.core.cli", *arguments]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=DEADLINE, check=False)


def redis_environ(password: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HITCOUNT_QUEUE": "redis",
        "HITCOUNT_STORE": "sqlite",
        "HITCOUNT_CACHE": "redis",
        "HITCOUNT_DATA_DIR": str(tmp_path),
        "HITCOUNT_REDIS_URL": nowhere(password),
        "HITCOUNT_REDIS_TIMEOUT": "1s",
    }


@pytest.mark.parametrize("password", PASSWORDS)
def test_hitcount_config_and_a_failing_command_never_show_the_redis_password(password: str, tmp_path: Path) -> None:
    environ = redis_environ(password, tmp_path)
    shown = hitcount("config", environ=environ)
    assert shown.returncode == 0, shown.stderr
    assert "redis://:****@127.0.0.1" in shown.stdout
    failed = hitcount("dead-letters", environ=environ)
    assert failed.returncode == 1
    assert "redis queue redis://:****@127.0.0.1" in failed.stderr
    for text in (shown.stdout, shown.stderr, failed.stdout, failed.stderr):
        assert not leaks(text, password), text


@pytest.mark.parametrize("password", PASSWORDS[:2])
def test_readyz_and_the_logs_never_show_the_redis_password(password: str, tmp_path: Path) -> None:
    stack = Stack(
        tmp_path,
        {
            "HITCOUNT_QUEUE": "redis",
            "HITCOUNT_STORE": "sqlite",
            "HITCOUNT_CACHE": "redis",
            "HITCOUNT_REDIS_URL": nowhere(password),
        },
    )
    try:
        readyz = stack.request("GET", "/readyz").json()
        assert stack.post("/analytics/batch", [{"id": "secret"}]).status == 204  # spooled
        # The indexer's and the API's attempts at the queue, logged.
        wait_until(lambda: "****" in stack.indexer.output(), "the indexer to log that the queue is down")
        time.sleep(2)
    finally:
        stack.stop()
    assert readyz["checks"]["queue"]["ok"] is False
    assert "redis queue redis://:****@127.0.0.1" in readyz["checks"]["queue"]["detail"]
    for text in (str(readyz), stack.api.output(), stack.indexer.output()):
        assert not leaks(text, password), text


# An Elasticsearch URL is one of a comma-separated list: a comma in its password is written %2C.
@pytest.mark.parametrize("password", ["q'u\"o<t>e", "sp ace>", "p@ss:w0rd", "Zq9%2CXk7%20Lm3"])
def test_a_failing_elasticsearch_command_never_shows_the_password(password: str, tmp_path: Path) -> None:
    pytest.importorskip("hitcount.store_elastic")
    environ = {
        "PATH": "/usr/bin:/bin",
        "HITCOUNT_QUEUE": "sqlite",
        "HITCOUNT_STORE": "elastic",
        "HITCOUNT_DATA_DIR": str(tmp_path),
        "HITCOUNT_ELASTIC_URL": f"http://elastic:{password}@127.0.0.1:{free_port()}",
        "HITCOUNT_ELASTIC_TIMEOUT": "1s",
    }
    shown = hitcount("config", environ=environ)
    assert "http://elastic:****@127.0.0.1" in shown.stdout
    failed = hitcount("retention", environ=environ)
    assert failed.returncode == 1, failed.stderr
    assert "****" in failed.stderr
    for text in (shown.stdout, shown.stderr, failed.stdout, failed.stderr):
        assert not leaks(text, password), text
