"""How the queue's stream entries read back: their ids, their times, their fields, and the tags naming them.

A delivery's or a dead letter's tag is ``<partition>:<entry id>``: it is made and read here alone.
"""

from __future__ import annotations

import re

from hitcount.core.queue import Delivery
from hitcount.queue_redis.keys import Partition

_ENTRY_ID = re.compile(r"^\d+-\d+$")


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def entry_time(entry_id: str) -> float:
    """When Redis added the entry (published it, or dead-lettered it): its id is ``<milliseconds>-<sequence>``."""
    return int(entry_id.split("-", 1)[0]) / 1000


def tag(partition: Partition, entry_id: bytes | str) -> str:
    return f"{partition.index}:{text(entry_id)}"


def locate(tag: str, partitions: int) -> tuple[int, str]:
    """The partition and entry id of a tag of a queue of ``partitions`` partitions; ValueError if it is none."""
    index, _, entry_id = tag.partition(":")
    if not index.isdigit() or int(index) >= partitions or not _ENTRY_ID.match(entry_id):
        raise ValueError(f"{tag!r} is not a tag of this redis queue ({partitions} partitions)")
    return int(index), entry_id


def delivery(
    partition: Partition, entry_id: bytes | str, fields: dict[bytes, bytes] | list[bytes], attempts: int
) -> Delivery:
    """A Delivery from an entry, whose fields come as a dict from redis-py or a flat list from Lua."""
    if isinstance(fields, list):
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    return Delivery(
        tag(partition, entry_id),
        fields.get(b"payload", b""),
        int(fields.get(b"hits", 0)),
        entry_time(text(entry_id)),
        int(attempts),
    )
