"""Every check of the monorepo: one session per package, the backend and Python matrix, lint and mypy.

``make test`` runs them all, two at a time (``--parallel 2``: most of their time is spent
waiting on servers), after ``scripts/services.py up`` has started Redis and Elasticsearch 8 and 9
and the clusters and written their URLs to ``var/services.env``. A session that stops, pauses or
kills a node of those shared servers runs alone (``allow_parallel=False``); every other one may
run beside any other. Run one with, e.g., ``.venv/bin/nox -s "core-3.13"``; ``nox -l`` lists them.

Sessions that run part of a test folder choose it with ``-m`` and the pytest markers that
pyproject.toml registers (``api_servers``, ``redis_cluster``, ``elastic_cluster``, ``forms_cluster``).
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))  # nox does not put the noxfile's directory on the path
from scripts.services_env import ServiceError, settings_prefix, url_of  # noqa: E402 - var/services.env

# Every supported Python has its sessions, whether the machine has it or not: a missing one fails
# them (nox's error_on_missing_interpreters), with the line below saying how to install it, rather
# than the matrix shrinking in silence. Nor does nox download one (download_python).
ALL_PYTHON = ["3.10", "3.11", "3.12", "3.13"]
DEFAULT_PYTHON = "3.11"
NEWEST_PYTHON = ALL_PYTHON[-1]
# The sessions that take most of `make test`'s time run on the oldest, the default and the
# newest Python: the versions in between add minutes and catch nothing the edges miss.
EDGE_PYTHON = sorted({ALL_PYTHON[0], DEFAULT_PYTHON, NEWEST_PYTHON})
# Elasticsearch majors the store supports; each runs against its own server with the Python client of
# its major, as the store requires.
ELASTIC_MAJORS = ["8", "9"]
ELASTIC_CLIENTS = {es: f"elasticsearch>={es},<{int(es) + 1}" for es in ELASTIC_MAJORS}
# The browser tests' driver of Debian's chromium.
PLAYWRIGHT = "playwright==1.65.2"
NOX = "nox==2026.10.20"
# Packages that must stay out of an environment holding hitcount-core alone.
SERVER_ONLY = ("flask", "redis", "elasticsearch", "gevent")
E2E_PACKAGES = ("./packages/core[testing]", "./packages/api-flask", "./packages/indexer")
# (Python, Elasticsearch major, first port) of the end-to-end runs on Elasticsearch: every major
# on the default Python, the newest on the newest Python too. Each runs on a node of its own,
# on that HTTP port and the transport port 100 above it.
E2E_ELASTIC_RUNS = [
    *(nox.param(DEFAULT_PYTHON, es, 19610 + index, id=f"elastic{es}") for index, es in enumerate(ELASTIC_MAJORS)),
    nox.param(NEWEST_PYTHON, ELASTIC_MAJORS[-1], 19620, id=f"elastic{ELASTIC_MAJORS[-1]}-{NEWEST_PYTHON}"),
]
# Every package of the production shape (API, indexer, Redis queue, Elasticsearch store), for
# the sessions that run its real processes.
PRODUCTION_SHAPE = (
    "./packages/core[testing]",
    "./packages/api-flask",
    "./packages/indexer",
    "./packages/queue-redis",
    "./packages/store-elastic",
    ELASTIC_CLIENTS[ELASTIC_MAJORS[-1]],
)

# Interpreters installed under pyenv are found by version name, whatever pyenv's global is. nox
# looks each session's interpreter up on its own PATH, before the session starts: this is nox's
# PATH, which a session's env could not give it.
PYENV_PYTHONS = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin")))
os.environ["PATH"] = os.pathsep.join([*PYENV_PYTHONS, os.environ.get("PATH", "")])
if MISSING_PYTHON := [version for version in ALL_PYTHON if not shutil.which(f"python{version}")]:
    print(
        f"noxfile.py: Python {', '.join(MISSING_PYTHON)} not found (on PATH or under ~/.pyenv/versions):"
        f" its sessions will fail. Install it, e.g. `pyenv install {MISSING_PYTHON[0]}`"
        f" or `apt-get install python{MISSING_PYTHON[0]}`.",
        file=sys.stderr,
    )

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"
nox.options.reuse_venv = "yes"
# Under --parallel, every session may run beside another unless it says otherwise (see above).
nox.options.allow_parallel = True


def service_url(session: nox.Session, service: str) -> str:
    """The URL of a service of scripts/services.py, or the session's failure saying how to start it."""
    try:
        return url_of(service)
    except ServiceError as error:
        session.error(str(error))


def redis_env(session: nox.Session) -> dict[str, str]:
    """The queue's tests' servers: the shared Redis and (``SERVICES_REDIS_CLUSTER_URL``) the Redis Cluster."""
    return {
        "HITCOUNT_REDIS_URL": service_url(session, "redis"),
        "SERVICES_REDIS_CLUSTER_URL": service_url(session, "redis-cluster"),
    }


def pytest(session: nox.Session, *arguments: str, env: dict[str, str] | None = None) -> None:
    """Run pytest on ``arguments`` (paths, ``-m`` and a marker expression); its exit code 5 (nothing collected)
    fails the session like any other."""
    session.run("pytest", "-q", "-p", "no:cacheprovider", *arguments, *session.posargs, env=env or {})


@nox.session(python=EDGE_PYTHON)
def core(session: nox.Session) -> None:
    """hitcount-core on the edge Pythons, installed alone as a user would."""
    session.install("./packages/core[testing]", "grpcio-tools==1.85.1")
    session.run(
        "python",
        "-c",
        "import importlib.util, sys; leaked = [m for m in sys.argv[1:] if importlib.util.find_spec(m)];"
        " sys.exit(f'installing hitcount-core alone pulled in {leaked}' if leaked else 0)",
        *SERVER_ONLY,
    )
    pytest(session, "packages/core/tests")


@nox.session(python=ALL_PYTHON)
def indexer(session: nox.Session) -> None:
    """hitcount-indexer against core's embedded backends, in-process and as real `hitcount indexer` processes."""
    session.install("./packages/core[testing]", "./packages/indexer[testing]")
    pytest(session, "packages/indexer/tests")


@nox.session(python=EDGE_PYTHON)
def api_flask(session: nox.Session) -> None:
    """hitcount-api-flask: the app over core's memory backends, schemathesis, and real `hitcount api` processes."""
    session.install("./packages/core[testing]", "./packages/api-flask[test]")
    servers = session.python in (DEFAULT_PYTHON, NEWEST_PYTHON)
    pytest(session, "packages/api-flask/tests", *([] if servers else ["-m", "not api_servers"]))


@nox.session
@nox.parametrize(
    ("python", "parser"),
    [*((python, "python") for python in EDGE_PYTHON), (DEFAULT_PYTHON, "hiredis")],
)
def queue_redis(session: nox.Session, parser: str) -> None:
    """hitcount-queue-redis against the Redis and the Redis Cluster of services.py, and servers it kills.

    The edge Pythons with redis-py's own parser; hiredis (a C extension, the same code path
    above it) on the default Python only. The tests of the cluster's own behaviour are
    :func:`queue_redis_cluster`'s.
    """
    extras = "testing,hiredis" if parser == "hiredis" else "testing"
    session.install("./packages/core[testing]", f"./packages/queue-redis[{extras}]")
    pytest(session, "packages/queue-redis/tests", "-m", "not redis_cluster", env=redis_env(session))


@nox.session(python=DEFAULT_PYTHON, allow_parallel=False)
def queue_redis_cluster(session: nox.Session) -> None:
    """hitcount-queue-redis on the Redis Cluster of services.py (the cluster client's code path, the same on every
    Python and parser), alone: one test pauses a replica of that cluster."""
    session.install("./packages/core[testing]", "./packages/queue-redis[testing]")
    pytest(session, "packages/queue-redis/tests", "-m", "redis_cluster", env=redis_env(session))


@nox.session
@nox.parametrize(
    ("python", "es"),
    [(DEFAULT_PYTHON, es) for es in ELASTIC_MAJORS[:-1]] + [(python, ELASTIC_MAJORS[-1]) for python in EDGE_PYTHON],
)
def store_elastic(session: nox.Session, es: str) -> None:
    """hitcount-store-elastic against the Elasticsearch <es> of services.py, with the client of the same major.

    The newest major on the edge Pythons, older majors on the default one.

    The tests fail at once, saying so, when the client's major is not the server's.
    """
    session.install("./packages/core[testing]", "./packages/store-elastic", ELASTIC_CLIENTS[es])
    pytest(
        session,
        "packages/store-elastic/tests",
        "-m",
        "not elastic_cluster",
        env={"HITCOUNT_ELASTIC_URL": service_url(session, f"elastic{es}")},
    )


@nox.session(python=DEFAULT_PYTHON, allow_parallel=False)
def store_elastic_cluster(session: nox.Session) -> None:
    """hitcount-store-elastic against the 3-node Elasticsearch cluster of services.py, every node in its URL.

    All the store's tests, plus one that kills a node while writing and reading and then starts
    it again through scripts/services.py (which needs the SERVICES_* ports of the
    services.py that started the cluster): alone, since that kill would fail others on the cluster.
    """
    es = ELASTIC_MAJORS[-1]
    session.install("./packages/core[testing]", "./packages/store-elastic", ELASTIC_CLIENTS[es])
    pytest(
        session, "packages/store-elastic/tests", env={"HITCOUNT_ELASTIC_URL": service_url(session, "elastic-cluster")}
    )


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("queue", ["sqlite", "redis"])
def e2e(session: nox.Session, queue: str) -> None:
    """The real `hitcount api` (gunicorn, gevent) and `hitcount indexer` over HTTP on the sqlite store, with the
    sqlite queue and with the Redis queue (whose outage tests kill Redis servers of their own)."""
    env = {"HITCOUNT_QUEUE": queue, "HITCOUNT_STORE": "sqlite"}
    packages = [*E2E_PACKAGES]
    if queue == "redis":
        packages.append("./packages/queue-redis")
        env["HITCOUNT_REDIS_URL"] = service_url(session, "redis")
    session.install(*packages)
    pytest(session, "tests/e2e", env=env)


@nox.session
@nox.parametrize(("python", "es", "port"), E2E_ELASTIC_RUNS)
def e2e_elastic(session: nox.Session, es: str, port: int) -> None:
    """The end-to-end tests in the production shape: the Redis queue and the Elasticsearch store.

    Their Elasticsearch is a node of the session's own (scripts/services.py under var/e2e-*,
    about 15 s to start), since tests stop and pause it: the shared node serves the store's
    sessions meanwhile.
    """
    session.install(*E2E_PACKAGES, "./packages/queue-redis", "./packages/store-elastic", ELASTIC_CLIENTS[es])
    service = f"elastic{es}"
    own = {
        "SERVICES_VAR": str(ROOT / "var" / f"e2e-{service}-{session.python}"),
        f"{settings_prefix(service)}_PORT": str(port),
        f"{settings_prefix(service)}_TRANSPORT_PORT": str(port + 100),
    }
    services = ["python", str(ROOT / "scripts" / "services.py")]
    session.run(*services, "up", service, env=own, external=True)
    try:
        env = {
            **own,
            "HITCOUNT_QUEUE": "redis",
            "HITCOUNT_STORE": "elastic",
            "HITCOUNT_CACHE": "redis",
            "HITCOUNT_REDIS_URL": service_url(session, "redis"),
            "HITCOUNT_ELASTIC_URL": f"http://127.0.0.1:{port}",
        }
        pytest(session, "tests/e2e", env=env)
    finally:
        session.run(*services, "down", "--purge", service, env=own, external=True)


@nox.session(python=DEFAULT_PYTHON, allow_parallel=False)
def clusters(session: nox.Session) -> None:
    """The real API (2 workers) and two indexers on the Redis Cluster and the 3-node Elasticsearch cluster of
    services.py: a master and a node killed under load, every hit counted once. The killed nodes are restarted."""
    session.install(*PRODUCTION_SHAPE)
    env = {
        "HITCOUNT_QUEUE": "redis",
        "HITCOUNT_STORE": "elastic",
        "HITCOUNT_CACHE": "redis",
        "HITCOUNT_REDIS_URL": service_url(session, "redis-cluster"),
        "HITCOUNT_ELASTIC_URL": service_url(session, "elastic-cluster"),
    }
    pytest(session, "tests/clusters", env=env)


@nox.session(python=DEFAULT_PYTHON)
def chaos(session: nox.Session) -> None:
    """The production shape under load and a seeded schedule of overlapping faults (kill -9, SIGSTOP, spool and
    Redis memory full) on servers of its own: every acknowledged hit counted once, nothing else counted.

    First tests/chaos's own tests: the checker, and single kills pinned once (a single-node Elasticsearch,
    the API under load and while its spool forwards; 2 minutes). Then 1.5 minutes of faults on the
    single-node shape by default (about 3 minutes in all); ``make chaos`` runs 30 on both shapes.
    Arguments after ``--`` go to tests/chaos/run.py (``--seed``, ``--minutes``, ``--shape``, ``--rate``).
    """
    session.install(*PRODUCTION_SHAPE)
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/chaos")  # the checker's own tests, first
    session.run("python", "-m", "tests.chaos.run", *session.posargs, env={"PYTHONPATH": str(ROOT)})


@nox.session(python=DEFAULT_PYTHON)
def browser(session: nox.Session) -> None:
    """/hitcount.js, live counters and badges in Debian's chromium (apt-get installs it when missing), driven by
    Playwright against the real `hitcount api` and `hitcount indexer`, from pages of other origins."""
    session.install("./packages/core[testing]", "./packages/api-flask", "./packages/indexer", PLAYWRIGHT)
    pytest(session, "tests/browser", env={"HITCOUNT_QUEUE": "sqlite", "HITCOUNT_STORE": "sqlite"})


@nox.session(python=ALL_PYTHON)
def services(session: nox.Session) -> None:
    """scripts/services.py on every Python it must run on: its logic, and a Redis of its own started and stopped;
    a Redis Cluster of its own formed, stopped and started again (16 s) on the default Python. And noxfile.py's
    Python matrix."""
    # The queue's and the store's plugins declare the settings var/services.env sets for hitcount.
    session.install("./packages/core[testing]", "./packages/queue-redis", "./packages/store-elastic", NOX)
    pytest(session, "tests/scripts", *([] if session.python == DEFAULT_PYTHON else ["-m", "not forms_cluster"]))


@nox.session(python=DEFAULT_PYTHON)
def deploy(session: nox.Session) -> None:
    """What deploy/, docker-compose.yml and the Dockerfile promise: the dashboard's metrics exist, the compose
    file's defaults hold, the image is pinned and its build context small.

    The dashboard is checked against real `hitcount api` and `hitcount indexer` processes on the
    sqlite backends; the compose file, the Dockerfile, deploy/requirements.txt and .dockerignore on
    their text (tests run where Docker is not; `nox -s install` runs the Dockerfile's pip commands).
    """
    session.install(*PRODUCTION_SHAPE, "pyyaml==6.0.3", "packaging>=24")
    pytest(session, "tests/deploy")


@nox.session(python=DEFAULT_PYTHON)
def install(session: nox.Session) -> None:
    """Every `pip install` of the READMEs and the Dockerfile, as written, in fresh virtual environments beside
    an index of impostor hitcount distributions: hitcount comes from the checkout, or the install fails."""
    session.install("pytest>=8")
    pytest(session, "tests/install")


@nox.session(python=DEFAULT_PYTHON)
def docs(session: nox.Session) -> None:
    """Every registered setting is documented in its package's README, and each README's generated settings
    reference is the one `python scripts/settings_reference.py` writes: with every package installed."""
    session.install(*PRODUCTION_SHAPE)
    pytest(session, "tests/docs")


@nox.session(python=DEFAULT_PYTHON)
def third_party(session: nox.Session) -> None:
    """A plugin as a third party writes one (tests/third_party/hitcount-store-files: a package, one entry point,
    the conformance suite as its test), installed beside the released packages: its test passes and `hitcount
    serve` counts hits into it."""
    plugin = "tests/third_party/hitcount-store-files"
    session.install(*E2E_PACKAGES, f"./{plugin}")
    pytest(session, f"{plugin}/tests", "tests/third_party")


@nox.session(python=DEFAULT_PYTHON)
def release(session: nox.Session) -> None:
    """What the checkout says of itself: LICENSE is the license every package declares, CHANGELOG.md names their
    version."""
    session.install("pytest>=8")
    pytest(session, "tests/release")


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: the rules and the format."""
    session.install("ruff==0.17.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=DEFAULT_PYTHON)
def mypy(session: nox.Session) -> None:
    """mypy --strict over every package, its tests, the scripts, the benchmarks and this file."""
    session.install(
        "mypy==2.4.1",
        "types-protobuf",
        "types-PyYAML",
        NOX,
        "./packages/core[testing]",
        "./packages/indexer[testing]",
        "./packages/queue-redis[testing]",
        "./packages/store-elastic",
        "./packages/api-flask[test]",
        PLAYWRIGHT,
    )
    session.run("mypy")


@nox.session(python=DEFAULT_PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """The performance targets of the spec, printed as one table (`make bench`; never part of `make test`)."""
    if not shutil.which("wrk"):
        session.error("wrk is missing: `apt-get install wrk` (make bench does it)")
    session.install(
        "./packages/core[testing]",
        "./packages/api-flask",
        "./packages/indexer",
        "./packages/queue-redis[hiredis]",
        "./packages/store-elastic",
        ELASTIC_CLIENTS["9"],
    )
    session.run("python", "bench/run.py", env={"PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT)])})
