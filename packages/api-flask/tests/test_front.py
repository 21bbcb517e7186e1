"""The Track front answers Track's POSTs and preflights itself, recognising them as Flask's routing would."""

from __future__ import annotations

import orjson
import pytest
from api_testing import AppFactory, queued_hits
from flask import request

from hitcount.api_flask.state import api_state
from hitcount.core import Hit

ORIGIN = "https://a.example"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "//analytics", b'{"id": "x"}'),
        ("post", "/analytics", b'{"id": "x"}'),
        ("POST", "///analytics/batch", b'[{"id": "x"}]'),
    ],
    ids=["leading-slashes", "lowercase-method", "batch-leading-slashes"],
)
def test_a_track_post_is_recognised_as_werkzeug_routing_would(
    make_app: AppFactory, method: str, path: str, body: bytes
) -> None:
    app = make_app()
    # Set as the server passes it: the test client would read "//analytics" as a host name.
    response = app.test_client().open(method=method, data=body, environ_overrides={"PATH_INFO": path})
    assert response.status_code == 204
    assert [hit.id for hit in queued_hits(app)] == ["x"]


def test_a_bug_in_track_is_a_logged_json_500_that_allowed_origins_can_read(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(HITCOUNT_CORS_ORIGINS=ORIGIN)

    def broken(hits: list[Hit]) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api_state(app).batcher, "submit", broken)
    response = app.test_client().post("/analytics", data=b'{"id": "x"}', headers={"Origin": ORIGIN})
    assert response.status_code == 500
    assert orjson.loads(response.data) == {"message": "internal error; it was logged"}
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "a bug" in caplog.text


def test_track_posts_and_preflights_never_enter_flask(make_app: AppFactory) -> None:
    app = make_app()
    endpoints: list[str | None] = []

    @app.before_request
    def note() -> None:
        endpoints.append(request.endpoint)

    client = app.test_client()
    assert client.post("/analytics", json={"id": "x"}).status_code == 204
    assert client.post("/analytics/batch", json=[{"id": "y"}]).status_code == 204
    assert client.options("/analytics", headers={"Origin": ORIGIN}).status_code == 204
    assert client.get("/analytics/batch").status_code == 200  # a read of the id "batch": Flask's
    assert endpoints == ["read.counts"]
    assert [hit.id for hit in queued_hits(app)] == ["x", "y"]
