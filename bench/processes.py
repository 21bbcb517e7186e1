"""Watching the processes a benchmark measures (started with :class:`hitcount.core.testing.processes.Child`)."""

from __future__ import annotations

import http.client
from pathlib import Path

from hitcount.core.testing.processes import wait_until


def answers_http(port: int) -> bool:
    """Whether something answers HTTP on ``port`` (any status)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


# How long a measured process may take to serve (a loaded machine, Elasticsearch connections to open).
START_SECONDS = 60.0


def wait_http(port: int, timeout: float = START_SECONDS) -> None:
    """Until something answers HTTP on ``port``; TimeoutError after ``timeout`` seconds."""
    wait_until(lambda: answers_http(port), f"HTTP on port {port}", timeout, interval=0.2)


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's workers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)
