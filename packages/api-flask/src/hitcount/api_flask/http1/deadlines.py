"""The deadlines of a worker's connections, kept by one greenlet rather than by a timeout on each socket call.

A socket timeout costs gevent a timer and an exception object for every read that waits,
a large share of what a request costs the whole server (BENCHMARKS.md, "The HTTP layer"). So a
connection only notes when its client's time is up (:attr:`Expiring.deadline`, monotonic
seconds, ``inf`` while the app works on its requests), and :class:`Deadlines` looks at every
connection each :data:`TICK` and expires those past it: a deadline holds to within a tick.

Expiring is done from the outside, never by an exception thrown into the connection's
greenlet, which could land inside the app: the connection sends its 408 if it owes one and
closes its socket, and its greenlet's pending read or write then fails as gevent fails a
wait on a socket closed by another greenlet.
"""

from __future__ import annotations

import time
from typing import Protocol

import gevent

# How often the deadlines are looked at: the precision of every client deadline.
TICK = 0.1


class Expiring(Protocol):
    """A connection whose client may run out of time."""

    deadline: float

    def expire(self) -> None:
        """The client's time is up: end the connection now."""


class Deadlines:
    """A worker's connections and the greenlet that expires those past their :attr:`~Expiring.deadline`."""

    def __init__(self, tick: float = TICK) -> None:
        self._tick = tick
        self._watched: set[Expiring] = set()
        self._greenlet: gevent.Greenlet | None = None

    def watch(self, connection: Expiring) -> None:
        self._watched.add(connection)
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)

    def forget(self, connection: Expiring) -> None:
        self._watched.discard(connection)

    def _run(self) -> None:
        """Look every tick while there are connections; end with the last (the next watch starts it again)."""
        while self._watched:
            gevent.sleep(self._tick)
            now = time.monotonic()
            for connection in [connection for connection in self._watched if connection.deadline <= now]:
                self._watched.discard(connection)
                connection.expire()
