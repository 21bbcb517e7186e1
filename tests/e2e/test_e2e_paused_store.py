"""Searches whose readers all gave up are dropped (issue 20): a hung Elasticsearch that comes back
answers a new id at once, not 60 dead searches first.

Runs a gevent-patched reader in a process of its own (:mod:`paused_store_process`), against the
session's Elasticsearch behind a proxy the process pauses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

if os.environ.get("HITCOUNT_STORE") != "elastic":
    pytest.skip("a paused Elasticsearch: runs in the e2e session with HITCOUNT_STORE=elastic", allow_module_level=True)

from elasticsearch import Elasticsearch

from hitcount.store_elastic.testing import delete_prefix

PROCESS = Path(__file__).with_name("paused_store_process.py")


@pytest.fixture
def prefix() -> Iterator[str]:
    """An index prefix of this test alone; its indices and template are deleted afterwards."""
    prefix = f"e2e-paused-{uuid.uuid4().hex[:12]}"
    yield prefix
    admin = Elasticsearch(os.environ["HITCOUNT_ELASTIC_URL"].split(","), request_timeout=30)
    delete_prefix(admin, prefix)
    admin.close()


def test_once_a_paused_store_answers_again_a_new_id_is_not_stuck_behind_abandoned_searches(prefix: str) -> None:
    result = subprocess.run(
        [sys.executable, str(PROCESS), os.environ["HITCOUNT_ELASTIC_URL"], prefix],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["gave_up"] == 20
    # Before searches were dropped, the 20 abandoned ones held all 10 of the client's connections
    # to the node (still_held 10) and the new id got 503 behind them.
    assert outcome["after"] == {"fresh": True, "count": 1}, outcome
