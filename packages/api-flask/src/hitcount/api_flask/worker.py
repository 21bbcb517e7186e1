"""hitcount's gunicorn worker: gunicorn's gevent worker serving HTTP/1.1 with :mod:`hitcount.api_flask.http1`.

gunicorn keeps what it does well: the arbiter, graceful shutdown, ``max_requests``, the
heartbeat, ``worker_connections`` (the pool of connection greenlets) and SSL. What happens on
a connection is hitcount's: gevent's WSGI server costs several times the CPU per request of a
lean loop on llhttp (BENCHMARKS.md, "The HTTP layer"), and lets a request be smuggled inside another (see the package's
docstring). Only public interfaces of gunicorn are used: the worker's ``handle`` of each
accepted connection, its ``wsgi`` app, ``cfg``, ``log``, ``alive``, ``nr`` and ``max_requests``.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from gunicorn.workers.ggevent import GeventWorker

from hitcount.api_flask.http1.connection import Connection, Limits
from hitcount.api_flask.http1.deadlines import Deadlines
from hitcount.api_flask.request_log import log_request
from hitcount.api_flask.settings import process_settings
from hitcount.api_flask.tuning import Tuning

SERVER_SOFTWARE = "hitcount"


class Worker(GeventWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's gevent worker whose connections are served by :class:`~.http1.connection.Connection`, with
    the client timeout, gunicorn's ``keepalive`` and the largest body of :class:`~.tuning.Tuning` as their
    limits, and ``HITCOUNT_ACCESS_LOG``'s :func:`~.request_log.log_request` (gunicorn's own access log is not used:
    it formats dozens of fields of every request, headers included)."""

    # gunicorn's: whether the worker goes on, and its requests counted against max_requests.
    alive: bool
    nr: int

    def init_process(self) -> None:
        settings, tuning = process_settings(), Tuning()
        self.limits = Limits(tuning.client_timeout, float(self.cfg.keepalive), tuning.max_body)
        # None when off: connections then log nothing and call nothing for it.
        self.access_log = log_request if settings.access_log else None
        self.deadlines = Deadlines()
        self.base_environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self.cfg.is_ssl else "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": self.cfg.workers > 1,
            "wsgi.run_once": False,
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
            "SCRIPT_NAME": "",
        }
        super().init_process()

    def handle(self, listener: socket.socket, client: socket.socket, address: Any) -> None:
        """Serve one accepted connection until it ends (gunicorn's gevent worker spawns this per connection)."""
        environ = {**self.base_environ, **_addresses(listener.getsockname(), address)}
        client.setblocking(True)  # no timeout on each call: the connection's deadlines are kept apart
        try:
            Connection(
                client,
                self.wsgi,
                environ,
                self.limits,
                self.deadlines,
                next_request=self._next_request,
                access_log=self.access_log,
            ).serve()
        except Exception:
            self.log.exception("error serving a connection")
        finally:
            client.close()

    def _next_request(self) -> bool:
        """Count a request; False once this worker stops after it (``max_requests`` reached, or shutting down)."""
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        return bool(self.alive)


def _addresses(server: Any, client: Any) -> dict[str, str]:
    """The environ's server and client addresses; a Unix socket's are its path and nothing."""
    environ = {"SERVER_NAME": str(server), "SERVER_PORT": "", "REMOTE_ADDR": "", "REMOTE_PORT": ""}
    if isinstance(server, tuple):
        environ["SERVER_NAME"], environ["SERVER_PORT"] = server[0], str(server[1])
    if isinstance(client, tuple):
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
    return environ
