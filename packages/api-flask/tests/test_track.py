"""POST /analytics: what is accepted, what is refused and why, and that a 204'd hit is queued."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from api_testing import queued_hits
from flask import Flask
from flask.testing import FlaskClient

from hitcount.api_flask.tuning import Tuning
from hitcount.core import now_ns
from hitcount.core.windows import NS_PER_SECOND

NS_PER_MS = 1_000_000


def post(client: FlaskClient, body: object, **kwargs: object) -> tuple[int, dict[str, object]]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    response = client.post("/analytics", data=data, **kwargs)
    return response.status_code, (orjson.loads(response.data) if response.data else {})


def test_a_hit_answered_204_is_in_the_queue(client: FlaskClient, app: Flask) -> None:
    before = now_ns()
    response = client.post("/analytics", json={"id": "page-1"})
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    [hit] = queued_hits(app)
    assert hit.id == "page-1"
    assert before <= hit.timestamp <= now_ns()


def test_a_send_beacon_text_plain_body_is_accepted(client: FlaskClient, app: Flask) -> None:
    status, _ = post(client, {"id": "beacon"}, content_type="text/plain;charset=UTF-8")
    assert status == 204
    assert [hit.id for hit in queued_hits(app)] == ["beacon"]


def test_a_body_without_content_type_is_accepted(client: FlaskClient, app: Flask) -> None:
    status, _ = post(client, b'{"id": "bare"}')
    assert status == 204


def test_an_rfc3339_timestamp_with_an_offset_dates_the_hit(client: FlaskClient, app: Flask) -> None:
    moment = datetime.now(timezone(timedelta(hours=5, minutes=30))).replace(microsecond=123456) - timedelta(hours=2)
    status, _ = post(client, {"id": "dated", "timestamp": moment.isoformat()})
    assert status == 204
    [hit] = queued_hits(app)
    assert hit.timestamp == int(moment.timestamp()) * NS_PER_SECOND + 123456 * 1000


def test_an_rfc3339_timestamp_in_utc_keeps_nanoseconds(client: FlaskClient, app: Flask) -> None:
    moment = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    status, _ = post(client, {"id": "utc", "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.123456789Z")})
    assert status == 204
    [hit] = queued_hits(app)
    assert hit.timestamp == int(moment.timestamp()) * NS_PER_SECOND + 123456789


def test_an_epoch_milliseconds_timestamp_dates_the_hit(client: FlaskClient, app: Flask) -> None:
    milliseconds = now_ns() // NS_PER_MS - 2 * 24 * 3600 * 1000
    status, _ = post(client, {"id": "ms", "timestamp": milliseconds})
    assert status == 204
    [hit] = queued_hits(app)
    assert hit.timestamp == milliseconds * NS_PER_MS


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(days=3) - timedelta(minutes=1), True),
        (timedelta(days=3) + timedelta(minutes=1), False),
        (-timedelta(seconds=50), True),
        (-timedelta(seconds=70), False),
    ],
    ids=["just-under-3-days-ago", "over-3-days-ago", "50s-ahead", "70s-ahead"],
)
def test_timestamps_are_accepted_from_3_days_ago_to_60_s_ahead(
    client: FlaskClient, offset: timedelta, accepted: bool
) -> None:
    milliseconds = now_ns() // NS_PER_MS - int(offset.total_seconds() * 1000)
    for timestamp in (milliseconds, datetime.fromtimestamp(milliseconds / 1000, timezone.utc).isoformat()):
        status, body = post(client, {"id": "edge", "timestamp": timestamp})
        assert status == (204 if accepted else 400), body
        if not accepted:
            assert "timestamp" in str(body["message"])


@pytest.mark.parametrize(
    ("unit", "per_second"),
    [("seconds", 1), ("microseconds", 1_000_000), ("nanoseconds", 1_000_000_000)],
)
def test_a_timestamp_in_another_unit_than_milliseconds_is_refused_naming_the_unit_it_looks_like(
    client: FlaskClient, unit: str, per_second: int
) -> None:
    timestamp = now_ns() * per_second // NS_PER_SECOND
    status, body = post(client, {"id": "unit", "timestamp": timestamp})
    assert status == 400
    assert str(body["message"]).endswith(f"; it looks like {unit} since the epoch: send milliseconds")


def test_a_timestamp_out_of_range_in_every_unit_gets_no_unit_hint(client: FlaskClient) -> None:
    status, body = post(client, {"id": "unit", "timestamp": 1})
    assert status == 400
    assert "looks like" not in str(body["message"])


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-01-01T00:00:00",  # no offset: ambiguous
        "2024-01-01",
        "yesterday",
        "2024-02-30T00:00:00Z",
        "2024-01-01T00:00:00+24:00",
        1.5e12,
        True,
        None,
        [1],
    ],
)
def test_malformed_timestamps_are_400(client: FlaskClient, timestamp: object) -> None:
    status, body = post(client, {"id": "x", "timestamp": timestamp})
    assert status == 400
    assert "timestamp" in str(body["message"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"id": "a"', "not valid JSON"),
        (b'"just a string"', "must be a JSON object"),
        (b"[]", "must be a JSON object"),
        (b"{}", "missing field 'id'"),
        (b'{"id": ""}', "must not be empty"),
        (b'{"id": 42}', "id must be a string, not a number"),
        (b'{"id": null}', "id must be a string, not null"),
        (b'{"id": ["a"]}', "id must be a string, not an array"),
        (b'{"id": "a", "tiemstamp": 1}', "unknown field 'tiemstamp'"),
        (b'{"id": "tab\\there"}', "control characters"),
        (b'{"id": "nul\\u0000"}', "control characters"),
        (b'{"id": "c1\\u0085"}', "control characters"),
        (b'{"id": "\\ud800"}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_invalid_bodies_are_400_with_a_json_message(client: FlaskClient, body: bytes, message: str) -> None:
    response = client.post("/analytics", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.content_type == "application/json"
    assert message in orjson.loads(response.data)["message"]


def test_an_id_is_queued_in_normal_form_c(client: FlaskClient, app: Flask) -> None:
    assert post(client, {"id": "cafe\u0301"})[0] == 204  # e + COMBINING ACUTE ACCENT
    assert [hit.id for hit in queued_hits(app)] == ["caf\u00e9"]


@pytest.mark.parametrize(
    ("id", "message"),
    [
        ("evil\u202etxt", "format characters (such as bidi controls or zero-width characters); it holds U+202E"),
        ("zero\u200bwidth", "U+200B ZERO WIDTH SPACE"),
        ("non\ufdefchar", "noncharacters; it holds U+FDEF"),
    ],
)
def test_ids_with_format_characters_or_noncharacters_are_400_naming_them(
    client: FlaskClient, app: Flask, id: str, message: str
) -> None:
    status, body = post(client, {"id": id})
    assert status == 400
    assert message in str(body["message"])
    assert queued_hits(app) == []


def test_an_id_of_256_utf8_bytes_is_accepted_and_257_is_400(client: FlaskClient) -> None:
    assert post(client, {"id": "é" * 128})[0] == 204
    status, body = post(client, {"id": "é" * 128 + "x"})
    assert status == 400
    assert "257" in str(body["message"])


def test_a_body_over_the_limit_is_413_from_content_length(make_app: object) -> None:
    app = make_app(tuning=Tuning(max_body=100))  # type: ignore[operator]
    client = app.test_client()
    body = orjson.dumps({"id": "x" * 200})
    assert post(client, body)[0] == 413
    assert post(client, orjson.dumps({"id": "small"}))[0] == 204


def test_an_unread_body_is_refused_from_content_length_alone(client: FlaskClient) -> None:
    class Unreadable(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("the body was read")

    response = client.post("/analytics", input_stream=Unreadable(b"x" * 1024 * 1024))
    assert response.status_code == 413
    assert "limit" in orjson.loads(response.data)["message"]


class Late(io.BytesIO):
    """A body the server's input stream gives up waiting for (hitcount's worker: the client timeout)."""

    def read(self, size: int | None = -1) -> bytes:
        raise TimeoutError("timed out")

    def readinto(self, buffer: object) -> int:
        raise TimeoutError("timed out")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_that_does_not_arrive_in_time_is_408(client: FlaskClient, app: Flask, chunked: bool) -> None:
    overrides = {"CONTENT_LENGTH": "", "wsgi.input_terminated": True} if chunked else {}
    response = client.post("/analytics", input_stream=Late(b"x" * 10), environ_overrides=overrides)
    assert response.status_code == 408
    assert "client timeout" in orjson.loads(response.data)["message"]
    assert queued_hits(app) == []


# A chunked request has no Content-Length; the server terminates the input stream instead.
CHUNKED = {"CONTENT_LENGTH": "", "wsgi.input_terminated": True}


def test_a_chunked_body_over_the_limit_is_413_after_reading_just_past_it(make_app: object) -> None:
    app = make_app(tuning=Tuning(max_body=1024))  # type: ignore[operator]
    stream = io.BytesIO(b'{"id": "' + b"x" * 10_000 + b'"}')
    response = app.test_client().post("/analytics", input_stream=stream, environ_overrides=CHUNKED)
    assert response.status_code == 413
    assert stream.tell() <= 1025


def test_a_chunked_body_within_the_limit_is_accepted(client: FlaskClient, app: Flask) -> None:
    response = client.post("/analytics", input_stream=io.BytesIO(b'{"id": "chunked"}'), environ_overrides=CHUNKED)
    assert response.status_code == 204
    assert [hit.id for hit in queued_hits(app)] == ["chunked"]


def test_an_unsupported_content_encoding_is_415(client: FlaskClient) -> None:
    status, body = post(client, {"id": "x"}, headers={"Content-Encoding": "br"})
    assert status == 415
    assert "br" in str(body["message"])


def test_refused_hits_are_not_queued(client: FlaskClient, app: Flask) -> None:
    post(client, {"id": ""})
    post(client, b"nope")
    assert queued_hits(app) == []
