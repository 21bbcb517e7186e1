"""Where the API is reached (``HITCOUNT_BIND``) from this machine, and whether something answers there.

``hitcount serve`` names it in what to try next and waits for it to answer; ``hitcount api``
looks there before it starts, so that an address already taken is one line naming the setting
rather than gunicorn's five "Can't connect" retries. Kept free of Flask and gevent.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

# Hosts a server listens on everywhere, and the one to reach it at from this machine.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}
# gunicorn's port when HITCOUNT_BIND names a host alone.
DEFAULT_PORT = 8000
PROBE_TIMEOUT = 1.0


@dataclass(frozen=True)
class Address:
    """Where the API is reached: its host and port or its Unix socket's path, the URL a page or curl names,
    and curl's command with its options."""

    target: tuple[str, int] | str
    url: str
    curl: str = "curl"

    @classmethod
    def of(cls, bind: str) -> Address | None:
        """The address ``HITCOUNT_BIND`` serves; None for a file descriptor (``fd://3``), reachable by no name."""
        if bind.startswith("fd://"):
            return None
        if bind.startswith("unix:"):
            path = bind.removeprefix("unix:").removeprefix("//")
            return cls(path, "http://localhost", f"curl --unix-socket {path}")
        rest = bind.removeprefix("tcp://")
        if rest.startswith("["):  # [v6]:port or [v6]
            host, _, port = rest[1:].partition("]")
            port = port.removeprefix(":")
        elif rest.count(":") == 1:  # host:port (a bare v6 address has at least two colons)
            host, _, port = rest.partition(":")
        else:  # a host alone
            host, port = rest, ""
        number = int(port) if port.isdigit() else DEFAULT_PORT
        host = _WILDCARDS.get(host, host)
        shown = f"[{host}]" if ":" in host else host
        return cls((host, number), f"http://{shown}:{number}")

    def taken(self) -> bool:
        """Whether something already accepts connections there (another server, or an API left running)."""
        try:
            with _connect(self.target):
                return True
        except OSError:
            return False

    def answers(self) -> bool:
        """Whether a worker answers ``GET /healthz``: a connection alone says nothing, since the system accepts
        it as soon as gunicorn's master listens, before any worker has booted."""
        try:
            with _connect(self.target) as connection:
                connection.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
                status_line = connection.recv(64).split(b"\r\n", 1)[0]
        except OSError:
            return False
        return status_line.split(b" ")[1:2] == [b"200"]


def _connect(target: tuple[str, int] | str) -> socket.socket:
    """A connection to ``target`` (host and port, or a Unix socket's path), waiting :data:`PROBE_TIMEOUT` at most."""
    if isinstance(target, tuple):
        return socket.create_connection(target, PROBE_TIMEOUT)
    connection = socket.socket(socket.AF_UNIX)
    try:
        connection.settimeout(PROBE_TIMEOUT)
        connection.connect(target)
    except OSError:
        connection.close()
        raise
    return connection
