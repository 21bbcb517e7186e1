"""From a connection's bytes to requests: llhttp (through ``httptools``) frames them, this module refuses
what a server must not take.

llhttp in its strict default already refuses most of what request smuggling is made of:
two ``Content-Length`` fields, a ``Content-Length`` that is not digits, ``Transfer-Encoding``
beside ``Content-Length``, ``chunked`` twice, malformed chunk sizes, NUL, a bare CR or other
controls in a field, obsolete line folding, a request line split by anything but a space,
and versions such as ``HTTP/1.01``. What it leaves to its caller, :class:`Framer` refuses
once the head is complete (RFC 9112), before the request can reach the app:

- a transfer coding other than ``chunked`` alone (``gzip, chunked``, ``identity``): 501,
  since this server would not undo it; ``Transfer-Encoding`` in an HTTP/1.0 request: 400;
- a version other than HTTP/1.0 and HTTP/1.1 (HTTP/0.9, ``HTTP/2.0`` on this wire): 505;
- an upgrade (``Connection: upgrade`` with ``Upgrade``, or ``CONNECT``) whose request has a
  body: llhttp would take the body for the upgraded protocol's bytes, so 400; one without a
  body is answered as a plain request and its connection then closed;
- a request target over :data:`MAX_TARGET` bytes: 414; more than :data:`MAX_FIELDS` fields,
  or a head over :data:`MAX_HEAD` bytes: 431; a body over the server's limit: 413.

Every refusal is a :class:`Refusal`; the connection answers it and closes, whatever follows.
Fields with an underscore in their name are left out of the environ, as gevent's server
does: ``X_Forwarded_For`` would otherwise arrive as ``HTTP_X_FORWARDED_FOR``.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import unquote_to_bytes

import httptools

# The longest request target, the most header fields and the largest head (request line and
# fields) a request may have; gevent's server had the first two, http.client's the last two.
MAX_TARGET = 8192
MAX_FIELDS = 100
MAX_HEAD = 65536

# Environ keys of header names, filled as names are met (at most this many: names are the client's).
_KEYS_KEPT = 512
_KEYS: dict[bytes, str | None] = {b"Content-Type": "CONTENT_TYPE", b"Content-Length": "CONTENT_LENGTH"}
_METHODS: dict[bytes, str] = {}
_VERSIONS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}


class Refusal(Exception):
    """A request this server will not take: answered with ``status`` and ``message``, then the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def environ_key(name: bytes) -> str | None:
    """The WSGI environ key of header field ``name`` (``HTTP_X_FOO``), None for a name holding ``_``."""
    key = _KEYS.get(name)
    if key is None and name not in _KEYS:
        text = name.decode("latin-1")
        lowered = text.lower()
        if lowered in {"content-type", "content-length"}:
            key = lowered.upper().replace("-", "_")
        elif "_" not in text:
            key = "HTTP_" + text.upper().replace("-", "_")
        if len(_KEYS) < _KEYS_KEPT:
            _KEYS[name] = key
    return key


class Request:
    """One framed request: its WSGI environ (with ``wsgi.input`` holding the whole body) and whether the
    connection may serve another request after it."""

    __slots__ = ("environ", "keep_alive")

    def __init__(self, environ: dict[str, Any], keep_alive: bool) -> None:
        self.environ = environ
        self.keep_alive = keep_alive


class Framer:
    """``httptools``' protocol for one connection: :meth:`feed` it bytes, take the complete :attr:`requests`."""

    __slots__ = (
        "_base",
        "_body",
        "_body_size",
        "_chunked",
        "_environ",
        "_fields",
        "_head_bytes",
        "_in_head",
        "_max_body",
        "_parser",
        "_target",
        "in_message",
        "requests",
        "upgraded",
        "wants_continue",
    )

    def __init__(self, base_environ: dict[str, Any], max_body: int) -> None:
        self._base = base_environ
        self._max_body = max_body
        self._parser = httptools.HttpRequestParser(self)
        self._environ: dict[str, Any] = {}
        self._target = b""
        self._fields: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._in_head = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._chunked = False
        # Requests framed and not yet taken, in the order they came.
        self.requests: list[Request] = []
        # Part of a request came and the rest has not.
        self.in_message = False
        # The request in progress asked for "100 Continue" before it sends its body.
        self.wants_continue = False
        # A request asked to switch protocols; its connection serves nothing after it.
        self.upgraded = False

    def feed(self, data: bytes) -> None:
        """Frame ``data``; :class:`Refusal` when a request breaks the rules (the requests before it are kept)."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.upgraded = True
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, Refusal):
                raise error.__context__ from None
            raise
        except httptools.HttpParserError as error:
            if self.requests and not self.requests[-1].keep_alive:
                return  # bytes after a request that closes the connection: never read, never answered
            raise Refusal(400, f"malformed request: {error}") from None
        if self._in_head:  # a head still coming, whose bytes llhttp and httptools hold meanwhile
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                raise Refusal(431, f"the request head is over {MAX_HEAD} bytes")

    def on_message_begin(self) -> None:
        self.in_message = True
        self._in_head = True
        self._head_bytes = 0
        self._environ = self._base.copy()
        self._target = b""
        self._fields = []
        self._body = []
        self._body_size = 0
        self._chunked = False

    def on_url(self, url: bytes) -> None:
        self._target += url
        if len(self._target) > MAX_TARGET:
            raise Refusal(414, f"the request target is over {MAX_TARGET} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_head:  # not a chunked body's trailer fields, which are not part of the request's head
            fields = self._fields
            fields.append((name, value))
            if len(fields) > MAX_FIELDS:
                raise Refusal(431, f"the request has more than {MAX_FIELDS} header fields")

    def _add_fields(self, environ: dict[str, Any]) -> None:
        """The fields into the environ; a head over :data:`MAX_HEAD` bytes is refused."""
        size = len(self._target)
        for name, value in self._fields:
            size += len(name) + len(value) + 4  # as sent: "name: value\r\n"
            key = environ_key(name)
            if key is None:
                continue
            text = value.rstrip(b" \t").decode("latin-1")
            if key in environ:  # one value of repeated fields, as RFC 9110 (and RFC 6265 for cookies) joins them
                environ[key] += ("; " if key == "HTTP_COOKIE" else ",") + text
            else:
                environ[key] = text
        if size > MAX_HEAD:
            raise Refusal(431, f"the request head is over {MAX_HEAD} bytes")

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        environ = self._environ
        self._add_fields(environ)
        protocol = _VERSIONS.get(parser.get_http_version())
        if protocol is None:
            raise Refusal(505, "only HTTP/1.1 and HTTP/1.0 are served")
        coding = environ.get("HTTP_TRANSFER_ENCODING")
        if coding is not None:
            if protocol == "HTTP/1.0":
                raise Refusal(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request")
            if coding.strip().lower() != "chunked":
                raise Refusal(501, "the only transfer coding served is chunked, alone")
            self._chunked = True
            environ["wsgi.input_terminated"] = True
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if parser.should_upgrade() and (length or self._chunked):
            raise Refusal(400, "a request asking to switch protocols may not have a body")
        if length > self._max_body:
            raise Refusal(413, f"the body is over the limit of {self._max_body} bytes")
        if (length or self._chunked) and protocol == "HTTP/1.1":
            self.wants_continue = environ.get("HTTP_EXPECT", "").lower() == "100-continue"
        method = parser.get_method()
        environ["REQUEST_METHOD"] = _METHODS.get(method) or _METHODS.setdefault(method, method.decode("ascii"))
        environ["SERVER_PROTOCOL"] = protocol
        target = self._target
        environ["RAW_URI"] = target.decode("latin-1")
        if not target.startswith(b"/"):
            target = _origin_form(target)
        path, _, query = target.partition(b"?")
        environ["PATH_INFO"] = (unquote_to_bytes(path) if b"%" in path else path).decode("latin-1")
        environ["QUERY_STRING"] = query.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._max_body:
            raise Refusal(413, f"the body is over the limit of {self._max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        self.wants_continue = False
        body = self._body
        self._environ["wsgi.input"] = io.BytesIO(body[0] if len(body) == 1 else b"".join(body))
        keep_alive = self._parser.should_keep_alive() and not self._parser.should_upgrade()
        self.requests.append(Request(self._environ, keep_alive))


def _origin_form(target: bytes) -> bytes:
    """The path and query of an absolute-form target (``http://host/path?q``); ``*`` and the like as they are."""
    if b"://" not in target:
        return target
    url = httptools.parse_url(target)
    path = url.path or b"/"
    return path + b"?" + url.query if url.query else path
