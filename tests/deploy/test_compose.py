"""docker-compose.yml holds the production defaults, checked on the parsed file (no Docker here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hitcount.core import Runtime

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
HITCOUNT_ROLES = ("api", "indexer")
# ${NAME}, ${NAME:?message}, ${NAME:-default}: the variables compose takes from the env file.
INTERPOLATED = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")
# The variables of deploy/.env that hold passwords.
SECRETS = ("REDIS_PASSWORD", "ELASTIC_PASSWORD")
# Restart policies that bring a long-running service back after a crash or the host's reboot.
RESTARTING = ("always", "unless-stopped")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return parsed


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else [str(word) for word in command]


def default_of(value: str) -> str:
    """``value`` as compose reads it when the env file leaves its ``${NAME:-default}`` variables unset."""
    return re.sub(r"\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}", r"\1", value)


def config_file(compose: dict[str, Any], service: dict[str, Any], target: str) -> str:
    """The content of the file of the top-level ``configs`` that ``service`` mounts at ``target``."""
    sources = [config["source"] for config in service.get("configs", []) if config["target"] == target]
    assert sources, f"nothing mounted at {target}"
    content: str = compose["configs"][sources[0]]["content"]
    return content


def command_lines(service: dict[str, Any]) -> str:
    """Every command line the service runs: its command, entrypoint and healthcheck, as one text."""
    parts = [service.get("command", []), service.get("entrypoint", []), service.get("healthcheck", {}).get("test", [])]
    return " ".join(part if isinstance(part, str) else " ".join(map(str, part)) for part in parts)


def test_the_stack_runs_api_indexer_redis_and_elasticsearch(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {*HITCOUNT_ROLES, "redis", "elasticsearch"}


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        tag = image.rpartition(":")[2]
        assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{name}: image {image!r} is not pinned to a x.y.z release"


def test_only_the_api_publishes_a_port(services: dict[str, dict[str, Any]]) -> None:
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing == {"api"}
    assert [port.rpartition(":")[2] for port in services["api"]["ports"]] == ["8000"]


def test_the_api_is_published_on_loopback_unless_api_publish_opens_it(services: dict[str, dict[str, Any]]) -> None:
    """Plain HTTP, open to every network, is for a TLS proxy on the host to offer, not for the API."""
    [port] = services["api"]["ports"]
    assert port.startswith("${API_PUBLISH:-"), port
    assert default_of(port) == "127.0.0.1:8000:8000"


def test_every_service_restarts_unless_stopped(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("restart") in RESTARTING, f"{name} has restart {service.get('restart')!r}"


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_hitcount_waits_for_healthy_backends(services: dict[str, dict[str, Any]]) -> None:
    for role in HITCOUNT_ROLES:
        assert services[role]["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "elasticsearch": {"condition": "service_healthy"},
        }


def test_data_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    mounts = {name: [volume.split(":") for volume in service.get("volumes", [])] for name, service in services.items()}
    expected = {"redis": "/data", "elasticsearch": "/usr/share/elasticsearch/data", "api": "/var/lib/hitcount"}
    for name, target in expected.items():
        sources = [source for source, mounted, *_ in mounts[name] if mounted == target]
        assert sources, f"{name} keeps {target} in its container"
        assert sources[0] in compose["volumes"], f"{name}'s {target} is not a named volume"


def test_redis_fsyncs_every_write_and_needs_a_password(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    command = command_of(services["redis"])
    assert command[0] == "redis-server"
    assert command[2:] == [], f"redis-server takes options on its command line: {command}"
    lines = config_file(compose, services["redis"], command[1]).splitlines()
    options = dict(line.split(maxsplit=1) for line in lines if line.strip() and not line.startswith("#"))
    assert options["appendonly"] == "yes"
    assert options["appendfsync"] == "always"
    assert options["requirepass"].startswith("${REDIS_PASSWORD")


def test_no_password_is_on_a_command_line(services: dict[str, dict[str, Any]]) -> None:
    """Any user of the host sees a process's command line (`ps`): passwords go in its environment or a file.

    Neither a variable of deploy/.env holding one nor a variable of the service's environment set
    from one may appear in its command, entrypoint or healthcheck.
    """
    for name, service in services.items():
        environment = service.get("environment", {})
        holding = {key for key, value in environment.items() if any(secret in str(value) for secret in SECRETS)}
        named = {word for word in {*SECRETS, *holding} if word in command_lines(service)}
        assert not named, f"{name}'s command line names {named}"


def test_the_elasticsearch_healthcheck_reads_its_password_from_a_file(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    elasticsearch = services["elasticsearch"]
    curlrc = re.search(r"curl .*-K (\S+)", command_lines(elasticsearch))
    assert curlrc, "the healthcheck's curl reads no config file"
    assert config_file(compose, elasticsearch, curlrc.group(1)).startswith('user = "elastic:${ELASTIC_PASSWORD')


def test_elasticsearch_runs_with_security_and_a_password(services: dict[str, dict[str, Any]]) -> None:
    environment = services["elasticsearch"]["environment"]
    assert environment["xpack.security.enabled"] == "true"
    assert environment["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD")


def test_hitcount_connects_with_the_passwords(services: dict[str, dict[str, Any]]) -> None:
    for role in HITCOUNT_ROLES:
        environment = services[role]["environment"]
        assert environment["HITCOUNT_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD")
        assert environment["HITCOUNT_ELASTIC_USERNAME"] == "elastic"
        assert environment["HITCOUNT_ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD")


def test_every_hitcount_variable_is_a_setting_hitcount_reads(services: dict[str, dict[str, Any]]) -> None:
    known = set(Runtime.load({}).registry.settings)
    for role in HITCOUNT_ROLES:
        unknown = {name for name in services[role]["environment"] if name.startswith("HITCOUNT_")} - known
        assert not unknown, f"{role} sets {unknown}, which `hitcount config` does not know"


def test_the_env_example_documents_every_variable_the_file_needs() -> None:
    needed = set(INTERPOLATED.findall(COMPOSE.read_text()))
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert needed == documented == {*SECRETS, "API_PUBLISH", "TRUSTED_PROXIES"}
