"""The protobuf wire format: round trips, refusals, and generated code in step with the schema."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitcount.core import Hit, InvalidBatch, InvalidHit, hit_pb2
from hitcount.core.hit import validate_id
from hitcount.core.wire import decode_batch, encode_batch

REPO = Path(__file__).resolve().parents[3]
CORE = REPO / "packages" / "core"


def is_id(text: str) -> bool:
    try:
        validate_id(text)
    except InvalidHit:
        return False
    return True


# Noncharacters are unassigned (Cn); a few characters grow past the byte limit in normal form C.
ids = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Cn")), min_size=1, max_size=64).filter(is_id)
hits = st.builds(Hit, ids, st.integers(min_value=0, max_value=2**63 - 1), st.binary(min_size=16, max_size=16))


@given(st.lists(hits, max_size=50))
def test_any_batch_of_hits_survives_encoding(batch: list[Hit]) -> None:
    assert decode_batch(encode_batch(batch)) == batch


def test_bytes_that_are_not_a_batch_are_refused() -> None:
    with pytest.raises(InvalidBatch):
        decode_batch(b"\xff\xff\xff not protobuf")


def test_a_batch_holding_an_invalid_hit_is_refused() -> None:
    message = hit_pb2.HitBatch()
    message.hits.add(id="", timestamp_ns=1, uid=b"0" * 16)
    with pytest.raises(InvalidBatch, match="empty"):
        decode_batch(message.SerializeToString())


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="needs the pinned generator")
def test_generated_module_matches_the_schema(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from generate_proto import generate  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    for generated in generate(tmp_path):
        committed = CORE / "src" / "hitcount" / "core" / generated.name
        assert generated.read_text() == committed.read_text(), (
            f"{committed.name} is stale: run scripts/generate_proto.py"
        )


def test_protobuf_runtime_floor_is_at_least_the_generator_version() -> None:
    generated = (CORE / "src" / "hitcount" / "core" / "hit_pb2.py").read_text()
    match = re.search(r"Protobuf Python Version: ([\d.]+)", generated)
    floor = re.search(r'"protobuf>=([\d.]+)"', (CORE / "pyproject.toml").read_text())
    assert match
    assert floor
    version = tuple(int(part) for part in match.group(1).split("."))
    assert tuple(int(part) for part in floor.group(1).split(".")) >= version
