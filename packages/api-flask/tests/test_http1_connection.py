"""hitcount's HTTP/1.1 connection, served in-process over a socket pair: framing, limits, deadlines, answers.

The connection runs in a greenlet and the test talks to it through gevent's sockets, whose
waits let it run (this process is not monkey-patched): sleep with ``gevent.sleep``."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import echo_app
import gevent
import gevent.socket
import pytest
from http_testing import SMUGGLING, TWO_CHUNKED_FIELDS, Exchange, converse, post

from hitcount.api_flask.http1.connection import Connection, Limits
from hitcount.api_flask.http1.deadlines import Deadlines
from hitcount.api_flask.http1.framing import MAX_FIELDS, MAX_HEAD, MAX_TARGET

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

BASE_ENVIRON = {"wsgi.version": (1, 0), "wsgi.url_scheme": "http", "SCRIPT_NAME": "", "REMOTE_ADDR": "127.0.0.1"}
MAX_BODY = 1024


class CountingSocket(gevent.socket.socket):  # type: ignore[misc]  # gevent is untyped
    """A socket that keeps what was sent through it, one item per ``send`` (which ``sendall`` calls)."""

    sends: list[bytes]

    def send(self, data: Any, flags: int = 0) -> int:
        self.sends.append(bytes(data))
        sent: int = super().send(data, flags)
        return sent


class Served:
    """The client's end of a connection that a :class:`Connection` serves in a thread, and what the app saw."""

    def __init__(self, client: socket.socket, server: CountingSocket) -> None:
        self.client = client
        self.server = server
        self.calls: list[dict[str, Any]] = []
        self.greenlet: gevent.Greenlet | None = None

    def send(self, *parts: bytes, answers: int | None = None) -> Exchange:
        return converse(self.client, *parts, answers=answers)

    def ended(self) -> bool:
        assert self.greenlet is not None
        self.greenlet.join(5)
        return bool(self.greenlet.dead)


@contextmanager
def served(
    app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]] = echo_app.app,
    request_timeout: float = 5.0,
    keepalive: float = 5.0,
    next_request: Callable[[], bool] = lambda: True,
) -> Iterator[Served]:
    server_end, client_end = gevent.socket.socketpair()
    server = CountingSocket(server_end.family, server_end.type, fileno=server_end.detach())
    server.sends = []
    client_end.settimeout(10)
    result = Served(client_end, server)

    def recording(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        result.calls.append(environ)
        return app(environ, start_response)

    limits = Limits(request_timeout, keepalive, MAX_BODY)
    connection = Connection(server, recording, BASE_ENVIRON, limits, Deadlines(tick=0.05), next_request=next_request)

    def serve() -> None:
        try:
            connection.serve()
        finally:
            server.close()  # as the worker does once a connection is served

    result.greenlet = gevent.spawn(serve)
    try:
        yield result
    finally:
        client_end.close()
        result.ended()


def get(target: str = "/", *fields: str, method: str = "GET", version: str = "HTTP/1.1") -> bytes:
    return "\r\n".join([f"{method} {target} {version}", "Host: h", *fields, "", ""]).encode("latin-1")


def echoed(exchange: Exchange, index: int = 0) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(exchange.answers[index].body)
    return document


def test_an_answer_carries_the_apps_status_fields_and_body_with_length_and_date() -> None:
    with served() as connection:
        exchange = connection.send(post(b'{"id": "a"}', "Content-Type: text/plain"), answers=1)
    [answer] = exchange.answers
    assert (answer.status, answer.get("content-type")) == (200, "application/json")
    assert int(answer.get("content-length") or -1) == len(answer.body)
    assert (answer.get("date") or "").endswith(" GMT")
    document = echoed(exchange)
    assert document["body"] == '{"id": "a"}'
    assert (document["REQUEST_METHOD"], document["PATH_INFO"]) == ("POST", "/analytics")
    assert document["CONTENT_TYPE"] == "text/plain"
    assert not exchange.closed


def test_pipelined_requests_are_answered_in_order_in_one_send() -> None:
    requests = [post(f'{{"id": "{n}"}}'.encode()) for n in range(3)]
    with served() as connection:
        exchange = connection.send(b"".join(requests), answers=3)
        sends = list(connection.server.sends)
    assert [echoed(exchange, n)["body"] for n in range(3)] == [f'{{"id": "{n}"}}' for n in range(3)]
    assert len(sends) == 1


def test_a_head_request_gets_the_fields_of_a_get_and_no_body() -> None:
    with served() as connection:
        connection.client.sendall(get("/x", method="HEAD") + get("/status/204"))
        gevent.sleep(0.3)
        data = connection.client.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Length: " in head
    assert not head.endswith(b"Content-Length: 0")
    assert rest.startswith(b"HTTP/1.1 204 ")  # the next answer follows at once: no body was sent


def test_no_length_is_added_to_answers_that_have_no_body() -> None:
    with served() as connection:
        exchange = connection.send(get("/status/204"), get("/status/304"), answers=2)
    assert exchange.statuses == [204, 304]
    assert [answer.get("content-length") for answer in exchange.answers] == [None, None]


def test_connection_close_is_answered_then_the_connection_closed_and_nothing_after_read() -> None:
    with served() as connection:
        exchange = connection.send(get("/a", "Connection: close") + get("/b"))
        assert connection.ended()
    assert exchange.statuses == [200]
    assert exchange.answers[0].get("connection") == "close"
    assert exchange.closed
    assert [call["PATH_INFO"] for call in connection.calls] == ["/a"]


def test_http_10_closes_unless_kept_alive_and_says_so() -> None:
    with served() as connection:
        kept = connection.send(get("/a", "Connection: keep-alive", version="HTTP/1.0"), answers=1)
        closing = connection.send(get("/b", version="HTTP/1.0"))
    assert (kept.answers[0].get("connection"), kept.closed) == ("keep-alive", False)
    assert echoed(kept)["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert (closing.answers[0].get("connection"), closing.closed) == ("close", True)


def test_expect_100_continue_gets_continue_before_the_body_is_sent() -> None:
    body = b'{"id": "later"}'
    with served() as connection:
        head = post(body, "Expect: 100-continue").removesuffix(body)
        connection.client.sendall(head)
        assert connection.client.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        exchange = connection.send(body, answers=1)
    assert echoed(exchange)["body"] == body.decode()


def test_expect_100_continue_with_its_body_already_sent_gets_only_the_answer() -> None:
    with served() as connection:
        exchange = connection.send(post(b"{}", "Expect: 100-continue"), answers=1)
    assert exchange.statuses == [200]
    assert exchange.rest == b""


def test_a_chunked_body_reaches_the_app_whole_and_trailer_fields_do_not() -> None:
    chunks = b'4\r\n{"id\r\n7;ext=1\r\n": "c"}\r\n0\r\nX-Trailer: t\r\n\r\n'
    with served() as connection:
        exchange = connection.send(post(chunks, "Transfer-Encoding: chunked"), answers=1)
    document = echoed(exchange)
    assert document["body"] == '{"id": "c"}'
    assert "CONTENT_LENGTH" not in document
    assert "HTTP_X_TRAILER" not in document
    assert connection.calls[0]["wsgi.input_terminated"] is True


def test_the_environ_decodes_the_path_joins_repeated_fields_and_drops_names_with_underscores() -> None:
    target = "/analytics/caf%C3%A9%2Fx?a=1&b=%20"
    with served() as connection:
        fields = ("X-Many: 1", "X-Many: 2", "X_Forwarded_For: 6.6.6.6", "X-Pad: v  ")
        exchange = connection.send(get(target, *fields), answers=1)
    document = echoed(exchange)
    assert document["PATH_INFO"] == "/analytics/caf\u00c3\u00a9/x"  # PEP 3333: the bytes as Latin-1
    assert document["QUERY_STRING"] == "a=1&b=%20"
    assert (document["HTTP_X_MANY"], document["HTTP_X_PAD"]) == ("1,2", "v")
    assert "HTTP_X_FORWARDED_FOR" not in document
    assert connection.calls[0]["RAW_URI"] == target


def test_an_absolute_form_target_gives_its_path_and_query() -> None:
    with served() as connection:
        exchange = connection.send(get("http://h:80/analytics/a?x=1"), answers=1)
    assert (echoed(exchange)["PATH_INFO"], echoed(exchange)["QUERY_STRING"]) == ("/analytics/a", "x=1")


def test_an_upgrade_without_a_body_is_answered_as_a_plain_request_then_closed() -> None:
    with served() as connection:
        exchange = connection.send(get("/a", "Connection: Upgrade", "Upgrade: h2c") + get("/b"))
    assert exchange.statuses == [200]
    assert exchange.closed
    assert [call["PATH_INFO"] for call in connection.calls] == ["/a"]


@pytest.mark.parametrize(("request_bytes", "status"), SMUGGLING)
def test_a_request_that_could_smuggle_another_is_refused_and_its_connection_closed(
    request_bytes: bytes, status: int
) -> None:
    with served() as connection:
        exchange = connection.send(request_bytes)
    assert exchange.statuses == [status]
    assert exchange.closed
    assert connection.calls == []
    answer = exchange.answers[0]
    assert (answer.get("content-type"), answer.get("connection")) == ("application/json", "close")
    assert json.loads(answer.body)["message"]


def test_the_requests_before_a_refused_one_are_answered() -> None:
    with served() as connection:
        exchange = connection.send(get("/first") + TWO_CHUNKED_FIELDS)
    assert exchange.statuses == [200, 400]
    assert [call["PATH_INFO"] for call in connection.calls] == ["/first"]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (post(b"x" * (MAX_BODY + 1)), 413),
        (post(b"%x\r\n%s\r\n0\r\n\r\n" % (MAX_BODY + 1, b"x" * (MAX_BODY + 1)), "Transfer-Encoding: chunked"), 413),
        (get("/" + "a" * MAX_TARGET), 414),
        (get("/", *(f"X-{n}: v" for n in range(MAX_FIELDS + 1))), 431),
        (get("/", *(f"X-{n}: {'v' * 1000}" for n in range(MAX_HEAD // 1000 + 1))), 431),
        (b"GET /\r\n\r\n", 505),
        (get("/", version="HTTP/2.0"), 505),
        (b"FOO / HTTP/1.1\r\n\r\n", 400),
    ],
    ids=["body", "chunked-body", "target", "fields", "head", "http-0.9", "http-2", "method"],
)
def test_requests_over_the_limits_or_of_other_protocols_are_refused(request_bytes: bytes, status: int) -> None:
    with served() as connection:
        exchange = connection.send(request_bytes)
    assert exchange.statuses == [status]
    assert exchange.closed
    assert connection.calls == []


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (post(b"zz\r\n", "Transfer-Encoding: chunked"), 400),
        (post(b'{"id": "late"}')[:-5], 408),
        (post(b"x" * (MAX_BODY + 1)), 413),
        (get("/" + "a" * MAX_TARGET), 414),
        (get("/", *(f"X-{n}: v" for n in range(MAX_FIELDS + 1))), 431),
        (post(b"", "Transfer-Encoding: identity"), 501),
        (get("/", version="HTTP/2.0"), 505),
        (get("/fail"), 500),
    ],
    ids=["400", "408", "413", "414", "431", "501", "505", "500"],
)
def test_the_servers_own_answers_say_nosniff_as_the_apps_do(request_bytes: bytes, status: int) -> None:
    with served(app=failing, request_timeout=0.5) as connection:
        exchange = connection.send(request_bytes)
    assert exchange.statuses == [status]
    assert exchange.answers[0].get("X-Content-Type-Options") == "nosniff"
    assert exchange.answers[0].get("Content-Type") == "application/json"


def test_a_body_at_the_limit_and_a_head_near_it_are_taken() -> None:
    fields = [f"X-{n}: {'v' * 1000}" for n in range(MAX_FIELDS // 2)]
    with served() as connection:
        exchange = connection.send(post(b"x" * MAX_BODY, *fields), answers=1)
    assert exchange.statuses == [200]


def test_nothing_sent_is_closed_silently_at_the_request_timeout() -> None:
    with served(request_timeout=0.5) as connection:
        started = time.monotonic()
        exchange = connection.send()
    assert (exchange.statuses, exchange.rest, exchange.closed) == ([], b"", True)
    assert 0.4 <= time.monotonic() - started < 3


@pytest.mark.parametrize("part", [b"POST /analytics HT", post(b'{"id": "late"}')[:-5]], ids=["head", "body"])
def test_part_of_a_request_gets_408_at_the_request_timeout(part: bytes) -> None:
    with served(request_timeout=0.5) as connection:
        exchange = connection.send(part)
    assert exchange.statuses == [408]
    assert "client timeout" in json.loads(exchange.answers[0].body)["message"]
    assert exchange.closed
    assert connection.calls == []


def test_trickling_does_not_extend_the_request_timeout() -> None:
    with served(request_timeout=0.6) as connection:
        started = time.monotonic()
        for byte in get("/slow")[:-2]:
            try:
                connection.client.sendall(bytes([byte]))
            except OSError:
                break
            gevent.sleep(0.05)
        exchange = connection.send()
    assert exchange.statuses == [408]
    assert time.monotonic() - started < 3


def test_an_idle_kept_alive_connection_is_closed_silently_after_keepalive() -> None:
    with served(request_timeout=5, keepalive=0.5) as connection:
        started = time.monotonic()
        exchange = connection.send(get("/a"))
    assert exchange.statuses == [200]
    assert exchange.closed
    assert 0.4 <= time.monotonic() - started < 3


def test_each_request_on_a_kept_alive_connection_has_its_own_request_timeout() -> None:
    with served(request_timeout=0.6, keepalive=2) as connection:
        for _ in range(3):  # 2 s in all: past one request timeout, within one each
            gevent.sleep(0.4)
            assert connection.send(get("/a"), answers=1).statuses == [200]


def failing(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    raise RuntimeError("the app failed")


@pytest.mark.parametrize("target", ["/fail", "/split"])
def test_an_app_that_fails_or_answers_a_split_field_gets_500_and_the_connection_closed(target: str) -> None:
    with served() as connection:
        exchange = connection.send(get(target) + get("/after"))
    assert exchange.statuses == [500]
    assert b"Set-Cookie" not in b"".join(value.encode() for _, value in exchange.answers[0].fields)
    assert exchange.closed
    assert [call["PATH_INFO"] for call in connection.calls] == [target]


def test_a_worker_that_stops_after_a_request_closes_the_connection_after_it() -> None:
    counts = iter([True, False])
    with served(next_request=lambda: next(counts)) as connection:
        exchange = connection.send(get("/a") + get("/b") + get("/c"))
    assert exchange.statuses == [200, 200]
    assert [answer.get("connection") for answer in exchange.answers] == [None, "close"]
    assert exchange.closed


def test_an_apps_result_is_closed_after_it_is_read() -> None:
    closed = []

    class Result(list[bytes]):
        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return Result([b"o", b"k"])

    with served(app) as connection:
        exchange = connection.send(get("/"), answers=1)
    assert (exchange.answers[0].body, closed) == (b"ok", [True])
