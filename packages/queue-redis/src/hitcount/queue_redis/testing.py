"""A dedicated redis-server process, for tests that kill, hang or restart Redis.

Such tests must not disturb the Redis other tests share, so they start one of these on a
free port, with its files in a directory of their own. Needs the ``redis-server`` binary
(Debian: ``apt-get install redis-server``).
"""

from __future__ import annotations

import shutil
import signal
import socket
import time
from pathlib import Path

from hitcount.core.testing.processes import Child, free_port

# Append-only file fsynced on every write: Redis then answers a write only once it is on
# disk, so every write that returned survives a kill -9 of the server (and a power loss),
# which is what Queue.publish promises. ``everysec`` survives a killed process in the common
# case too, but may lose the last second or two of acknowledged writes when fsync is slow.
DURABLE = ("--appendonly", "yes", "--appendfsync", "always")
START_TIMEOUT = 10.0


class RedisServer:
    """One redis-server on 127.0.0.1, started, killed, paused and restarted on the same port and files."""

    def __init__(self, directory: Path, *options: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (Debian: apt-get install -y redis-server)")
        self.port = free_port()
        self.directory = directory
        self.log = directory / "redis.log"
        self.command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory)]
        self.command += ["--save", "", *options]
        self.process: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING (having loaded its files)."""
        self.process = Child(self.command, self.log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.running():
            if self._answers():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {START_TIMEOUT} s; see {self.log}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                # A server with a password refuses PING until AUTH: it answers all the same.
                return connection.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def kill(self) -> None:
        """kill -9: the server gets no chance to save anything."""
        if self.process is not None:
            self.process.kill()
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, but nothing answers, as with a hung server."""
        assert self.process is not None
        self.process.send(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        assert self.process is not None
        self.process.send(signal.SIGCONT)
