"""GET /hours/<id>: an id's hits per UTC hour over the last three days, under the read rules of counts."""

from __future__ import annotations

import orjson
from api_testing import AppFactory
from flask import Flask
from flask.testing import FlaskClient

from hitcount.api_flask.state import api_state
from hitcount.core import Hit, now_ns
from hitcount.core.hours import HOURS
from hitcount.core.windows import NS_PER_HOUR


def test_each_hour_of_the_last_three_days_has_its_hits_oldest_first(client: FlaskClient, app: Flask) -> None:
    now = now_ns()
    store = api_state(app).backends.store.get()
    store.write([Hit("page", now - 1), Hit("page", now - 2), Hit("page", now - 5 * NS_PER_HOUR)])
    response = client.get("/hours/page")
    assert response.status_code == 200
    body = orjson.loads(response.data)
    assert body["id"] == "page"
    assert len(body["hours"]) == HOURS
    assert [hour["count"] for hour in body["hours"]][-1] >= 1  # now's hour (one more if now - 2 ns is in it)
    assert sum(hour["count"] for hour in body["hours"]) == 3
    starts = [hour["start"] for hour in body["hours"]]
    assert starts == sorted(starts)
    assert all(start.endswith(":00:00Z") for start in starts)


def test_hours_of_an_id_that_is_not_public_need_a_token(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_READ_TOKENS="the-token", HITCOUNT_PUBLIC_IDS="public/*").test_client()
    assert client.get("/hours/secret").status_code == 401
    assert client.get("/hours/public/page").status_code == 200
    assert client.get("/hours/secret", headers={"Authorization": "Bearer the-token"}).status_code == 200
