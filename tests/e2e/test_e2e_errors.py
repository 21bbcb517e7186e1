"""The real server's refusals: each a JSON answer with the status that says what was wrong."""

from __future__ import annotations

import json

import pytest

from tests.e2e.pipeline import Stack


@pytest.mark.parametrize("body", [b"{not json", b"", b'{"id": "a"', b"\xff\xfe"])
def test_body_that_is_not_json_is_a_400(stack: Stack, body: bytes) -> None:
    answer = stack.request("POST", "/analytics", body)
    assert answer.status == 400
    assert answer.content_type.startswith("application/json")
    assert answer.json()["message"]


def test_hit_without_an_id_is_a_400(stack: Stack) -> None:
    assert stack.post("/analytics", {"timestamp": 0}).status == 400


def test_batch_of_more_than_1000_hits_is_a_400(stack: Stack, id: str) -> None:
    assert stack.post("/analytics/batch", [{"id": id}] * 1001).status == 400


def test_body_over_the_size_limit_is_a_413(stack: Stack) -> None:
    answer = stack.request("POST", "/analytics/batch", json.dumps([{"id": "x" * 200}] * 400).encode())
    assert answer.status == 413
    assert answer.content_type.startswith("application/json")


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("POST", "/nowhere"), ("GET", "/dashboard")])
def test_unknown_path_is_a_404(stack: Stack, method: str, path: str) -> None:
    answer = stack.request(method, path)
    assert answer.status == 404
    assert answer.content_type.startswith("application/json")


@pytest.mark.parametrize(("method", "path"), [("POST", "/"), ("PUT", "/analytics"), ("DELETE", "/analytics/a")])
def test_wrong_method_is_a_405(stack: Stack, method: str, path: str) -> None:
    answer = stack.request(method, path)
    assert answer.status == 405
    assert answer.content_type.startswith("application/json")
