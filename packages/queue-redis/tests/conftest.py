"""Fixtures for the Redis queue's tests: the shared real Redis, and dedicated servers to break.

Tests that only use Redis share the server named by ``HITCOUNT_REDIS_URL`` (nox passes the
one ``scripts/services.sh`` started), each under a key prefix of its own that is deleted
afterwards. Tests that stop, kill or restart Redis start a server of their own instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from hitcount.core.config import Config
from hitcount.queue_redis.queue import RedisQueue

@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared server's URL; running these tests without one is an error, not a skip."""
    url = os.environ.get("HITCOUNT_REDIS_URL")
    if not url:
        pytest.fail("HITCOUNT_REDIS_URL is not set: run `scripts/services.sh up redis` and the nox session queue_redis")
    return url


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix for this test alone; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def open_queue(redis_url: str, prefix: str) -> Iterator[Callable[..., RedisQueue]]:
    """``open_queue(**settings)`` opens a RedisQueue on this test's prefix; all are closed afterwards.

    Keyword arguments are settings without ``HITCOUNT_``, e.g. ``redis_partitions=4``.
    """
    opened: list[RedisQueue] = []

    def open_queue(url: str = redis_url, **settings: object) -> RedisQueue:
        environ = {"HITCOUNT_REDIS_URL": url, "HITCOUNT_REDIS_PREFIX": prefix}
        environ |= {f"HITCOUNT_{name.upper()}": str(value) for name, value in settings.items()}
        opened.append(RedisQueue(Config(environ)))
        return opened[-1]

    yield open_queue
    for queue in opened:
        queue.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client of the shared server, to look at the keys directly."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A redis-server process of a test's own, on a free port, with its files in ``directory``.

    Its append-only file is fsynced on every write (``appendfsync always``): Redis then
    answers a write only once it is on disk, so a write that returned survives a kill -9 of
    the server (and a power loss), which is the durability ``Queue.publish`` promises.
    ``everysec`` would also survive a killed process in the common case, but may lose the
    last second of acknowledged writes when the disk is slow to sync.
    """

    def __init__(self, directory: Path, *options: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        self.port = _free_port()
        self.directory = directory
        self.command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
            *options,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait (at most 10 s) until it answers PING."""
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"redis-server did not answer on port {self.port}; see {self.directory / 'redis.log'}")

    def kill(self) -> None:
        """kill -9: no chance to save anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # in case a test left it stopped
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel but never answered, as by a hung server."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """``start_redis(*options)`` starts a dedicated redis-server; every one is killed afterwards."""
    servers: list[RedisServer] = []

    def start(*options: str) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        servers.append(RedisServer(directory, *options))
        servers[-1].start()
        return servers[-1]

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
def durable_redis(start_redis: Callable[..., RedisServer]) -> RedisServer:
    """A dedicated server that keeps every acknowledged write across a kill -9 (see RedisServer)."""
    return start_redis("--appendonly", "yes", "--appendfsync", "always")
