"""gunicorn's configuration for the hitcount API, as ``hitcount api`` runs it.

Also usable directly: ``gunicorn -c <this file>``. Settings come from ``HITCOUNT_*``.

Workers are gevent, one event loop per process: a Track request is mostly waiting for
the queue, and group commit needs many requests in flight at once. Importing this file
only reads settings; the work of processes happens in gunicorn's hooks: the master
prepares the metrics directory when it starts (``on_starting``) and forks the workers
before anything holds a socket or a thread; each worker opens its queue and store once it
has loaded the app (``post_worker_init``), after the gevent worker has monkey-patched the
standard library.
"""

import os
import shutil
import tempfile
from pathlib import Path

from hitcount.api_flask.settings import BIND, WORKERS
from hitcount.core import Config
from hitcount.core.logs import configure_logging
from hitcount.core.settings import LOG_LEVEL

# prometheus_client's variable; read when a worker first imports prometheus_client.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_config = Config(os.environ)

wsgi_app = "hitcount.api_flask.wsgi:app"
bind = [_config.get(BIND)]
workers = _config.get(WORKERS)
# gevent's own WSGI server (gunicorn's "gevent_pywsgi"), which served more hits at less CPU
# than gunicorn's parser on gevent ("gevent"), reading request heads without the email
# parser (see hitcount.api_flask.worker; figures in BENCHMARKS.md).
worker_class = "hitcount.api_flask.worker.Worker"
worker_connections = 1000
proc_name = "hitcount-api"
# gunicorn's control socket has one default path per user, which several API servers
# (tests, `hitcount serve`) would fight over; hitcount does not use it.
control_socket_disable = True
loglevel = _config.get(LOG_LEVEL).lower()
# hitcount's own loggers (the app's, the backends') write beside gunicorn's lines, alike.
configure_logging(
    _config.get(LOG_LEVEL),
    format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
    datefmt="%Y-%m-%d %H:%M:%S %z",
)

METRICS_DIR_PREFIX = "hitcount-api-metrics-"


def _remove_dead_servers_metrics() -> None:
    """Remove the metrics directories of servers that were killed before their ``on_exit``."""
    for path in Path(tempfile.gettempdir()).glob(f"{METRICS_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(METRICS_DIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, and another user's
    return True


def on_starting(server):  # type: ignore[no-untyped-def]
    """Give this server a fresh metrics directory, and remove those of servers killed before their ``on_exit``.

    Every worker writes its metrics to files there and /metrics merges them; a fresh
    directory per server, so that no dead process's counts from an earlier run leak in.
    The workers inherit the variable; the master never imports prometheus_client before.
    """
    _remove_dead_servers_metrics()
    os.environ[METRICS_DIR_VARIABLE] = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Open the worker's queue and store, then say the worker is ready.

    A backend that cannot be opened (its server down) does not stop the worker: it serves,
    answers 503 and /readyz not ready, and opens the backend when a request needs it once
    the server is back. gunicorn ignores a SIGTERM that reaches a worker while it is still
    booting, so tools that start and stop the API quickly wait for the "Worker ready" lines.
    """
    from hitcount.api_flask.state import served_state

    state = served_state(worker.wsgi)
    if state is not None:
        state.backends.open()
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    """Release the exiting worker's queue and store connections (if it got as far as loading the app)."""
    from hitcount.api_flask.state import served_state

    state = served_state(getattr(worker, "wsgi", None))
    if state is not None:
        state.backends.close()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Drop a dead worker's live-gauge files, as prometheus_client's multi-process mode asks (in the master)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server):  # type: ignore[no-untyped-def]
    """Remove this server's metrics directory."""
    shutil.rmtree(os.environ[METRICS_DIR_VARIABLE], ignore_errors=True)
