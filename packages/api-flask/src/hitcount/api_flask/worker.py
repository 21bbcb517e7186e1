"""hitcount's gunicorn worker: gunicorn's ``gevent_pywsgi`` worker reading request heads without the email parser.

gevent's WSGI server reads header fields with :func:`http.client.parse_headers`, which
runs each request head through :mod:`email`'s feed parser (MIME parts, defects, policies),
the largest part of a worker's own CPU under single-hit Track traffic that hitcount could
change (py-spy; the A/B is in BENCHMARKS.md). An HTTP/1.1 head
is much simpler (RFC 9112 section 5): ``name: value`` lines up to an empty line, a name
being a token. :func:`read_head` reads exactly that, with the same limits as
:mod:`http.client` (line length, number of fields), and refuses what it does not accept
(obsolete line folding, a line without a colon, a name that is not a token) with a
``ValueError``, which gevent answers with 400, as RFC 9112 allows.

:class:`RequestHead` offers the methods gevent's server and gunicorn's handler call on
the parsed head (the interface of gevent's ``OldMessage``); first-value lookups,
duplicate fields kept in order, as with :mod:`email`.

It also bounds how long a client holds a connection without sending what it must, which
neither gevent's server nor gunicorn's ``gevent_pywsgi`` worker does (gunicorn's ``keepalive``
and ``timeout`` do not reach it): a stalled or trickling client would otherwise hold its
connection, a greenlet and a place in the worker's pool forever, and a few thousand of them
would leave no room for anyone else. A client has ``HITCOUNT_CLIENT_TIMEOUT`` to send each
request, head and body, counted from the connection (the first request) or from the first
byte of the request (the next ones), and an idle kept-alive connection waits at most
gunicorn's ``keepalive`` for that first byte. Then the connection is closed: with a 408 when
part of a request came (from the app, with its JSON body, when it is the body that is late),
silently when nothing did, as a kept-alive connection that a client may be about to reuse
must not get an answer to a request it has not sent yet.
"""

from __future__ import annotations

import io
import math
import os
import re
import socket
import time
from dataclasses import dataclass
from functools import partial
from typing import IO

from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from hitcount.api_flask.settings import CLIENT_TIMEOUT
from hitcount.core import Config

# http.client's limits: the longest header line and the most header fields.
MAX_LINE = 65536
MAX_FIELDS = 100
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_END = (b"\r\n", b"\n", b"")
_TIMEOUT_BODY = b'{"message": "the request did not arrive in time (HITCOUNT_CLIENT_TIMEOUT)"}'
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class InvalidHead(ValueError):
    """A request head this server refuses; gevent answers 400."""


class RequestHead:
    """The header fields of one request, in order, looked up case-insensitively (first value wins)."""

    __slots__ = ("fields", "status")

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields
        # gevent checks this for an error of parsing; errors raise here instead.
        self.status = ""

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self.fields:
            if key.lower() == name:
                return value
        return default

    getheader = get

    def __delitem__(self, name: str) -> None:
        name = name.lower()
        self.fields = [(key, value) for key, value in self.fields if key.lower() != name]

    @property
    def headers(self) -> list[str]:
        """The fields as ``name: value`` lines, as gevent builds the WSGI environ from them."""
        return [f"{key}: {value}\r\n" for key, value in self.fields]

    @property
    def typeheader(self) -> str | None:
        return self.get("content-type")

    def items(self) -> list[tuple[str, str]]:
        return list(self.fields)


def read_head(stream: IO[bytes]) -> RequestHead:
    """Read header fields from ``stream`` up to and including the empty line that ends them."""
    fields: list[tuple[str, str]] = []
    while True:
        line = stream.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise InvalidHead("header line too long")
        if line in _END:
            return RequestHead(fields)
        if len(fields) == MAX_FIELDS:
            raise InvalidHead(f"more than {MAX_FIELDS} header fields")
        text = line.decode("iso-8859-1")
        name, colon, value = text.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            # Also a line starting with whitespace: obsolete folding, or a space before the colon.
            raise InvalidHead(f"invalid header line {text.rstrip()!r}")
        fields.append((name, value.strip(" \t\r\n")))


class ClientTimeout(TimeoutError):
    """The client did not send its request in time; a socket error, as gevent expects of a read."""


@dataclass(frozen=True)
class Deadlines:
    """Seconds a client has to send a request (head and body), and an idle connection waits for the next."""

    request: float
    keepalive: float


class DeadlineReader(io.RawIOBase):
    """A connection's bytes, each read within the current request's deadline (:attr:`deadline`, monotonic)."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self.deadline = math.inf
        self.received = 0
        self.timed_out = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.timed_out = True
            raise ClientTimeout("the request did not arrive in time")
        self._connection.settimeout(remaining)
        try:
            count = self._connection.recv_into(buffer)
        except TimeoutError:
            self.timed_out = True
            raise ClientTimeout("the request did not arrive in time") from None
        self.received += count
        return count


class Handler(PyWSGIHandler):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's pywsgi handler, reading request heads with :func:`read_head`, each request within its deadlines."""

    rfile: io.BufferedReader

    def __init__(self, connection: socket.socket, address: object, server: object, deadlines: Deadlines) -> None:
        super().__init__(connection, address, server)
        self.rfile.close()  # the socket's own file, replaced by one that keeps the deadlines
        self._reader = DeadlineReader(connection)
        self.rfile = io.BufferedReader(self._reader)
        self._deadlines = deadlines
        self._requests = 0
        self._late_request_line = False

    def MessageClass(self, stream: IO[bytes], *args: object) -> RequestHead:
        return read_head(stream)

    def read_requestline(self) -> str:
        if self._requests:
            # A kept-alive connection: the next request must start within keepalive (a
            # timeout here closes the connection silently, as gevent does a socket error).
            self._reader.deadline = time.monotonic() + self._deadlines.keepalive
            self.rfile.peek(1)
        self._requests += 1
        self._reader.deadline = time.monotonic() + self._deadlines.request
        try:
            line: str = super().read_requestline()
        except ClientTimeout:
            self._late_request_line = self._requests > 1 or self._reader.received > 0
            raise
        return line

    def handle_one_request(self) -> object:
        self._late_request_line = False
        result = super().handle_one_request()
        if self._late_request_line:
            return self._request_timeout()
        return result

    def _handle_client_error(self, error: Exception) -> object:
        """A head that did not arrive in time gets 408; gevent answers other errors of the head (400)."""
        if isinstance(error, ClientTimeout):
            return self._request_timeout()
        return super()._handle_client_error(error)

    def _request_timeout(self) -> tuple[str, bytes]:
        """gevent's way of answering before the app: a status and the bytes to send, then close."""
        self.socket.settimeout(self._deadlines.request)
        return ("408", REQUEST_TIMEOUT)

    def handle_one_response(self) -> None:
        # The client also has its deadline to take the answer, rather than the time left to send.
        self.socket.settimeout(self._deadlines.request)
        super().handle_one_response()
        if self._reader.timed_out:  # the app answered a late body: what follows on the connection is unknown
            self.close_connection = True


class Worker(GeventPyWSGIWorker):  # type: ignore[misc]
    """gunicorn's ``gevent_pywsgi`` worker with :class:`Handler`, its deadlines from
    ``HITCOUNT_CLIENT_TIMEOUT`` and gunicorn's ``keepalive``."""

    def init_process(self) -> None:
        deadlines = Deadlines(Config(os.environ).get(CLIENT_TIMEOUT), float(self.cfg.keepalive))
        self.wsgi_handler = partial(Handler, deadlines=deadlines)
        super().init_process()
