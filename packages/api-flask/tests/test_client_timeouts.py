"""Stalled clients against the real ``hitcount api``: each has the client timeout (10 s) to send its
request, idle kept-alive connections are closed after the keepalive (5 s), and thousands of stalled ones
leave room for others."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import orjson
import pytest
from test_server import Server, queued_ids, request, running_server

from hitcount.api_flask.tuning import Tuning

STALLED = 2000
BODY = b'{"id": "on-time"}'
HEAD = f"POST /analytics HTTP/1.1\r\nHost: h\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
CLIENT_TIMEOUT, KEEPALIVE = Tuning().client_timeout, Tuning().keepalive


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT * 3)


def read_until_closed(connection: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed it (monotonic).

    A server that closes while the client is still sending (a trickling one) is answered by a
    reset, not an end of stream: it ends the reading alike, after what came before it.
    """
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := connection.recv(65536):
            received += chunk
    return received, time.monotonic()


@pytest.fixture
def open_files() -> Iterator[None]:
    """Room in this process for the stalled connections (the server raises its own limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = STALLED + 1024
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open-files limit {hard} is below the {wanted} this test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_with_2000_stalled_connections_a_fresh_request_is_answered_at_once(tmp_path: Path, open_files: None) -> None:
    # Stalled within the client timeout: only room beside them lets the fresh request through.
    with running_server(tmp_path) as server, ExitStack() as stalled:
        for index in range(STALLED):
            connection = stalled.enter_context(connect(server))
            # A third send nothing, a third half a head, a third the head and half the body.
            connection.sendall([b"", HEAD[:20], HEAD + BODY[:5]][index % 3])
        time.sleep(1)  # the workers accept them
        started = time.monotonic()
        status, _ = request(server.url + "/analytics", BODY)
        elapsed = time.monotonic() - started
        assert status == 204
        assert elapsed < 5, f"a fresh request took {elapsed:.1f}s beside {STALLED} stalled connections"
        assert queued_ids(server.data_dir) == ["on-time"]


def trickle(connection: socket.socket, data: bytes, every: float) -> None:
    """Send ``data`` a byte at a time, as a slowloris client does, until it is sent or the server closes."""
    for byte in data:
        try:
            connection.sendall(bytes([byte]))
        except OSError:
            return
        time.sleep(every)


def test_a_client_has_the_client_timeout_to_send_its_request_then_is_cut_off(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        silent, half_head, trickling, half_body, kept_alive = (connect(server) for _ in range(5))
        started = time.monotonic()
        half_head.sendall(HEAD[:20])
        threading.Thread(target=trickle, args=(trickling, HEAD + BODY, 0.2), daemon=True).start()
        half_body.sendall(HEAD + BODY[:5])
        kept_alive.sendall(HEAD + BODY)
        with ThreadPoolExecutor(max_workers=5) as pool:
            answers = list(pool.map(read_until_closed, [silent, half_head, trickling, half_body, kept_alive]))
        for connection in (silent, half_head, trickling, half_body, kept_alive):
            connection.close()
    (nothing, silent_closed), (head_408, _), (trickled_408, trickle_closed), (body_408, _), (kept, kept_closed) = (
        answers
    )
    # Nothing sent: closed without an answer, at the client timeout.
    assert nothing == b""
    assert CLIENT_TIMEOUT - 0.1 <= silent_closed - started < CLIENT_TIMEOUT + 3
    # Part of a head, all at once or a byte at a time: 408, then closed.
    assert head_408.startswith(b"HTTP/1.1 408 ")
    assert trickled_408.startswith(b"HTTP/1.1 408 ")
    assert trickle_closed - started < CLIENT_TIMEOUT + 3  # trickling does not buy more time
    # The head and part of the body: the app's 408, JSON like every error, then closed.
    assert body_408.startswith(b"HTTP/1.1 408 ")
    assert "client timeout" in orjson.loads(body_408.split(b"\r\n\r\n", 1)[1])["message"]
    # A request sent in time is answered; the connection, idle since, is closed after keepalive.
    assert kept.startswith(b"HTTP/1.1 204 ")
    assert kept.count(b"HTTP/1.1") == 1
    assert KEEPALIVE - 0.1 <= kept_closed - started < KEEPALIVE + 3


def test_requests_on_a_kept_alive_connection_each_get_the_client_timeout(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        with connect(server) as connection:
            reader = connection.makefile("rb")
            for _ in range(3):  # past one client timeout in all, within the keepalive each
                time.sleep(KEEPALIVE - 1)
                connection.sendall(HEAD + BODY)
                assert reader.readline().startswith(b"HTTP/1.1 204 ")
                while reader.readline() not in (b"\r\n", b""):
                    pass
        assert queued_ids(server.data_dir) == ["on-time"] * 3
