"""Every check of the monorepo: one session per package, the backend matrix, and lint.

``make test`` runs them all (after ``scripts/services.sh up`` has started Redis and
Elasticsearch and written their URLs to ``var/services.env``). Run one with, e.g.,
``.venv/bin/nox -s "core-3.12"``; ``nox -l`` lists them.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
SERVICES_ENV = ROOT / "var" / "services.env"
# Interpreters installed under pyenv are found by version name, whatever pyenv's global is.
os.environ["PATH"] = os.pathsep.join(
    [*sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin"))), os.environ.get("PATH", "")]
)
SUPPORTED_PYTHON = ("3.10", "3.11", "3.12", "3.13")
ALL_PYTHON = [version for version in SUPPORTED_PYTHON if shutil.which(f"python{version}")]
DEFAULT_PYTHON = "3.11"
# Packages that must stay out of an environment holding hitcount-core alone.
SERVER_ONLY = ("flask", "redis", "elasticsearch", "gevent")

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"


def services() -> dict[str, str]:
    """The URLs ``scripts/services.sh`` wrote, or a clear failure when it has not run."""
    if not SERVICES_ENV.exists():
        raise SystemExit(f"{SERVICES_ENV} is missing: run `make services` (or `make test`) first")
    pairs = (line.split("=", 1) for line in SERVICES_ENV.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def pytest(session: nox.Session, *paths: str, env: dict[str, str] | None = None) -> None:
    """Run pytest; its exit code 5 (nothing collected) fails the session like any other."""
    session.run("pytest", "-q", "-p", "no:cacheprovider", *paths, *session.posargs, env=env or {})


@nox.session(python=ALL_PYTHON)
def core(session: nox.Session) -> None:
    """hitcount-core on every Python present, installed alone as a user would."""
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


@nox.session(python=DEFAULT_PYTHON)
def api_flask(session: nox.Session) -> None:
    """hitcount-api-flask: the app over core's memory backends, schemathesis, and real `hitcount api` processes."""
    session.install("./packages/core[testing]", "./packages/api-flask[test]")
    pytest(session, "packages/api-flask/tests")


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("parser", ["python", "hiredis"])
def queue_redis(session: nox.Session, parser: str) -> None:
    """hitcount-queue-redis against the Redis of services.sh, plus redis-servers of its own that it kills."""
    extras = "testing,hiredis" if parser == "hiredis" else "testing"
    session.install("./packages/core[testing]", f"./packages/queue-redis[{extras}]")
    url = services().get("HITCOUNT_REDIS_URL")
    if url is None:
        session.error(f"HITCOUNT_REDIS_URL is missing from {SERVICES_ENV}: run `scripts/services.sh up redis`")
    pytest(session, "packages/queue-redis/tests", env={"HITCOUNT_REDIS_URL": url})


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("es", ["8", "9"])
def store_elastic(session: nox.Session, es: str) -> None:
    """hitcount-store-elastic against the Elasticsearch <es> of services.sh, with the client of the same major.

    The tests fail at once, saying so, when the client's major is not the server's.
    """
    major = int(es)
    session.install("./packages/core[testing]", "./packages/store-elastic", f"elasticsearch>={major},<{major + 1}")
    variable = f"HITCOUNT_ELASTIC{es}_URL"
    url = services().get(variable)
    if url is None:
        session.error(f"{variable} is missing from {SERVICES_ENV}: run `scripts/services.sh up elastic{es}`")
    pytest(session, "packages/store-elastic/tests", env={"HITCOUNT_ELASTIC_URL": url})


# (HITCOUNT_QUEUE, HITCOUNT_STORE) combinations the end-to-end tests run on.
E2E_BACKENDS = [("sqlite", "sqlite"), ("redis", "sqlite"), ("redis", "elastic")]
# What each non-embedded backend needs installed, and the variable of its URL in var/services.env.
BACKEND_PACKAGES = {
    "redis": ("./packages/queue-redis",),
    "elastic": ("./packages/store-elastic", "elasticsearch>=9,<10"),
}
BACKEND_URLS = {
    "redis": ("HITCOUNT_REDIS_URL", "HITCOUNT_REDIS_URL"),
    "elastic": ("HITCOUNT_ELASTIC_URL", "HITCOUNT_ELASTIC9_URL"),
}


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize(("queue", "store"), E2E_BACKENDS, ids=["-".join(backends) for backends in E2E_BACKENDS])
def e2e(session: nox.Session, queue: str, store: str) -> None:
    """The real `hitcount api` (gunicorn, gevent) and `hitcount indexer` over HTTP, per backend combination."""
    backends = dict.fromkeys((queue, store))
    extras = [package for backend in backends for package in BACKEND_PACKAGES.get(backend, ())]
    missing = [package for package in extras if package.startswith("./") and not (ROOT / package).is_dir()]
    if missing:
        session.skip(f"{', '.join(missing)} not in this checkout")
    session.install("./packages/core[testing]", "./packages/api-flask", "./packages/indexer", *extras)
    env = {"HITCOUNT_QUEUE": queue, "HITCOUNT_STORE": store}
    urls = services() if any(backend in BACKEND_URLS for backend in backends) else {}
    for backend in backends:
        if backend in BACKEND_URLS:
            variable, written_as = BACKEND_URLS[backend]
            if written_as not in urls:
                session.error(f"{written_as} is missing from {SERVICES_ENV}: run `scripts/services.sh up`")
            env[variable] = urls[written_as]
    pytest(session, "tests/e2e", env=env)


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy over every package, both clean."""
    session.install(
        "ruff==0.17.5",
        "mypy==2.4.1",
        "types-protobuf",
        "nox==2026.10.20",
        "./packages/core[testing]",
        "./packages/indexer",
        "./packages/queue-redis",
        "./packages/store-elastic",
        "./packages/api-flask[test]",
    )
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
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
        "elasticsearch>=9,<10",
    )
    session.run("python", "bench/run.py", env={"PYTHONPATH": str(ROOT / "bench")})
