"""The real ``hitcount api`` (gunicorn, hitcount's worker, the sqlite queue) on the wire: no request can be
smuggled inside another, and what HTTP/1.1 clients send (chunked bodies, 100-continue, pipelining,
gzip batches, HTTP/1.0) is taken."""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from http_testing import SMUGGLING, address, converse, exchange, parse_answers, post
from test_server import Server, queued_ids, running_server

pytestmark = pytest.mark.api_servers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("http1")) as server:
        yield server


@pytest.fixture(autouse=True)
def nothing_queued_before(server: Server) -> None:
    queued_ids(server.data_dir)  # what earlier tests queued, taken so that each test sees its own


@pytest.mark.parametrize(("request_bytes", "status"), SMUGGLING)
def test_a_hit_hidden_in_a_request_that_could_smuggle_it_is_never_counted(
    server: Server, request_bytes: bytes, status: int
) -> None:
    answered = exchange(server.url, request_bytes)
    assert answered.statuses == [status]
    assert answered.closed
    assert json.loads(answered.answers[0].body)["message"]
    assert exchange(server.url, post(b'{"id": "after"}'), answers=1).statuses == [204]
    assert queued_ids(server.data_dir) == ["after"]


def test_a_malformed_chunk_after_a_good_request_ends_the_connection_with_400(server: Server) -> None:
    good = post(b'{"id": "first"}')
    bad = post(b"3\r\nabc\r\nzz\r\n" + b"0\r\n\r\n" + post(b'{"id": "smuggled"}'), "Transfer-Encoding: chunked")
    answered = exchange(server.url, good + bad)
    assert answered.statuses == [204, 400]
    assert answered.closed
    assert queued_ids(server.data_dir) == ["first"]


def test_chunked_expect_continue_pipelined_and_http10_hits_are_all_taken(server: Server) -> None:
    chunked = post(b'7\r\n{"id": \r\n9\r\n"chunked"\r\n1\r\n}\r\n0\r\n\r\n', "Transfer-Encoding: chunked")
    body = b'{"id": "continued"}'
    continued = post(body, "Expect: 100-continue")
    head, _ = continued.split(b"\r\n\r\n", 1)
    with socket.create_connection(address(server.url), timeout=5) as connection:
        connection.sendall(chunked + head + b"\r\n\r\n")
        received = b""
        while b"100 Continue" not in received:  # the client waits for it before sending the body
            received += connection.recv(65536)
        answered = converse(connection, body, post(b'{"id": "pipelined"}'), answers=2)
    assert parse_answers(received)[0][0].status == 204
    assert received.endswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert answered.statuses == [204, 204]
    http10 = exchange(server.url, post(b'{"id": "old"}', version="HTTP/1.0"))
    assert (http10.statuses, http10.closed) == ([204], True)
    assert queued_ids(server.data_dir) == ["chunked", "continued", "pipelined", "old"]


def test_a_gzip_batch_is_inflated_and_taken(server: Server) -> None:
    batch = gzip.compress(json.dumps([{"id": "z1"}, {"id": "z2"}]).encode())
    answered = exchange(server.url, post(batch, "Content-Encoding: gzip", target="/analytics/batch"), answers=1)
    assert answered.statuses == [204]
    assert queued_ids(server.data_dir) == ["z1", "z2"]


def test_a_body_over_the_limit_is_413_before_the_app_and_the_connection_closes(server: Server) -> None:
    answered = exchange(server.url, post(b"x" * (64 * 1024 + 1)))
    assert (answered.statuses, answered.closed) == ([413], True)
    assert "over the limit of 65536 bytes" in json.loads(answered.answers[0].body)["message"]


def test_a_head_answer_has_no_body_and_connection_close_is_honoured(server: Server) -> None:
    with socket.create_connection(address(server.url), timeout=5) as connection:
        connection.sendall(b"HEAD /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, rest = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert rest.startswith(b"HTTP/1.1 200 ")  # the GET's answer follows the HEAD's head at once
    assert b"Connection: close" in rest


def test_the_worker_restarts_after_max_requests_and_its_last_answer_says_close(tmp_path: Path) -> None:
    with running_server(tmp_path, GUNICORN_CMD_ARGS="--max-requests 3") as server:
        answered = exchange(server.url, *(post(f'{{"id": "r{n}"}}'.encode()) for n in range(5)))
        log = (tmp_path / "server.log").read_text()
    assert answered.statuses[:3] == [204, 204, 204]
    assert answered.answers[2].get("connection") == "close"
    assert answered.closed
    assert "Autorestarting worker after current request." in log


# Bodies a client botched: cut short (10 of the 1000 bytes a Content-Length promised, or part
# of a chunk), or framed with a chunk size that is not hexadecimal.
BOTCHED_BODIES = {
    "length-cut": post(b'{"id": "c"', "Content-Length: 1000"),
    "chunk-cut": post(b'3e8\r\n{"id": "c"', "Transfer-Encoding: chunked"),
    "chunk-size-malformed": post(b'zz\r\n{"id": "c"}\r\n0\r\n\r\n', "Transfer-Encoding: chunked"),
}
CLIENTS = 20
# Long enough for a loaded machine's workers to have written whatever these clients made them log.
LOG_SETTLE = 2.0


def send_and_go(url: str, request_bytes: bytes, how: str) -> bytes:
    """Send ``request_bytes`` and go: closing at once, or ending the sending side and reading what
    the server says until it closes. What it said (nothing when the client closed at once)."""
    with socket.create_connection(address(url), timeout=10) as connection:
        connection.sendall(request_bytes)
        if how == "close":
            return b""
        connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


@pytest.mark.parametrize("how", ["close", "half-close"])
@pytest.mark.parametrize("body", BOTCHED_BODIES.keys())
def test_clients_that_botch_a_body_and_go_get_no_500_and_leave_at_most_a_log_line_each(
    server: Server, body: str, how: str
) -> None:
    """Issue 20: 20 clients dropping mid-body got 500s and wrote 760 log lines of tracebacks."""
    log = server.data_dir / "server.log"
    before = len(log.read_text().splitlines())
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        said = list(pool.map(lambda _: send_and_go(server.url, BOTCHED_BODIES[body], how), range(CLIENTS)))
    assert exchange(server.url, post(b'{"id": "after"}'), answers=1).statuses == [204]  # still serving
    time.sleep(LOG_SETTLE)
    logged = log.read_text().splitlines()[before:]
    # Nothing, or a 400: the client's fault, never the server's.
    assert all(answer == b"" or answer.startswith(b"HTTP/1.1 400 ") for answer in said), said
    assert not any("Traceback" in line or " 500 " in line or "ERROR" in line for line in logged), logged
    assert len(logged) <= CLIENTS + 1, logged  # the request after may be logged too
    assert queued_ids(server.data_dir) == ["after"]
