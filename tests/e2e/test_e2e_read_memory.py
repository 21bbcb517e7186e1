"""Reads of ids a client makes up never cost the Redis queue its memory (issue 20).

The API in-process, on a Redis of the test's own run as a durable queue wants it: ``maxmemory``
with ``noeviction``, so that a full Redis refuses writes rather than lose a batch. Reads of
thousands of never-hit ids (``badge-<n>``) must leave that Redis able to take hits.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from hitcount.api_flask.app import create_app
from hitcount.api_flask.state import api_state
from hitcount.core import Runtime
from hitcount.core.wire import decode_batch

if os.environ.get("HITCOUNT_QUEUE") != "redis":
    pytest.skip("a Redis queue's memory: runs in the e2e session with HITCOUNT_QUEUE=redis", allow_module_level=True)

import redis  # only installed beside the Redis queue

from hitcount.queue_redis.testing import DURABLE, RedisServer

# A fresh redis-server uses about 1 MB and a cached count about 340 bytes: 6,000 would overflow 2 MB.
READS = 6_000


def test_reads_of_never_hit_ids_leave_a_full_queue_redis_taking_hits(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, *DURABLE, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
    server.start()
    try:
        runtime = Runtime.load(
            {
                "HITCOUNT_QUEUE": "redis",
                "HITCOUNT_CACHE": "redis",
                "HITCOUNT_REDIS_URL": server.url,
                "HITCOUNT_REDIS_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}",
                "HITCOUNT_STORE": "memory",
                "HITCOUNT_READ_RATE_LIMIT": "off",
                "HITCOUNT_DATA_DIR": str(tmp_path / "data"),
            }
        )
        app = create_app(runtime)
        client = app.test_client()
        try:
            assert {client.get(f"/badge.svg?id=badge-{n}").status_code for n in range(READS)} == {200}
            assert client.post("/analytics", json={"id": "after-the-reads"}).status_code == 204
            queue = api_state(app).backends.queue.get()
            hits = [hit for delivery in queue.consume("e2e", 10, 1.0) for hit in decode_batch(delivery.payload)]
            assert [hit.id for hit in hits] == ["after-the-reads"]  # in Redis, not in the spool
        finally:
            api_state(app).close()
        assert not list(redis.Redis.from_url(server.url).scan_iter(match="*:counts:*"))
    finally:
        server.kill()
