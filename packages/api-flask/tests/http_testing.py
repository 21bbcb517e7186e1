"""Raw HTTP/1.1 over a socket, for the tests of the server itself: bytes sent as written, answers read as sent."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field

import pytest

# Seconds without a byte after the answers awaited that end a reading: on loopback, a server that
# closes after its answer has closed long before.
QUIET = 0.1


@dataclass
class Answer:
    status: int
    # Field names lowered, in the order sent.
    fields: list[tuple[str, str]]
    body: bytes

    def get(self, name: str) -> str | None:
        return next((value for key, value in self.fields if key == name.lower()), None)


@dataclass
class Exchange:
    """What the server sent back on one connection: its answers and whether it closed the connection."""

    answers: list[Answer] = field(default_factory=list)
    closed: bool = False
    # Bytes after the last whole answer (an answer cut short).
    rest: bytes = b""

    @property
    def statuses(self) -> list[int]:
        return [answer.status for answer in self.answers]

    @property
    def final(self) -> list[Answer]:
        """The answers without the interim ones (``100 Continue``)."""
        return [answer for answer in self.answers if answer.status >= 200]


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def parse_answers(data: bytes, head_request: bool = False) -> tuple[list[Answer], bytes]:
    """The whole answers at the start of ``data`` (Content-Length or chunked bodies), and what is left."""
    answers: list[Answer] = []
    while b"\r\n\r\n" in data:
        head, rest = data.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        fields = [(name.strip().lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines)]
        status = int(status_line.split()[1])
        found = dict(fields)
        if head_request or status in (204, 304) or status < 200:
            body = b""
        elif found.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                if b"\r\n" not in rest:
                    return answers, data
                size_line, rest = rest.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                if len(rest) < size + 2:
                    return answers, data
                body, rest = body + rest[:size], rest[size + 2 :]
                if size == 0:
                    break
        elif "content-length" in found:
            length = int(found["content-length"])
            if len(rest) < length:
                return answers, data
            body, rest = rest[:length], rest[length:]
        else:  # read until the close
            body, rest = rest, b""
        answers.append(Answer(status, fields, body))
        data = rest
    return answers, data


def exchange(
    url: str, *parts: bytes, timeout: float = 5.0, answers: int | None = None, head_request: bool = False
) -> Exchange:
    """Send ``parts`` on a fresh connection to ``url`` and read what comes back (:func:`converse`)."""
    with socket.create_connection(address(url), timeout=timeout) as connection:
        return converse(connection, *parts, answers=answers, head_request=head_request)


def converse(
    connection: socket.socket, *parts: bytes, answers: int | None = None, head_request: bool = False
) -> Exchange:
    """Send ``parts``, then read until the server closes the connection, or until it sent ``answers``
    answers and then nothing for a moment: the answers, and whether it closed."""
    received = b""
    closed = False
    with contextlib.suppress(OSError):  # the server may close before all of it is sent
        for part in parts:
            connection.sendall(part)
    while True:
        if answers is not None and len(Exchange(parse_answers(received, head_request)[0]).final) >= answers:
            connection.settimeout(QUIET)
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        received += chunk
    whole, rest = parse_answers(received, head_request)
    return Exchange(whole, closed, rest)


def post(body: bytes, *fields: str, target: str = "/analytics", version: str = "HTTP/1.1") -> bytes:
    """A POST of ``body`` with ``Content-Length`` (unless ``fields`` frame it otherwise) and ``fields``."""
    framing = (
        []
        if any(f.lower().startswith(("content-length", "transfer-encoding")) for f in fields)
        else [f"Content-Length: {len(body)}"]
    )
    head = "\r\n".join([f"POST {target} {version}", "Host: h", *fields, *framing, "", ""])
    return head.encode("latin-1") + body


# A request hidden in the body of another: a server that runs it was smuggled a hit.
HIDDEN = post(b'{"id": "smuggled"}')
CHUNKED_HIDDEN = b"0\r\n\r\n" + HIDDEN


def _with_head(request_line: bytes, *fields: bytes, body: bytes = HIDDEN) -> bytes:
    return b"\r\n".join([request_line, b"Host: h", *fields, b"", b""]) + body


TWO_CHUNKED_FIELDS = _with_head(
    b"POST /analytics HTTP/1.1", b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked", body=CHUNKED_HIDDEN
)
# Requests a server must refuse, each with a hit hidden where a lenient reading would find a second
# request, and the status it is refused with: 400, 501 for a transfer coding it does not know.
_SMUGGLING: list[tuple[str, bytes, int]] = [
    ("two-chunked-fields", TWO_CHUNKED_FIELDS, 400),
    (
        "gzip-chunked",
        _with_head(b"POST /analytics HTTP/1.1", b"Transfer-Encoding: gzip, chunked", body=CHUNKED_HIDDEN),
        501,
    ),
    ("identity", _with_head(b"POST /analytics HTTP/1.1", b"Transfer-Encoding: identity"), 501),
    (
        "identity-and-length",
        _with_head(b"POST /analytics HTTP/1.1", b"Transfer-Encoding: identity", b"Content-Length: 0"),
        400,
    ),
    (
        "two-lengths",
        _with_head(b"POST /analytics HTTP/1.1", b"Content-Length: 0", b"Content-Length: %d" % len(HIDDEN)),
        400,
    ),
    (
        "chunked-and-length",
        _with_head(
            b"POST /analytics HTTP/1.1", b"Transfer-Encoding: chunked", b"Content-Length: 5", body=CHUNKED_HIDDEN
        ),
        400,
    ),
    (
        "bad-chunk-size",
        _with_head(b"POST /analytics HTTP/1.1", b"Transfer-Encoding: chunked", body=b"zz\r\n" + CHUNKED_HIDDEN),
        400,
    ),
    (
        "chunked-in-http10",
        _with_head(b"POST /analytics HTTP/1.0", b"Transfer-Encoding: chunked", body=CHUNKED_HIDDEN),
        400,
    ),
    (
        "upgrade-with-body",
        _with_head(
            b"POST /analytics HTTP/1.1",
            b"Connection: Upgrade",
            b"Upgrade: websocket",
            b"Content-Length: 2",
            body=b"{}" + HIDDEN,
        ),
        400,
    ),
    ("length-plus", _with_head(b"POST /analytics HTTP/1.1", b"Content-Length: +35"), 400),
    ("length-underscore", _with_head(b"POST /analytics HTTP/1.1", b"Content-Length: 4_1"), 400),
    ("nul-in-value", _with_head(b"POST /analytics HTTP/1.1", b"X-A: a\x00b", b"Content-Length: 0"), 400),
    ("bare-cr-in-value", _with_head(b"POST /analytics HTTP/1.1", b"X-A: a\rb", b"Content-Length: 0"), 400),
    ("version-1.01", _with_head(b"POST /analytics HTTP/1.01", b"Content-Length: 0"), 400),
    ("version-1.1.1", _with_head(b"POST /analytics HTTP/1.1.1", b"Content-Length: 0"), 400),
    ("split-by-a0", _with_head(b"POST\xa0/analytics HTTP/1.1", b"Content-Length: 0"), 400),
    ("split-by-1f", _with_head(b"POST\x1f/analytics HTTP/1.1", b"Content-Length: 0"), 400),
    ("split-by-85", _with_head(b"POST /analytics\x85HTTP/1.1", b"Content-Length: 0"), 400),
    ("folded-field", _with_head(b"POST /analytics HTTP/1.1", b"X-A: a", b" b", b"Content-Length: 0"), 400),
    ("space-before-colon", _with_head(b"POST /analytics HTTP/1.1", b"Content-Length : 0"), 400),
]
# The same as test parameters (request, status), named.
SMUGGLING = [pytest.param(data, status, id=name) for name, data, status in _SMUGGLING]
