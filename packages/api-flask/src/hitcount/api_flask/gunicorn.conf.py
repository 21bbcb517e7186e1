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
import resource
import shutil
import signal
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

from hitcount.api_flask.settings import process_settings
from hitcount.api_flask.tuning import Tuning
from hitcount.core import Config, Runtime
from hitcount.core.logs import FORMAT, configure_logging
from hitcount.core.settings import LOG_LEVEL

# prometheus_client's variable; read when a worker first imports prometheus_client.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_config = Config(os.environ)
# Parsed here, in the master, once: the workers it forks inherit them (the app's, hitcount's worker's).
_settings = process_settings()
_tuning = Tuning()

wsgi_app = "hitcount.api_flask.wsgi:app"
bind = [_settings.bind]
workers = _settings.workers
# gunicorn's gevent worker serving HTTP/1.1 on llhttp itself, at a fraction of the CPU of gevent's WSGI server
# per request and without its request smuggling (hitcount.api_flask.worker; figures in BENCHMARKS.md).
worker_class = "hitcount.api_flask.worker.Worker"
# Stalled clients hold their connections until the client timeout (hitcount.api_flask.http1):
# room for thousands of them beside the clients that send, and open files to match (on_starting).
worker_connections = _tuning.worker_connections
# An idle kept-alive connection is closed after this many seconds (honoured by hitcount's worker).
keepalive = _tuning.keepalive
# Files a worker opens besides its connections: the listening socket, backends, logs, metrics.
OTHER_FILES = 256
proc_name = "hitcount-api"
# gunicorn's control socket has one default path per user, which several API servers
# (tests, `hitcount serve`) would fight over; hitcount does not use it.
control_socket_disable = True
loglevel = _config.get(LOG_LEVEL).lower()


class HitcountLogger(Logger):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's logger writing its lines ("Booting worker", "Handling signal") in hitcount's format, so that
    every line of every hitcount process (``hitcount serve`` interleaves the API's and the indexer's) has
    one shape, whatever a reader greps or parses them with."""

    error_fmt = FORMAT
    datefmt = None


logger_class = HitcountLogger

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


def _raise_open_files_limit(log) -> None:  # type: ignore[no-untyped-def]
    """Raise the soft limit of open files to what a worker's connections need, as far as the hard limit allows.

    The soft limit is often 1,024: a worker would then fail to accept long before it holds
    ``worker_connections`` connections. The workers inherit the limit from the master.
    """
    needed = worker_connections + OTHER_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        log.warning(
            "the open-files limit (hard %d) leaves a worker room for about %d of its %d connections"
            " (hitcount.api_flask.tuning)",
            hard,
            wanted - OTHER_FILES,
            worker_connections,
        )


def on_starting(server):  # type: ignore[no-untyped-def]
    """Give this server a fresh metrics directory, and remove those of servers killed before their ``on_exit``,
    raise its open-files limit for its workers' connections, and set up logging.

    Every worker writes its metrics to files there and /metrics merges them; a fresh
    directory per server, so that no dead process's counts from an earlier run leak in.
    The workers inherit the variable; the master never imports prometheus_client before.

    hitcount's own loggers (the app's, the backends') then write beside gunicorn's lines,
    alike (:class:`HitcountLogger`), with every configured secret masked in every process's lines (the workers inherit
    the setup). The secrets are known once the plugins that declare the settings are loaded,
    which is only done here: one of them (the indexer's) imports prometheus_client, which
    must see the variable above.
    """
    _raise_open_files_limit(server.log)
    _remove_dead_servers_metrics()
    os.environ[METRICS_DIR_VARIABLE] = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
    configure_logging(_config.get(LOG_LEVEL), secrets=Runtime.load().secrets)


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    """Keep a SIGTERM that reaches a new worker before gunicorn's own handlers are installed.

    The worker inherits the master's handlers, which queue the signal for a master loop that
    does not run in the child: a SIGTERM sent while a worker boots (the master stopping right
    after it replaced a dead one) was lost, and the master then waited its whole graceful
    timeout (30 s) before killing that worker. Here the signal ends the worker's loop as soon
    as it has booted, as gunicorn's own handler does.
    """
    signal.signal(signal.SIGTERM, lambda *_: setattr(worker, "alive", False))


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
        state.open()
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    """Release the exiting worker's queue and store connections (if it got as far as loading the app)."""
    from hitcount.api_flask.state import served_state

    state = served_state(getattr(worker, "wsgi", None))
    if state is not None:
        state.close()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Drop a dead worker's live-gauge files, as prometheus_client's multi-process mode asks (in the master)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server):  # type: ignore[no-untyped-def]
    """Remove this server's metrics directory."""
    shutil.rmtree(os.environ[METRICS_DIR_VARIABLE], ignore_errors=True)
