"""The Track front answers what Flask's Track views would, byte for byte, and lets Flask see the rest."""

from __future__ import annotations

import gzip

import orjson
import pytest
from api_testing import AppFactory, queued_hits
from flask import Flask, request

from hitcount.api_flask.state import api_state
from hitcount.core import Hit, QueueFull
from hitcount.core.backends.memory import MemoryQueue

ORIGIN = "https://a.example"


class FullQueue(MemoryQueue):
    def publish(self, payload: bytes, hits: int) -> None:
        raise QueueFull("backlog at its maximum of 10 hits")


# (path, body, headers): what a client may send to a Track endpoint, good and bad.
REQUESTS = [
    ("/analytics", b'{"id": "x"}', {}),
    ("/analytics", b'{"id": "x"}', {"Origin": ORIGIN}),
    ("/analytics", b'{"id": "x"}', {"Origin": "https://elsewhere.example"}),
    ("/analytics", b'{"id": ""}', {"Origin": ORIGIN}),
    ("/analytics", b"{not json", {}),
    ("/analytics", b'{"id": "x", "timestamp": "yesterday"}', {}),
    ("/analytics", b'{"id": "' + b"x" * 2000 + b'"}', {}),
    ("/analytics", gzip.compress(b'{"id": "gz"}'), {"Content-Encoding": "gzip"}),
    ("/analytics", b'{"id": "x"}', {"Content-Encoding": "br"}),
    ("/analytics/batch", b'[{"id": "a"}, {"id": "b"}]', {"Origin": ORIGIN}),
    ("/analytics/batch", b'[{"id": "a"}, {"id": ""}, 3]', {}),
    ("/analytics/batch", b"[]", {}),
    ("/analytics/batch", gzip.compress(b"[" + b'{"id": "a"},' * 200 + b'{"id": "a"}]'), {"Content-Encoding": "gzip"}),
]


def answer(app: Flask, path: str, body: bytes, headers: dict[str, str]) -> tuple[str, list[tuple[str, str]], bytes]:
    response = app.test_client().post(path, data=body, headers=headers)
    return response.status, response.headers.to_wsgi_list(), response.data


@pytest.mark.parametrize("queue", ["memory", "full"])
@pytest.mark.parametrize(("path", "body", "headers"), REQUESTS)
def test_the_front_answers_as_the_flask_views_byte_for_byte(
    make_app: AppFactory, queue: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    apps = [
        make_app(
            queues={"full": FullQueue},
            HITCOUNT_QUEUE=queue,
            HITCOUNT_MAX_BODY="1KiB",
            HITCOUNT_CORS_ORIGINS=ORIGIN,
            HITCOUNT_API_TRACK_FRONT=front,
        )
        for front in ("on", "off")
    ]
    front, views = (answer(app, path, body, headers) for app in apps)
    assert front == views


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

    monkeypatch.setattr(api_state(app).backends.batcher, "submit", broken)
    response = app.test_client().post("/analytics", data=b'{"id": "x"}', headers={"Origin": ORIGIN})
    assert response.status_code == 500
    assert orjson.loads(response.data) == {"message": "internal error; it was logged"}
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "a bug" in caplog.text


@pytest.mark.parametrize(("front", "seen"), [("on", False), ("off", True)])
def test_flask_hooks_see_track_posts_when_the_front_is_off(make_app: AppFactory, front: str, seen: bool) -> None:
    app = make_app(HITCOUNT_API_TRACK_FRONT=front)
    endpoints: list[str | None] = []

    @app.before_request
    def note() -> None:
        endpoints.append(request.endpoint)

    assert app.test_client().post("/analytics", json={"id": "x"}).status_code == 204
    assert endpoints == (["track.track_one"] if seen else [])
    assert [hit.id for hit in queued_hits(app)] == ["x"]
