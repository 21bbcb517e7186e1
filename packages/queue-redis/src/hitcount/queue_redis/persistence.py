"""What Redis keeps across a restart: the settings that decide whether the queue is durable.

``/readyz`` reports them, because a Redis that runs without its append-only file, or that
may evict keys, loses unindexed batches silently: every publish succeeded, then the batches
are gone.
"""

from __future__ import annotations

import redis

# The settings read, in the order they are shown.
NAMES = ("appendonly", "appendfsync", "maxmemory-policy")
UNKNOWN = "unknown"


def read_settings(client: redis.Redis) -> dict[str, str]:
    """Each of :data:`NAMES` as ``CONFIG GET`` answers it, or "unknown" where ``CONFIG`` is not allowed
    (managed services rename or deny it): the queue works all the same, so this must not fail."""
    with client.pipeline(transaction=False) as pipe:
        for name in NAMES:
            pipe.config_get(name)
        answers = pipe.execute(raise_on_error=False)
    return {
        name: UNKNOWN if isinstance(answer, Exception) else str(answer.get(name, UNKNOWN))
        for name, answer in zip(NAMES, answers, strict=True)
    }


def risks(settings: dict[str, str]) -> list[str]:
    """How these settings can lose batches the queue acknowledged; empty when they cannot (or are unknown).

    ``volatile-*`` eviction policies only evict keys with a time to live, which the queue never sets.
    """
    found = []
    if settings["appendonly"] == "no":
        found.append(
            "appendonly is no, so a restart of Redis loses every batch not yet indexed;"
            " set appendonly yes (with appendfsync always)"
        )
    policy = settings["maxmemory-policy"]
    if policy.startswith("allkeys-"):
        found.append(f"maxmemory-policy is {policy}, so Redis may evict unprocessed batches; set it to noeviction")
    return found
