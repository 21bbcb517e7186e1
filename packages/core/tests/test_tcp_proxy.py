"""The conformance suites' TcpProxy: it relays, holds while hung, passes on what it held once resumed, dies."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from hitcount.core.testing import TcpProxy
from hitcount.core.testing.processes import wait_until


@pytest.fixture
def echo() -> Iterator[int]:
    """A server on 127.0.0.1 that sends back whatever it receives; its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(connection: socket.socket) -> None:
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def proxy(echo: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", echo)
    yield proxy
    proxy.stop()


def connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def test_bytes_flow_both_ways(proxy: TcpProxy) -> None:
    with connect(proxy) as client:
        client.sendall(b"ping")
        assert client.recv(4) == b"ping"


def test_while_hung_nothing_comes_back_and_once_resumed_what_was_held_is_answered(proxy: TcpProxy) -> None:
    with connect(proxy) as client, connect(proxy) as other:
        client.sendall(b"before")
        assert client.recv(6) == b"before"
        proxy.hang()
        client.sendall(b"held")
        wait_until(lambda: proxy.held == 1, "the request to be held")
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            client.recv(4)
        other.sendall(b"x")
        wait_until(lambda: proxy.held == 2, "the second connection's request to be held")
        other.close()  # a client that gave up holds nothing any longer
        wait_until(lambda: proxy.held == 1, "the closed connection to be let go")
        proxy.resume()
        client.settimeout(5)
        assert client.recv(4) == b"held"
        assert proxy.held == 0


def test_stopped_it_resets_its_connections_and_refuses_new_ones(proxy: TcpProxy) -> None:
    with connect(proxy) as client:
        client.sendall(b"ping")
        assert client.recv(4) == b"ping"
        proxy.stop()
        with contextlib.suppress(ConnectionResetError):  # reset rather than closed: the same for a client
            assert client.recv(4) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)


def test_resumed_without_what_was_held_those_connections_stay_hung_and_new_ones_flow(proxy: TcpProxy) -> None:
    with connect(proxy) as lost:
        proxy.hang()
        lost.sendall(b"lost")
        wait_until(lambda: proxy.held == 1, "the request to be held")
        proxy.resume(held=False)
        with connect(proxy) as fresh:
            fresh.sendall(b"ping")
            assert fresh.recv(4) == b"ping"
        lost.sendall(b"more")
        lost.settimeout(0.3)
        with pytest.raises(TimeoutError):
            lost.recv(4)
