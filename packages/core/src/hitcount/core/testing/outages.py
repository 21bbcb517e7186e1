"""Taking a backend's server away in the middle of a test, for the conformance suites' failure rules.

The contract's callers act on its errors alone: the API spools a hit on ``QueueUnavailable``
and answers 503 on anything else, the indexer keeps a batch on ``StoreUnavailable``. A backend
that lets its client library's exceptions out, or that waits forever on a hung server, breaks
them during the very outages they are built for, so the suites take each backend's server
away and check what comes out. A backend's conformance module says how, with an
:class:`Outage` from its ``outage`` fixture: a server of the test's own (a private
redis-server killed or stopped with SIGSTOP), a :class:`TcpProxy` in front of a shared
server, or a database file another connection locks.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Outage:
    """How one test takes its backend's server away.

    ``environment`` holds the settings that open the backend on that server (its URL,
    short timeouts, so that a hung server costs seconds, not minutes); the suite opens the
    backend with them while the server works, then calls ``stop`` (the server is gone:
    connections are refused or reset) or ``hang`` (the server keeps its connections open
    and answers nothing). ``still_answers`` names the calls (``"backlog"``, ``"counts"``...)
    that may still answer during this outage, as an SQLite file's readers do while another
    process holds its write lock; every other call must raise the contract's error.
    """

    environment: Mapping[str, str]
    stop: Callable[[], None]
    hang: Callable[[], None]
    still_answers: frozenset[str] = frozenset()


class TcpProxy:
    """Relays 127.0.0.1:``port`` to ``upstream``, until told to refuse or to stop answering.

    For a server the test cannot kill because others share it: the backend connects to
    the proxy, and :meth:`stop` closes every connection and the listening socket (the
    server is gone), while :meth:`hang` keeps the connections open, accepts new ones,
    and passes nothing on (the server hangs); a test stops it in the end whatever happened.
    """

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._hung = threading.Event()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                if self._stopped.is_set():
                    client.close()
                    return
                self._sockets.append(client)
                if self._hung.is_set():
                    continue  # accepted, and never answered
                try:
                    upstream = socket.create_connection(self._upstream, timeout=10)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self._sockets.append(upstream)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, target), daemon=True).start()

    def _relay(self, source: socket.socket, target: socket.socket) -> None:
        """Pass bytes on until either side closes; once hung, hold them until stopped."""
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if self._hung.is_set():
                self._stopped.wait()
                return
            if not data:
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)
                return
            try:
                target.sendall(data)
            except OSError:
                return

    def hang(self) -> None:
        """From now on nothing is passed on either way; connections stay open."""
        self._hung.set()

    def stop(self) -> None:
        """Reset every connection and refuse new ones, as a server that died; stopping again does nothing."""
        with self._lock:
            self._stopped.set()
            self._listener.close()
            for connection in self._sockets:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._sockets.clear()
