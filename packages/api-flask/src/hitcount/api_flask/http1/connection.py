"""One client connection, served: requests read within their deadlines, each passed to the WSGI app, the
answers to everything read so far sent at once.

Deadlines (the client timeout and gunicorn's ``keepalive``): a client has the
client timeout to send each request, head and body, counted from the connection for the
first request and from its first byte for the next ones; a kept-alive connection waits at
most ``keepalive`` for that first byte. Then the connection is closed: with a 408 when part
of a request came, silently when nothing did, as a kept-alive connection that a client may
be about to reuse must not get an answer to a request it has not sent. So a stalled or
trickling client holds its greenlet and its place in the worker's pool for a bounded time.
The connection only notes its :attr:`~Connection.deadline`; :mod:`.deadlines` enforces it.

A request reaches the app once its whole body is here (bodies are bounded by the largest
body of :class:`~hitcount.api_flask.tuning.Tuning`): the app reads ``wsgi.input`` from memory,
never from the socket, so no deadline is met inside it. Its answer is collected whole, given ``Content-Length`` and
``Date`` where it has none, and sent with those of the other requests already read
(pipelining), in one ``send``.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Protocol

import gevent
import orjson

from hitcount.api_flask.http1.deadlines import Deadlines
from hitcount.api_flask.http1.framing import Framer, Refusal, Request

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger(__name__)

RECEIVE_SIZE = 65536
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Statuses whose answers have no body (RFC 9110 section 6.4.1), so no Content-Length is added.
_BODILESS = ("1", "204", "304")
# After a refusal, the client's unread bytes are read and dropped for this long at most before
# closing: a close with unread bytes sends a reset, which can destroy the answer in transit.
LINGER = 1.0
LINGER_BYTES = 1 << 20
_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}
TIMEOUT_MESSAGE = "the request did not arrive within the client timeout"


class AccessLog(Protocol):
    """What a connection tells of each request the app answered: its environ, the status line's text after
    the version, and the app's time in seconds (``HITCOUNT_ACCESS_LOG``, through the worker)."""

    def __call__(self, environ: dict[str, Any], status: str, took: float) -> None: ...


def error_answer(status: int, message: str) -> bytes:
    """The server's own answer: JSON like every answer of the API, then the connection closes."""
    body = orjson.dumps({"message": message})
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"
        b"Connection: close\r\nDate: %s\r\nContent-Length: %d\r\n\r\n%s"
        % (status, _REASONS[status].encode(), _date().encode(), len(body), body)
    )


_date_cache: tuple[int, str] = (0, "")


def _date() -> str:
    """The ``Date`` field's value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


class Limits:
    """What a connection allows its client: seconds per request, seconds idle between requests, body bytes."""

    __slots__ = ("keepalive", "max_body", "request_timeout")

    def __init__(self, request_timeout: float, keepalive: float, max_body: int) -> None:
        self.request_timeout = request_timeout
        self.keepalive = keepalive
        self.max_body = max_body


class Connection:
    """Serves the requests of one client socket until either side closes it (:meth:`serve`), within the
    deadlines that ``deadlines`` keeps."""

    __slots__ = (
        "_access_log",
        "_app",
        "_closing",
        "_deadlines",
        "_framer",
        "_limits",
        "_next_request",
        "_served",
        "_socket",
        "deadline",
    )

    def __init__(
        self,
        client: socket.socket,
        app: WSGIApplication,
        base_environ: dict[str, Any],
        limits: Limits,
        deadlines: Deadlines,
        *,
        next_request: Callable[[], bool],
        access_log: AccessLog | None = None,
    ) -> None:
        self._socket = client
        self._app = app
        self._limits = limits
        self._deadlines = deadlines
        self._framer = Framer(base_environ, limits.max_body)
        # Called once per request: False when the worker stops after it (gunicorn's max_requests, a shutdown).
        self._next_request = next_request
        self._access_log = access_log
        self._closing = False
        self._served = 0  # requests answered
        # When the client's time is up (monotonic); the first request's counts from the connection.
        self.deadline = time.monotonic() + limits.request_timeout

    def serve(self) -> None:
        """Read, frame, answer until the client closes, its time is up, or a request closes the connection."""
        self._deadlines.watch(self)
        try:
            self._serve()
        except OSError:  # the client went away, or its time is up and the socket was closed
            return
        finally:
            self._deadlines.forget(self)

    def _serve(self) -> None:
        client = self._socket
        framer = self._framer
        limits = self._limits
        # The deadline of the request being received: the first's counts from the connection.
        request_deadline = self.deadline
        while True:
            data = client.recv(RECEIVE_SIZE)
            if not data:
                return
            read_at = time.monotonic()
            if not framer.in_message and self._served:  # the first byte of a request on a kept-alive connection
                request_deadline = read_at + limits.request_timeout
            self.deadline = request_deadline
            refusal = None
            try:
                framer.feed(data)
            except Refusal as error:
                refusal = error
            answered = bool(framer.requests)
            answers = self._answer(framer.requests) if answered else b""
            if refusal is not None:
                self._send(answers + error_answer(refusal.status, refusal.message))
                return self._linger()
            if framer.wants_continue and not self._closing:
                framer.wants_continue = False
                answers += CONTINUE
            if answers:
                self._send(answers)
                # Let the worker's other connections have their turn: a client whose next request is
                # already here would otherwise be served again and again while theirs wait.
                gevent.sleep(0)
            if self._closing:
                return
            if framer.in_message:
                if answered:  # the request still coming began in this read, after those answered
                    request_deadline = read_at + limits.request_timeout
                self.deadline = request_deadline
            else:
                self.deadline = time.monotonic() + limits.keepalive

    def _send(self, data: bytes) -> None:
        """Send ``data``; the client has its request timeout to take it."""
        self.deadline = time.monotonic() + self._limits.request_timeout
        # send, not sendall: gevent's sendall asks the socket its buffer size on every call, and an
        # answer almost always goes out whole in one send.
        sent = self._socket.send(data)
        if sent < len(data):
            self._socket.sendall(memoryview(data)[sent:])

    def expire(self) -> None:
        """The client's time is up (:class:`~.deadlines.Deadlines`): a 408 if part of a request came, then close.

        Called from another greenlet: nothing here may wait, so the 408 goes out only if the
        socket takes it at once (it is small), and closing the socket fails the connection's
        pending read or write.
        """
        client = self._socket
        try:
            if self._framer.in_message:
                client.settimeout(0.0)
                client.send(error_answer(408, TIMEOUT_MESSAGE))
        except OSError:
            pass
        finally:
            client.close()

    def _answer(self, requests: list[Request]) -> bytes:
        """The answers to ``requests``, in order, as one buffer; a request that closes the connection ends it."""
        answers = []
        self.deadline = math.inf  # the app's own deadlines bound its work, not the client's
        for request in requests:
            if self._closing:
                break
            if not request.keep_alive or self._framer.upgraded or not self._next_request():
                self._closing = True
            answers.append(self._respond(request))
            self._served += 1
        requests.clear()
        return answers[0] if len(answers) == 1 else b"".join(answers)

    def _respond(self, request: Request) -> bytes:
        """Call the app on ``request``; its answer as bytes to send."""
        environ = request.environ
        started = time.monotonic()
        response: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            if exc_info is not None and response:
                # Nothing was sent yet (answers are sent whole): the error's answer replaces the first.
                response.clear()
            response[:] = [status, headers]
            return chunks.append

        chunks: list[bytes] = []
        try:
            result = self._app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status, headers = response
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            head = self._head(status, headers, environ, len(body))
        except Exception:
            log.exception("the app failed to answer %s %s", environ["REQUEST_METHOD"], environ["RAW_URI"])
            self._closing = True
            return error_answer(500, "internal error; it was logged")
        if environ["REQUEST_METHOD"] == "HEAD":
            body = b""
        if self._access_log is not None:
            self._access_log(environ, status, time.monotonic() - started)
        return head + body

    def _head(self, status: str, headers: list[tuple[str, str]], environ: dict[str, Any], length: int) -> bytes:
        """The status line and fields of an answer, with ``Date``, ``Content-Length`` and ``Connection`` added."""
        lines = ["HTTP/1.1 ", status, "\r\n"]
        has_length = has_date = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                has_length = True
            elif lowered == "date":
                has_date = True
            lines += (name, ": ", value, "\r\n")
        added = 0
        if not has_length and not status.startswith(_BODILESS):
            lines += ("Content-Length: ", str(length), "\r\n")
            added += 1
        if self._closing:
            lines.append("Connection: close\r\n")
            added += 1
        elif environ["SERVER_PROTOCOL"] == "HTTP/1.0":
            lines.append("Connection: keep-alive\r\n")
            added += 1
        if not has_date:
            lines += ("Date: ", _date(), "\r\n")
            added += 1
        lines.append("\r\n")
        text = "".join(lines)
        # A CR or LF inside the status or a field would make the answer read as several.
        breaks = len(headers) + added + 2
        if text.count("\n") != breaks or text.count("\r") != breaks:
            raise ValueError(f"the app answered a status or a header field holding a line break: {status!r}")
        return text.encode("latin-1")

    def _linger(self) -> None:
        """Close our side, then drop what the client still sends for a while, so that our answer reaches it."""
        client = self._socket
        client.shutdown(socket.SHUT_WR)
        self.deadline = time.monotonic() + LINGER
        dropped = 0
        while dropped < LINGER_BYTES and (data := client.recv(RECEIVE_SIZE)):
            dropped += len(data)
