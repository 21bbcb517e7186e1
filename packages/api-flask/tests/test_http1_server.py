"""The real ``hitcount api`` (gunicorn, hitcount's worker, the sqlite queue) on the wire: no request can be
smuggled inside another, and what HTTP/1.1 clients send (chunked bodies, 100-continue, pipelining,
gzip batches, HTTP/1.0) is taken."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_testing import SMUGGLING, address, converse, exchange, parse_answers, post
from test_server import Server, queued_ids, running_server


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
    assert "HITCOUNT_MAX_BODY" in json.loads(answered.answers[0].body)["message"]


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
