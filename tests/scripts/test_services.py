"""scripts/services.py: its environment file, its settings and arguments, and a real Redis it starts and stops.

Elasticsearch's start and stop through the tool run in the end-to-end session, which restarts
its node (``test_e2e_outages.py``); a node of its own here would cost half a minute and a heap.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from hitcount.core.testing.processes import free_port
from scripts import services, services_env
from scripts.services import Services
from scripts.services_env import ServiceError

ALL_RUNNING = {
    "SERVICES_REDIS_URL": "redis://127.0.0.1:16379/0",
    "SERVICES_REDIS_CLUSTER_URL": "redis://127.0.0.1:17000/0",
    "SERVICES_ELASTIC8_URL": "http://127.0.0.1:19208",
    "SERVICES_ELASTIC8_VERSION": "8.19.21",
    "SERVICES_ELASTIC9_URL": "http://127.0.0.1:19209",
    "SERVICES_ELASTIC9_VERSION": "9.5.4",
    "SERVICES_ELASTIC_CLUSTER_URL": "http://127.0.0.1:19401,http://127.0.0.1:19402,http://127.0.0.1:19403",
    "SERVICES_ELASTIC_CLUSTER_VERSION": "9.5.4",
}


def test_env_file_text_parses_back_to_what_was_formatted() -> None:
    variables = {**ALL_RUNNING, "HITCOUNT_ELASTIC_URL": "http://u:p=w@127.0.0.1:1"}
    assert services_env.parse_env(services_env.format_env(variables)) == variables


def test_env_file_parsing_skips_blank_lines_and_comments_and_strips_spaces() -> None:
    text = "# written by services.py\n\n SERVICES_REDIS_URL = redis://127.0.0.1:1/0 \nnot a pair\n"
    assert services_env.parse_env(text) == {"SERVICES_REDIS_URL": "redis://127.0.0.1:1/0"}


def test_the_product_settings_point_at_the_single_redis_and_the_newest_single_node_elastic() -> None:
    settings = services.with_product_settings(ALL_RUNNING)
    assert settings["HITCOUNT_REDIS_URL"] == "redis://127.0.0.1:16379/0"
    assert settings["HITCOUNT_ELASTIC_URL"] == "http://127.0.0.1:19209"
    only_8 = {key: value for key, value in ALL_RUNNING.items() if "ELASTIC9" not in key}
    assert services.with_product_settings(only_8)["HITCOUNT_ELASTIC_URL"] == "http://127.0.0.1:19208"


def test_nothing_running_sets_no_product_setting() -> None:
    clusters = {key: value for key, value in ALL_RUNNING.items() if "CLUSTER" in key}
    assert services.with_product_settings(clusters) == clusters, "a cluster is never the product's default server"
    assert services.with_product_settings({}) == {}


def test_the_env_file_sets_no_hitcount_variable_but_two_of_the_product_settings() -> None:
    written = services.with_product_settings(ALL_RUNNING)
    assert {name for name in written if name.startswith("HITCOUNT_")} == set(services_env.PRODUCT_SETTINGS)
    assert all(name.startswith("SERVICES_") for name in written if name not in services_env.PRODUCT_SETTINGS)


def test_hitcount_config_knows_every_hitcount_variable_of_the_sourced_env_file(tmp_path: Path) -> None:
    """The README's recipe, `set -a; . var/services.env; set +a`, leaves `hitcount config` nothing unknown."""
    (tmp_path / "services.env").write_text(services_env.format_env(services.with_product_settings(ALL_RUNNING)))
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("HITCOUNT_", "SERVICES_"))}
    script = f'set -a; . "{tmp_path / "services.env"}"; set +a; exec "{sys.executable}" -m hitcount.core.cli config'
    result = subprocess.run(
        ["bash", "-c", script], env=environ, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    shown = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    assert "unknown setting" not in result.stdout, result.stdout
    assert "http://127.0.0.1:19209" in shown["HITCOUNT_ELASTIC_URL"]
    assert "redis://127.0.0.1:16379/0" in shown["HITCOUNT_REDIS_URL"]


def test_a_missing_env_file_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"services\.env is missing: run `make services`"):
        services_env.read_env(tmp_path)


def test_a_service_missing_from_the_env_file_says_how_to_start_it(tmp_path: Path) -> None:
    (tmp_path / "services.env").write_text(services_env.format_env({"SERVICES_REDIS_URL": "redis://127.0.0.1:1/0"}))
    assert services_env.url_of("redis", tmp_path) == "redis://127.0.0.1:1/0"
    with pytest.raises(ServiceError, match=r"SERVICES_ELASTIC8_URL is missing .* `scripts/services.py up elastic8`"):
        services_env.url_of("elastic8", tmp_path)


def test_ports_come_from_the_environment_with_defaults(tmp_path: Path) -> None:
    catalog = Services(tmp_path, {"SERVICES_ELASTIC9_PORT": "39209"}).catalog
    assert catalog["redis"].url == "redis://127.0.0.1:16379/0"
    assert catalog["elastic8"].url == "http://127.0.0.1:19208"
    assert catalog["elastic9"].url == "http://127.0.0.1:39209"
    assert catalog["elastic9"].nodes[0].ports == (39209, 19309)


def test_the_redis_cluster_is_six_nodes_on_consecutive_ports_with_their_buses_10000_above(tmp_path: Path) -> None:
    cluster = Services(tmp_path, {"SERVICES_REDIS_CLUSTER_PORT": "30000"}).catalog["redis-cluster"]
    assert [node.ports for node in cluster.nodes] == [(30000 + n, 40000 + n) for n in range(6)]
    assert cluster.url == "redis://127.0.0.1:30000/0"
    assert services_env.url_variable(cluster.name) == "SERVICES_REDIS_CLUSTER_URL"


def test_the_elastic_cluster_is_three_nodes_on_consecutive_ports_named_by_one_comma_separated_url(
    tmp_path: Path,
) -> None:
    environ = {
        "SERVICES_ELASTIC_CLUSTER_PORT": "39401",
        "SERVICES_ELASTIC_CLUSTER_TRANSPORT_PORT": "39501",
    }
    cluster = Services(tmp_path, environ).catalog["elastic-cluster"]
    assert cluster.url == "http://127.0.0.1:39401,http://127.0.0.1:39402,http://127.0.0.1:39403"
    assert [node.ports for node in cluster.nodes] == [(39401, 39501), (39402, 39502), (39403, 39503)]
    assert len({node.directory for node in cluster.nodes}) == 3, "each node keeps data of its own"
    assert services_env.url_variable("elastic-cluster") == "SERVICES_ELASTIC_CLUSTER_URL"
    assert services_env.version_variable("elastic-cluster") == "SERVICES_ELASTIC_CLUSTER_VERSION"


def test_elastic_cluster_nodes_find_each_other_and_only_a_first_start_bootstraps_the_cluster(tmp_path: Path) -> None:
    environ = {"SERVICES_ELASTIC_CLUSTER_TRANSPORT_PORT": "39501"}
    first, *_ = (node for node in Services(tmp_path, environ).catalog["elastic-cluster"].nodes)
    assert isinstance(first, services.ElasticClusterNode)
    assert first.discovery() == {
        "discovery.seed_hosts": "127.0.0.1:39501,127.0.0.1:39502,127.0.0.1:39503",
        "cluster.initial_master_nodes": (
            "hitcount-elastic-cluster-1,hitcount-elastic-cluster-2,hitcount-elastic-cluster-3"
        ),
    }
    (first.directory / "data" / "_state").mkdir(parents=True)
    assert "cluster.initial_master_nodes" not in first.discovery(), "a restarted node must rejoin, not bootstrap"
    assert first.cluster_name == "hitcount-elastic-cluster"
    assert first.logs()[1].name == "hitcount-elastic-cluster.log"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SERVICES_REDIS_PORT", "abc"),
        ("SERVICES_ELASTIC8_TRANSPORT_PORT", "70000"),
        ("SERVICES_REDIS_CLUSTER_PORT", "60000"),
        ("SERVICES_ES_TIMEOUT", "-1"),
        ("SERVICES_ES_HEAP", "half"),
        ("SERVICES_ES_CLUSTER_HEAP", "1.5g"),
        ("SERVICES_ELASTIC_CLUSTER_PORT", "65534"),  # its third node would have no port
    ],
)
def test_a_malformed_setting_is_an_error_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ServiceError, match=f"{variable}={value!r} is invalid"):
        Services(tmp_path, {variable: value})


def test_selection_is_all_services_by_default_in_a_fixed_order_and_rejects_unknown_names(tmp_path: Path) -> None:
    catalog = Services(tmp_path, {})
    assert [service.name for service in catalog.select([])] == [
        "redis",
        "redis-cluster",
        "elastic8",
        "elastic9",
        "elastic-cluster",
    ]
    assert [service.name for service in catalog.select(["elastic9", "redis"])] == ["redis", "elastic9"]
    with pytest.raises(ServiceError, match="unknown service 'elastic7'"):
        catalog.select(["elastic7"])


@pytest.mark.parametrize("argv", [["down", "--purge", "redis"], ["down", "redis", "--purge"]])
def test_purge_may_come_before_or_after_the_services(argv: list[str]) -> None:
    options = services.arguments(argv)
    assert (options.command, options.services, options.purge) == ("down", ["redis"], True)


def test_up_without_services_means_all() -> None:
    assert services.arguments(["up"]).services == []


@pytest.mark.parametrize("argv", [[], ["start"], ["up", "elastic7"], ["clean", "redis"]])
def test_a_usage_mistake_exits_2_with_the_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        services.arguments(argv)
    assert exit.value.code == 2
    assert "usage: services.py" in capsys.readouterr().err


def test_java_17_is_preferred_for_elastic8_and_the_newest_taken_for_elastic9() -> None:
    installed = {Path("/jvm/17"): 17, Path("/jvm/21"): 21, Path("/jvm/25"): 25, Path("/jvm/11"): 11}
    assert services.choose_java(installed, *services.JAVA["elastic8"]) == Path("/jvm/17")
    assert services.choose_java(installed, *services.JAVA["elastic9"]) == Path("/jvm/25")
    assert services.choose_java({Path("/jvm/25"): 25}, *services.JAVA["elastic8"]) == Path("/jvm/25")
    assert services.choose_java({Path("/jvm/17"): 17}, *services.JAVA["elastic9"]) is None


@pytest.mark.parametrize(("release", "major"), [('JAVA_VERSION="17.0.12"', 17), ('JAVA_VERSION="1.8.0_392"', 8)])
def test_java_major_is_read_from_the_release_file(tmp_path: Path, release: str, major: int) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").touch()
    (tmp_path / "release").write_text(f'IMPLEMENTOR="x"\n{release}\n')
    assert services.java_major(tmp_path) == major


def test_redis_up_is_idempotent_and_down_stops_it_and_rewrites_the_env_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real start and stop path, on a port and directory of its own (not the shared servers)."""
    port = free_port()
    mine = Services(tmp_path, {"SERVICES_REDIS_PORT": str(port)})
    url = f"redis://127.0.0.1:{port}/0"
    try:
        mine.up(["redis"])
        assert services_env.read_env(tmp_path) == {"SERVICES_REDIS_URL": url, "HITCOUNT_REDIS_URL": url}
        [pid] = [node.pid() for node in mine.catalog["redis"].nodes]
        mine.up(["redis"])
        assert f"already running, pid {pid}" in capsys.readouterr().out
        assert mine.status(["redis"]) == 0
        assert mine.service_at(url) == "redis"
    finally:
        mine.down(["redis"], purge=True)
    assert services_env.read_env(tmp_path) == {}
    assert mine.status(["redis"]) == services.NOT_RUNNING
    assert mine.service_at(url) is None
    assert not (tmp_path / "services" / "redis").exists()


def test_up_refuses_a_port_taken_by_a_server_it_does_not_manage(tmp_path: Path) -> None:
    other = Services(tmp_path / "other", {"SERVICES_REDIS_PORT": str(free_port())})
    other.up(["redis"])
    try:
        port = other.catalog["redis"].nodes[0].port
        mine = Services(tmp_path / "mine", {"SERVICES_REDIS_PORT": str(port)})
        assert mine.service_at(other.catalog["redis"].url) is None, "another checkout's server is not ours to restart"
        with pytest.raises(ServiceError, match=f"port {port} is in use by a process this tool does not manage"):
            mine.up(["redis"])
    finally:
        other.down(["redis"])


def _free_cluster_ports() -> int:
    """The first of 6 consecutive free ports whose cluster buses (10000 above) are free too, all
    below Linux's ephemeral ports (32768 up), which the nodes' own connections could take meanwhile."""
    while True:
        first = random.randrange(11000, 32768 - 10006)
        ports = [port + bus for port in range(first, first + 6) for bus in (0, 10000)]
        if not any(services.port_open(port) for port in ports):
            return first


@pytest.mark.forms_cluster
def test_redis_cluster_up_forms_it_once_and_it_rejoins_after_down_and_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _free_cluster_ports()
    mine = Services(tmp_path, {"SERVICES_REDIS_CLUSTER_PORT": str(first)})
    cluster = mine.catalog["redis-cluster"]
    assert isinstance(cluster, services.RedisClusterService)
    try:
        mine.up(["redis-cluster"])
        assert services_env.read_env(tmp_path) == {"SERVICES_REDIS_CLUSTER_URL": f"redis://127.0.0.1:{first}/0"}
        roles = [node.cluster_info()["cluster_size"] for node in cluster.nodes]
        assert roles == ["3"] * 6, "3 masters with slots"
        assert capsys.readouterr().out.count("formed") == 1
        mine.up(["redis-cluster"])
        assert "formed" not in capsys.readouterr().out, "a running cluster is left alone"
        mine.down(["redis-cluster"])
        assert services_env.read_env(tmp_path) == {}
        mine.up(["redis-cluster"])
        assert cluster.runs(), "the nodes rejoined from their nodes.conf"
        assert [node.cluster_info()["cluster_known_nodes"] for node in cluster.nodes] == ["6"] * 6
    finally:
        mine.down(["redis-cluster"], purge=True)
    assert not (tmp_path / "services" / "redis-cluster" / "0").exists()
