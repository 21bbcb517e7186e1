"""CORS on the Track endpoints: any origin by default, or only the listed ones, echoed."""

from __future__ import annotations

import orjson
import pytest
from api_testing import AppFactory, queued_hits, rejected

from hitcount.api_flask import ingest
from hitcount.core.logs import RecurringLog

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


@pytest.mark.parametrize("path", ["/analytics", "/analytics/batch"])
def test_a_preflight_is_allowed_for_any_origin_by_default(make_app: AppFactory, path: str) -> None:
    response = make_app().test_client().options(path, headers={"Origin": "https://shop.example", **PREFLIGHT})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()
    assert int(response.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("path", ["/analytics", "/analytics/batch"])
def test_track_answers_allow_any_origin_by_default_errors_included(make_app: AppFactory, path: str) -> None:
    client = make_app().test_client()
    ok = client.post(path, data=b'[{"id": "x"}]' if path.endswith("batch") else b'{"id": "x"}')
    refused = client.post(path, data=b"nope", headers={"Origin": "https://shop.example"})
    assert ok.status_code == 204
    assert refused.status_code == 400
    assert ok.headers["Access-Control-Allow-Origin"] == "*"
    assert refused.headers["Access-Control-Allow-Origin"] == "*"


def test_a_listed_origin_is_echoed_with_vary(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_CORS_ORIGINS="https://a.example, https://b.example").test_client()
    preflight = client.options("/analytics", headers={"Origin": "https://b.example", **PREFLIGHT})
    post = client.post("/analytics", json={"id": "x"}, headers={"Origin": "https://b.example"})
    for response in (preflight, post):
        assert response.headers["Access-Control-Allow-Origin"] == "https://b.example"
        assert response.headers["Vary"] == "Origin"


def test_an_unlisted_origin_gets_no_permission(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_CORS_ORIGINS="https://a.example").test_client()
    preflight = client.options("/analytics", headers={"Origin": "https://evil.example", **PREFLIGHT})
    post = client.post("/analytics", json={"id": "x"}, headers={"Origin": "https://evil.example"})
    for response in (preflight, post):
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Methods" not in response.headers


def test_reads_are_not_opened_to_other_origins(make_app: AppFactory) -> None:
    response = make_app().test_client().get("/analytics/x", headers={"Origin": "https://shop.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("path", ["/analytics", "/analytics/batch"])
def test_with_listed_origins_a_track_request_from_another_origin_is_403_and_nothing_is_counted(
    make_app: AppFactory, path: str
) -> None:
    app = make_app(HITCOUNT_CORS_ORIGINS="https://a.example")
    before = rejected("origin")
    body = b'[{"id": "x"}]' if path.endswith("batch") else b'{"id": "x"}'
    response = app.test_client().post(path, data=body, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert response.content_type == "application/json"
    assert "'https://evil.example'" in orjson.loads(response.data)["message"]
    assert queued_hits(app) == []
    assert rejected("origin") - before == 1


def test_refused_origins_are_logged_naming_the_origin_and_the_setting_a_few_times_a_minute(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ingest, "_refused_origins", RecurringLog(ingest.log))  # no line of another test's
    client = make_app(HITCOUNT_CORS_ORIGINS="https://a.example").test_client()
    for _ in range(3):
        assert client.post("/analytics", json={"id": "x"}, headers={"Origin": "https://b.example"}).status_code == 403
    lines = [record.getMessage() for record in caplog.records if record.name == ingest.log.name]
    assert len(lines) == 1
    assert "'https://b.example'" in lines[0]
    assert "HITCOUNT_CORS_ORIGINS" in lines[0]


@pytest.mark.parametrize("origin", ["https://a.example", None], ids=["listed", "none"])
def test_with_listed_origins_listed_pages_and_requests_without_origin_are_counted(
    make_app: AppFactory, origin: str | None
) -> None:
    app = make_app(HITCOUNT_CORS_ORIGINS="https://a.example")
    headers = {"Origin": origin} if origin else {}
    assert app.test_client().post("/analytics", json={"id": "x"}, headers=headers).status_code == 204
    assert [hit.id for hit in queued_hits(app)] == ["x"]


def test_any_origin_may_send_hits_by_default(make_app: AppFactory) -> None:
    app = make_app()
    response = app.test_client().post("/analytics", json={"id": "x"}, headers={"Origin": "https://any.example"})
    assert response.status_code == 204
    assert [hit.id for hit in queued_hits(app)] == ["x"]
