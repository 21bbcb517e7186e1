"""The Track front answers every request Flask's routing would send to a Track POST, and answers it like Flask."""

from __future__ import annotations

import orjson
import pytest
from api_testing import AppFactory, queued_hits

from hitcount.api_flask.state import api_state
from hitcount.core import Hit


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
    app = make_app(HITCOUNT_CORS_ORIGINS="https://a.example")

    def broken(hits: list[Hit]) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api_state(app).backends.batcher, "submit", broken)
    response = app.test_client().post("/analytics", data=b'{"id": "x"}', headers={"Origin": "https://a.example"})
    assert response.status_code == 500
    assert orjson.loads(response.data) == {"message": "internal error; it was logged"}
    assert response.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert "a bug" in caplog.text
