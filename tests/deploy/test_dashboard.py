"""deploy/grafana/hitcount.json queries only metrics the real `hitcount api` and `hitcount indexer` export."""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from hitcount.core.testing.metrics import exported_names, family
from hitcount.core.testing.processes import Child, free_port, scrape, serves_metrics, start_api, wait_until

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "hitcount.json"
METRIC = re.compile(r"\bhitcount_[a-z0-9_]+")


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def post(url: str, body: bytes) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body), timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return parsed


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """The metric names of a real API and indexer on the sqlite backends, after a hit, a refusal and a read."""
    directory = tmp_path_factory.mktemp("dashboard")
    api_url, indexer_url = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("HITCOUNT_", "PROMETHEUS_"))}
    environ.update(
        HITCOUNT_QUEUE="sqlite",
        HITCOUNT_STORE="sqlite",
        HITCOUNT_DATA_DIR=str(directory),
        HITCOUNT_WORKERS="1",
        HITCOUNT_BIND=api_url.removeprefix("http://"),
        HITCOUNT_INDEXER_METRICS_BIND=indexer_url.removeprefix("http://"),
    )
    command = [sys.executable, "-m", "hitcount.core.cli"]
    with ExitStack() as running:
        indexer = Child([*command, "indexer"], directory / "indexer.log", environ)
        running.callback(indexer.stop)
        api = start_api([*command, "api"], directory / "api.log", environ)
        running.callback(api.stop)
        wait_until(lambda: serves_metrics(indexer_url), f"hitcount indexer's /metrics ({indexer.output()})")
        assert post(f"{api_url}/analytics", b'{"id": "dashboard"}') == 204
        assert post(f"{api_url}/analytics", b"not json") == 400
        wait_until(
            lambda: "\nhitcount_indexer_hits_indexed_total 1.0\n" in scrape(indexer_url),
            "the indexer to index the hit",
        )
        with urllib.request.urlopen(f"{api_url}/analytics/dashboard", timeout=5) as response:
            assert json.load(response)["counts"][0]["count"] == 1
        yield exported_names(scrape(api_url)) | exported_names(scrape(indexer_url))


def test_the_dashboard_takes_its_prometheus_as_an_import_input(dashboard: dict[str, Any]) -> None:
    assert [entry["name"] for entry in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]


def test_every_query_names_a_hitcount_metric(dashboard: dict[str, Any]) -> None:
    queries = expressions(dashboard)
    assert queries
    assert all(METRIC.search(query) for query in queries), [query for query in queries if not METRIC.search(query)]


def test_every_metric_the_dashboard_queries_is_exported(dashboard: dict[str, Any], exported: set[str]) -> None:
    queried = {name for query in expressions(dashboard) for name in METRIC.findall(query)}
    assert not queried - exported, f"not exported by hitcount api or indexer: {sorted(queried - exported)}"


def test_the_dashboard_shows_every_metric_hitcount_exports(dashboard: dict[str, Any], exported: set[str]) -> None:
    """A new metric without a panel is a metric nobody watches."""
    shown = {family(name) for query in expressions(dashboard) for name in METRIC.findall(query)}
    missing = {family(name) for name in exported if name.startswith("hitcount_")} - shown
    assert not missing, f"exported but on no panel: {sorted(missing)}"
