"""Encoding hits to and from the protobuf messages that queues carry (``hit.proto``)."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import DecodeError

from hitcount.core import hit_pb2
from hitcount.core.errors import InvalidBatch, InvalidHit
from hitcount.core.hit import Hit


def encode_batch(hits: Iterable[Hit]) -> bytes:
    """Serialize hits as one ``HitBatch`` message."""
    batch = hit_pb2.HitBatch()
    add = batch.hits.add
    for hit in hits:
        add(id=hit.id, timestamp_ns=hit.timestamp, uid=hit.uid, visitor=hit.visitor)
    return batch.SerializeToString()


def decode_batch(payload: bytes) -> list[Hit]:
    """Parse a ``HitBatch``; anything that is not a batch of valid hits raises :class:`InvalidBatch`.

    A hit without a ``visitor`` (one the API could not key, or queued by a version before visitors) has None.
    """
    batch = hit_pb2.HitBatch()
    try:
        batch.ParseFromString(payload)
        return [
            Hit(message.id, message.timestamp_ns, message.uid, message.visitor if message.HasField("visitor") else None)
            for message in batch.hits
        ]
    except (DecodeError, InvalidHit) as error:
        raise InvalidBatch(f"undecodable batch of {len(payload)} bytes: {error}") from error
