"""var/services.env: what ``scripts/services.py`` writes of the servers that run, and how to read it.

Nox, the tests and the benchmarks read the file through this module alone, without the
tool that starts the servers. Standard library only, Python 3.10+, like the tool.

Every variable of the file and every input of the tool is named ``SERVICES_*`` (a service's
URL and version: ``SERVICES_ELASTIC8_URL``; its ports: ``SERVICES_REDIS_PORT``), apart from
two of the product's own settings, :data:`PRODUCT_SETTINGS`: ``set -a; . var/services.env;
set +a`` points ``hitcount`` at the servers, and ``hitcount config`` then shows no variable it
does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PREFIX = "SERVICES"
# The product's settings the file sets: the single-node Redis, and the newest single-node
# Elasticsearch running (services.py's ``with_product_settings``).
REDIS_URL = "HITCOUNT_REDIS_URL"
ELASTIC_URL = "HITCOUNT_ELASTIC_URL"
PRODUCT_SETTINGS = (REDIS_URL, ELASTIC_URL)


class ServiceError(Exception):
    """Something the user has to fix; the message says what."""


def variable_stem(service: str) -> str:
    """``service`` as the middle of a variable's name: ``elastic-cluster`` is ``ELASTIC_CLUSTER``."""
    return service.upper().replace("-", "_")


def settings_prefix(service: str) -> str:
    """The prefix of the variables that set ``service`` up (``SERVICES_REDIS`` of ``SERVICES_REDIS_PORT``)."""
    return f"{PREFIX}_{variable_stem(service)}"


def url_variable(service: str) -> str:
    """The variable of var/services.env holding ``service``'s URL."""
    return f"{settings_prefix(service)}_URL"


def version_variable(service: str) -> str:
    """The variable of var/services.env holding the version ``service`` reports."""
    return f"{settings_prefix(service)}_VERSION"


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and ``#`` comments are skipped."""
    pairs = (row.split("=", 1) for row in text.splitlines() if "=" in row and not row.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def format_env(variables: Mapping[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in variables.items())


def env_file(var: Path = VAR) -> Path:
    return var / "services.env"


def read_env(var: Path = VAR) -> dict[str, str]:
    """What the last ``up`` or ``down`` wrote, or an error saying what to run."""
    path = env_file(var)
    try:
        return parse_env(path.read_text())
    except FileNotFoundError:
        raise ServiceError(f"{path} is missing: run `make services` (or `make test`) first") from None


def url_of(service: str, var: Path = VAR) -> str:
    """The URL of a running ``service`` from var/services.env, or an error saying how to start it."""
    variable = url_variable(service)
    url = read_env(var).get(variable)
    if url is None:
        raise ServiceError(f"{variable} is missing from {env_file(var)}: run `scripts/services.py up {service}`")
    return url
