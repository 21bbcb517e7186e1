"""A hit's ``uid`` from the client: any UUID, stored as the hit's 16-byte uid, so that a retried hit counts once."""

from __future__ import annotations

import uuid

import orjson
import pytest
from api_testing import queued_hits
from flask import Flask
from flask.testing import FlaskClient

from hitcount.api_flask.state import api_state

UID = uuid.UUID("3f2b9c4e-8d1a-4b7e-9c6d-2a5e8f1b0c3d")


@pytest.mark.parametrize(
    "text",
    [
        str(UID),
        str(UID).upper(),
        UID.hex,
        "{" + str(UID) + "}",
        UID.urn,
    ],
    ids=["canonical", "upper-case", "hex", "braces", "urn"],
)
def test_a_uid_in_a_documented_text_form_of_a_uuid_is_the_hits_uid(client: FlaskClient, app: Flask, text: str) -> None:
    assert client.post("/analytics", json={"id": "page", "uid": text}).status_code == 204
    [hit] = queued_hits(app)
    assert hit.uid == UID.bytes


@pytest.mark.parametrize("version", [uuid.uuid1, uuid.uuid4, lambda: uuid.uuid5(uuid.NAMESPACE_URL, "x")])
def test_a_uuid_of_any_version_is_accepted(client: FlaskClient, app: Flask, version: object) -> None:
    uid = version()  # type: ignore[operator]
    assert client.post("/analytics", json={"id": "page", "uid": str(uid)}).status_code == 204
    assert [hit.uid for hit in queued_hits(app)] == [uid.bytes]


@pytest.mark.parametrize(
    ("uid", "message"),
    [
        ("not-a-uuid", "uid must be a UUID such as"),
        (str(UID)[:-1], "uid must be a UUID such as"),
        (str(UID) + "0", "uid must be a UUID such as"),
        ("", "uid must be a UUID such as"),
        # uuid.UUID reads all of these; none is a documented form.
        ("+" + UID.hex[1:], "uid must be a UUID such as"),
        (" " + UID.hex[2:] + " ", "uid must be a UUID such as"),
        ("0_" + UID.hex[2:], "uid must be a UUID such as"),
        ("{{" + str(UID) + "}}", "uid must be a UUID such as"),
        ("urn:" + UID.urn, "uid must be a UUID such as"),
        ("{" + UID.hex + "}", "uid must be a UUID such as"),
        ("{" + str(UID), "uid must be a UUID such as"),
        (str(UID).replace("-", "", 1), "uid must be a UUID such as"),
        ("".join(chr(0xFF10 + int(c, 16)) if c.isdigit() else c for c in str(UID)), "uid must be a UUID such as"),
        (42, "uid must be a UUID string, not a number"),
        (None, "uid must be a UUID string, not null"),
        ([str(UID)], "uid must be a UUID string, not an array"),
    ],
)
def test_a_malformed_uid_is_400_and_nothing_is_queued(
    client: FlaskClient, app: Flask, uid: object, message: str
) -> None:
    response = client.post("/analytics", json={"id": "page", "uid": uid})
    assert response.status_code == 400
    assert message in orjson.loads(response.data)["message"]
    assert queued_hits(app) == []


def test_a_malformed_uid_in_a_batch_is_named_by_its_index(client: FlaskClient, app: Flask) -> None:
    items = [{"id": "a", "uid": str(UID)}, {"id": "b", "uid": "nope"}, {"id": "c"}, {"id": "d", "uid": 7}]
    response = client.post("/analytics/batch", json=items)
    assert response.status_code == 400
    body = orjson.loads(response.data)
    assert [error["index"] for error in body["errors"]] == [1, 3]
    assert all("uid must be a UUID" in error["message"] for error in body["errors"])
    assert queued_hits(app) == []


def test_hits_without_a_uid_get_a_server_made_one_each(client: FlaskClient, app: Flask) -> None:
    assert (
        client.post("/analytics/batch", json=[{"id": "a"}, {"id": "a"}, {"id": "a", "uid": str(UID)}]).status_code
        == 204
    )
    uids = [hit.uid for hit in queued_hits(app)]
    assert len(set(uids)) == 3
    assert uids[2] == UID.bytes
    assert all(len(uid) == 16 for uid in uids)


def test_a_hit_sent_again_with_its_uid_is_counted_once(client: FlaskClient, app: Flask) -> None:
    # The client's retries after a lost answer: every copy reaches the queue, the store counts one.
    hit = {"id": "retried", "uid": str(UID)}
    for _ in range(3):
        assert client.post("/analytics", json=hit).status_code == 204
    assert client.post("/analytics/batch", json=[hit, {"id": "retried"}]).status_code == 204
    hits = queued_hits(app)
    assert [h.uid for h in hits].count(UID.bytes) == 4
    store = api_state(app).backends.store.get()
    store.write(hits)
    counts = orjson.loads(client.get("/analytics/retried").data)["counts"]
    assert [window["count"] for window in counts] == [2] * len(counts)
