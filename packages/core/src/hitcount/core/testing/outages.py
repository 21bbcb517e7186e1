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
    """Relays 127.0.0.1:``port`` to ``upstream``, until told to hang, to flow again or to stop.

    For a server the test cannot kill or pause because others share it: the backend connects
    to the proxy, and :meth:`stop` closes every connection and the listening socket (the
    server is gone), while :meth:`hang` keeps the connections open, accepts new ones, and
    passes nothing on, as a stopped (SIGSTOP) server's kernel does; :meth:`resume` then passes
    on what was held, or leaves those connections hung for good. A test stops it in the end
    whatever happened. Under gevent's monkey patching its threads are greenlets, so a patched
    process can use it too.
    """

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        # What clients sent while hung, per server connection, until resumed or the client closes.
        self._held: dict[socket.socket, bytearray] = {}
        # Server connections left hung for good by resume(held=False).
        self._lost: set[socket.socket] = set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()

    @property
    def held(self) -> int:
        """On how many connections a request waits while hung (those whose client has closed not counted)."""
        with self._lock:
            return len(self._held)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                upstream = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._stopped.is_set():
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Pass the client's bytes on; while hung, hold them (still reading, so that a client closing is seen)."""
        try:
            while data := client.recv(65536):
                with self._lock:
                    if upstream in self._lost:
                        continue
                    if not self._flowing.is_set():
                        self._held.setdefault(upstream, bytearray()).extend(data)
                        continue
                upstream.sendall(data)
            upstream.shutdown(socket.SHUT_WR)
        except OSError:
            return
        finally:
            with self._lock:
                self._held.pop(upstream, None)

    def _answers(self, upstream: socket.socket, client: socket.socket) -> None:
        """Pass the server's bytes back; while hung, none."""
        try:
            while data := upstream.recv(65536):
                self._flowing.wait()
                if self._stopped.is_set():
                    return
                if upstream not in self._lost:
                    client.sendall(data)
            client.shutdown(socket.SHUT_WR)
        except OSError:
            return

    def hang(self) -> None:
        """From now on nothing is passed on either way; connections stay open and new ones are accepted."""
        self._flowing.clear()

    def resume(self, held: bool = True) -> None:
        """Pass everything on from now on, and what was held first; with ``held`` False, the connections
        on which a request was held stay hung for good instead (as flows a partition lost), the others flow."""
        with self._lock:  # before any new byte of the same connection
            for upstream, data in self._held.items():
                if held:
                    with contextlib.suppress(OSError):
                        upstream.sendall(data)
                else:
                    self._lost.add(upstream)
            self._held.clear()
            self._flowing.set()

    def stop(self) -> None:
        """Reset every connection and refuse new ones, as a server that died; stopping again does nothing."""
        with self._lock:
            self._stopped.set()
            self._flowing.set()  # releases the answers held, which then see the proxy stopped
            with contextlib.suppress(OSError):  # wakes the accepting thread: a close alone would not
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            for connection in self._sockets:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._sockets.clear()
            self._held.clear()
