"""Every error is JSON ``{"message": ...}`` with the right status."""

from __future__ import annotations

import orjson
import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize("path", ["/nope", "/analytics/", "/analytics-x", "/dashboard"])
def test_an_unknown_path_is_a_json_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.content_type == "application/json"
    assert orjson.loads(response.data)["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/analytics", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("DELETE", "/analytics", {"GET", "HEAD", "POST", "OPTIONS"}),
        # "batch" is also an id that can be read.
        ("DELETE", "/analytics/batch", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("POST", "/analytics/some-id", {"GET", "HEAD", "OPTIONS"}),
        ("POST", "/healthz", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_a_wrong_method_is_a_json_405_with_allow(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.content_type == "application/json"
    assert orjson.loads(response.data)["message"]
    assert set(response.headers["Allow"].split(", ")) == allowed
