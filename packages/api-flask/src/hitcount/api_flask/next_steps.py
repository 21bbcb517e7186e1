"""What ``hitcount serve`` prints once the API answers: requests to try and a page's tags, for the address
it serves (``HITCOUNT_BIND``), and the settings a page of another origin needs.

A newcomer's first question after ``make run`` is "now what?", and the second is why a page's
counter stays empty: hitcount.js sends hits from any page, but with ``HITCOUNT_CORS_ORIGINS=*``
a page shows only the counts of ``HITCOUNT_PUBLIC_IDS`` (:mod:`.cors`). Both are answered
here, from the settings in force. Kept free of Flask and gevent: every ``hitcount`` command
loads the plugin that imports this.
"""

from __future__ import annotations

import socket
import textwrap
from dataclasses import dataclass

from hitcount.api_flask.settings import BIND, CORS_ORIGINS, PUBLIC_IDS, READ_TOKENS
from hitcount.core import Config, Runtime

# The id of the examples, as in README.md's.
ID = "hello"
# Hosts a server listens on everywhere, and the one to reach it at from this machine.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}
# gunicorn's port when HITCOUNT_BIND names a host alone.
DEFAULT_PORT = 8000
PROBE_TIMEOUT = 1.0
# Prose is wrapped to this many characters, as a terminal shows it.
WIDTH = 98


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


def started(runtime: Runtime) -> str | None:
    """None until the API answers at ``HITCOUNT_BIND``; then what to try next (:func:`text`)."""
    address = Address.of(runtime.config.get(BIND))
    if address is None:
        return ""
    return text(address, runtime.config) if address.answers() else None


def text(address: Address, config: Config) -> str:
    """The "try this next" block for the API at ``address`` with the settings of ``config``."""
    url, curl = address.url, address.curl
    tokens: tuple[str, ...] = config.get(READ_TOKENS)
    authorization = " -H 'Authorization: Bearer <a token of HITCOUNT_READ_TOKENS>'" if tokens else ""
    lines = [
        f"hitcount serves {url} (Ctrl-C stops it). Try this next:",
        "",
        "  Track a hit, then read its counts back (the indexer stores it within seconds):",
        f'    {curl} -i -X POST {url}/analytics -d \'{{"id": "{ID}"}}\'',
        f"    {curl} -s{authorization} {url}/analytics/{ID}",
        "",
        "  Count a page's views, show its count, and a badge (HTML of the page):",
        f'    <script defer src="{url}/hitcount.js" data-id="{ID}"></script>',
        f'    <span data-hitcount-count="{ID}">...</span>',
        f'    <img src="{url}/badge.svg?id={ID}" alt="hits">',
    ]
    other_origins = _other_origins(config.get(CORS_ORIGINS), config.get(PUBLIC_IDS), bool(tokens))
    wrapped = textwrap.wrap(other_origins, WIDTH, initial_indent="  ", subsequent_indent="  ", break_long_words=False)
    return "\n".join([*lines, "", *wrapped])


def _other_origins(origins: tuple[str, ...], public: tuple[str, ...], tokens: bool) -> str:
    """What a page of another origin than the API's may do (yours, on a port of its own), and the settings
    that let it do more: the rules of :mod:`.cors` and :mod:`.access`, in the words of README.md."""
    public_ids = f"the ids of {PUBLIC_IDS.name} ({','.join(public) or 'none set'})"
    if tokens:
        only_public = f"their counters and badges show only {public_ids}, as a page cannot keep a read token"
    if "*" not in origins:
        listed = f"Only pages of {', '.join(origins)} send hits and show counts ({CORS_ORIGINS.name}): add yours there"
        return f"{listed}; {only_public}." if tokens else f"{listed}."
    sends = f"Pages of any origin send hits ({CORS_ORIGINS.name}=*)"
    if "*" in public and not tokens:
        return (
            f"{sends} and show every count ({PUBLIC_IDS.name}=*, as hitcount serve sets it for work on this"
            " machine; a deployment chooses its own: README.md, Defaults)."
        )
    if tokens:
        return f"{sends}, but {only_public}: list there the ids pages may show."
    return (
        f"{sends}, but their counters show only {public_ids}: list there the ids pages may show"
        f" ({PUBLIC_IDS.name}={ID}, or glob patterns such as 'blog/*'), or set {CORS_ORIGINS.name} to your"
        " pages' origins (http://localhost:3000) to show every count on them."
    )
