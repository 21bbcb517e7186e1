"""Ops endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest
from api_testing import AppFactory
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from hitcount.api_flask.badge import DEFAULT_METRIC, METRICS
from hitcount.api_flask.ingest import TRACK_ENDPOINTS
from hitcount.api_flask.openapi import openapi_document
from hitcount.core import WINDOWS, Counts, Health, HitStore, Window
from hitcount.core.backends.memory import MemoryQueue, MemoryStore
from hitcount.core.windows import NS_PER_SECOND


def test_healthz_answers_while_the_backends_are_down(make_app: AppFactory) -> None:
    class DownQueue(MemoryQueue):
        def health(self) -> Health:
            return Health(False, "down")

    client = make_app(queues={"down": DownQueue}, HITCOUNT_QUEUE="down").test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert orjson.loads(response.data) == {"status": "ok"}


def test_readyz_is_200_with_details_when_every_backend_is_healthy(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert orjson.loads(response.data) == {
        "ready": True,
        "degraded": False,
        "checks": {
            "queue": {"ok": True, "detail": "in-process memory queue"},
            "spool": {"ok": True, "detail": "0 hits spooled (0 bytes)"},
            "store": {"ok": True, "detail": "in-process memory store"},
            "cache": {"ok": True, "detail": "in-process memory cache"},
        },
    }


class NoTotalsStore(MemoryStore):
    """A store of a third party written before totals: it does not seal, and answers no total."""

    seal = HitStore.seal

    def counts(self, id: str, now: int) -> Counts:
        return dataclasses.replace(super().counts(id, now), total=None)


def test_readyz_says_when_the_store_keeps_no_totals(make_app: AppFactory) -> None:
    app = make_app(stores={"no-totals": NoTotalsStore}, HITCOUNT_STORE="no-totals")
    body = orjson.loads(app.test_client().get("/readyz").data)
    assert body["degraded"] is False
    assert body["checks"]["store"] == {
        "ok": True,
        "detail": "in-process memory store; keeps no hourly counts, so a total counts only the hits it retains",
    }
    assert "total" not in orjson.loads(app.test_client().get("/analytics/x").data)


class DownQueue(MemoryQueue):
    def health(self) -> Health:
        return Health(False, "redis: connection refused")


# A read token with the characters that end a URL to anyone guessing where one ends in free text.
TOKEN = 'Zq9 Xk7\'Lm3<>"x"'


class QuotingQueue(MemoryQueue):
    """A queue whose client library's words quote a secret of the configuration, as redis-py's may quote its URL."""

    def health(self) -> Health:
        return Health(False, f"redis://:{TOKEN}@cache:6379/0: auth with {TOKEN!r} refused")


def test_readyz_details_never_show_a_configured_secret_a_backend_quotes(make_app: AppFactory) -> None:
    app = make_app(queues={"quoting": QuotingQueue}, HITCOUNT_QUEUE="quoting", HITCOUNT_READ_TOKENS=TOKEN)
    response = app.test_client().get("/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    detail = orjson.loads(response.data)["checks"]["queue"]["detail"]
    assert detail == "redis://:****@cache:6379/0: auth with '****' refused"


def test_readyz_stays_200_but_degraded_while_the_queue_is_down_and_hits_are_spooled(make_app: AppFactory) -> None:
    response = make_app(queues={"down": DownQueue}, HITCOUNT_QUEUE="down").test_client().get("/readyz")
    assert response.status_code == 200
    body = orjson.loads(response.data)
    assert (body["ready"], body["degraded"]) == (True, True)
    assert body["checks"]["queue"] == {"ok": False, "detail": "redis: connection refused"}
    assert body["checks"]["spool"]["ok"] is True


def test_readyz_is_503_when_neither_the_queue_nor_the_spool_can_take_hits(make_app: AppFactory, tmp_path: Path) -> None:
    (tmp_path / "spool").write_text("not a directory")  # the spool cannot be opened
    response = make_app(queues={"down": DownQueue}, HITCOUNT_QUEUE="down").test_client().get("/readyz")
    assert response.status_code == 503
    body = orjson.loads(response.data)
    assert (body["ready"], body["checks"]["spool"]["ok"]) == (False, False)


def test_readyz_stays_200_but_degraded_while_the_store_is_down_and_reads_are_stale(make_app: AppFactory) -> None:
    class DownStore(MemoryStore):
        def health(self) -> Health:
            return Health(False, "elasticsearch: cluster red")

    response = make_app(stores={"down": DownStore}, HITCOUNT_STORE="down").test_client().get("/readyz")
    assert response.status_code == 200
    body = orjson.loads(response.data)
    assert body["degraded"] is True
    assert body["checks"]["store"] == {"ok": False, "detail": "elasticsearch: cluster red"}


@pytest.fixture
def hanging_queue() -> Iterator[type[MemoryQueue]]:
    release = threading.Event()

    class HangingQueue(MemoryQueue):
        def health(self) -> Health:
            release.wait(10)
            return Health(True, "late")

    yield HangingQueue
    release.set()


def test_readyz_answers_within_the_timeout_when_a_health_check_hangs(
    make_app: AppFactory, hanging_queue: type[MemoryQueue]
) -> None:
    app = make_app(queues={"hanging": hanging_queue}, HITCOUNT_QUEUE="hanging", blocking=True)  # on a thread
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 1.5
    assert orjson.loads(response.data)["degraded"] is True
    assert "no answer within 1 s" in orjson.loads(response.data)["checks"]["queue"]["detail"]


def metric_values(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_accepted_and_rejected_hits_and_describe_queue_writes(client: FlaskClient) -> None:
    before = metric_values(client)
    client.post("/analytics/batch", json=[{"id": "a"}, {"id": "b"}])
    client.post("/analytics", json={"id": ""})
    client.post("/analytics", data=b"x" * 100_000)
    after = metric_values(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("hitcount_api_hits_accepted_total") == 2
    assert delta("hitcount_api_hits_rejected_total", reason="invalid") == 1
    assert delta("hitcount_api_hits_rejected_total", reason="too_large") == 1
    assert delta("hitcount_api_queue_publish_seconds_count") == 1
    assert delta("hitcount_api_queue_publish_hits_sum") == 2


def test_the_openapi_document_covers_every_route(app: Flask, client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = orjson.loads(response.data)
    assert document["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routes = {
        (rule.rule.replace("<id:id>", "{id}"), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        # Flask's automatic OPTIONS and HEAD are not documented; Track's preflights are.
        if method not in {"HEAD", "OPTIONS"} or rule.endpoint in {track.endpoint for track in TRACK_ENDPOINTS}
    }
    assert routes == documented


def counts_schema(document: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"]["Counts"]
    return schema


def badge_parameter(document: dict[str, Any], name: str) -> dict[str, Any]:
    """The parameter ``name`` of ``/badge.svg``."""
    parameters: list[dict[str, Any]] = document["paths"]["/badge.svg"]["get"]["parameters"]
    return next(parameter for parameter in parameters if parameter["name"] == name)


def test_the_openapi_document_gives_the_windows_of_core(client: FlaskClient) -> None:
    counts = counts_schema(orjson.loads(client.get("/openapi.json").data))
    references = [window.reference for window in WINDOWS]
    array = counts["properties"]["counts"]
    assert array["items"]["properties"]["reference"]["enum"] == references
    assert array["minItems"] == array["maxItems"] == len(WINDOWS)
    assert [entry["reference"] for entry in counts["example"]["counts"]] == references


def test_a_window_added_to_core_is_in_the_openapi_document_and_nowhere_else_to_edit() -> None:
    windows = (Window("1 week ago", 7 * 24 * 3600 * NS_PER_SECOND, "1w"), *WINDOWS)
    document = orjson.loads(openapi_document(windows))
    array = counts_schema(document)["properties"]["counts"]
    assert array["items"]["properties"]["reference"]["enum"][0] == "1 week ago"
    assert array["maxItems"] == len(WINDOWS) + 1
    assert "1w" in badge_parameter(document, "window")["schema"]["enum"]
    assert "from 1 week ago" in document["components"]["schemas"]["Hit"]["properties"]["timestamp"]["description"]
    shipped = resources.files("hitcount.api_flask").joinpath("openapi.json").read_text()
    assert not [window.reference for window in WINDOWS if window.reference in shipped]


def test_the_openapi_document_gives_each_window_its_visitors_as_an_optional_count(client: FlaskClient) -> None:
    item = counts_schema(orjson.loads(client.get("/openapi.json").data))["properties"]["counts"]["items"]
    assert item["properties"]["visitors"]["type"] == "integer"
    assert item["properties"]["visitors"]["minimum"] == 0
    assert "visitors" not in item["required"]  # absent when the store does not count visitors


def test_the_openapi_document_takes_a_hits_own_visitor_of_at_most_128_characters(client: FlaskClient) -> None:
    hit = orjson.loads(client.get("/openapi.json").data)["components"]["schemas"]["Hit"]
    assert hit["properties"]["visitor"] == {**hit["properties"]["visitor"], "type": "string", "maxLength": 128}
    assert hit["required"] == ["id"]


def test_the_openapi_document_gives_the_badge_metrics_of_the_badge_module(client: FlaskClient) -> None:
    schema = badge_parameter(orjson.loads(client.get("/openapi.json").data), "metric")["schema"]
    assert schema["enum"] == list(METRICS) == ["count", "visitors"]
    assert schema["default"] == DEFAULT_METRIC == "count"
