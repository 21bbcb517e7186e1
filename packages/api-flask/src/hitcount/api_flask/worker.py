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
"""

from __future__ import annotations

import re
from typing import IO

from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

# http.client's limits: the longest header line and the most header fields.
MAX_LINE = 65536
MAX_FIELDS = 100
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_END = (b"\r\n", b"\n", b"")


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


class Handler(PyWSGIHandler):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's pywsgi handler, reading request heads with :func:`read_head`."""

    def MessageClass(self, stream: IO[bytes], *args: object) -> RequestHead:
        return read_head(stream)


class Worker(GeventPyWSGIWorker):  # type: ignore[misc]
    """gunicorn's ``gevent_pywsgi`` worker with :class:`Handler`."""

    wsgi_handler = Handler
