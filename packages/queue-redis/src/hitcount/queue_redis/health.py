"""The queue's health: Redis reachable, the group in place, and each master's persistence safe for batches."""

from __future__ import annotations

from redis.cluster import RedisCluster

from hitcount.core.errors import QueueUnavailable
from hitcount.core.health import Health
from hitcount.queue_redis import persistence
from hitcount.queue_redis.consumption import GROUP, Consumption
from hitcount.queue_redis.keys import Partition
from hitcount.queue_redis.runner import ScriptRunner


def check(runner: ScriptRunner, consumption: Consumption, partitions: tuple[Partition, ...]) -> Health:
    """Reachable, the group in place, and no Redis setting that loses batches (else not ok, saying why)."""
    try:
        with runner.unavailable("health check"):
            consumption.ensure_groups()
            by_server = _persistence(runner)
            spread = _spread(runner, partitions)
    except QueueUnavailable as error:
        return Health(False, str(error))
    shown = "; ".join(
        f"{server}{', '.join(f'{name} {value}' for name, value in settings.items())}"
        for server, settings in by_server.items()
    )
    detail = f"redis queue {runner.where}: {len(partitions)} partition(s){spread}, group {GROUP!r}, {shown}"
    risks = [f"{server}{risk}" for server, settings in by_server.items() for risk in persistence.risks(settings)]
    if risks:
        return Health(False, f"{detail}; not durable: {'; '.join(risks)}")
    return Health(True, detail)


def _spread(runner: ScriptRunner, partitions: tuple[Partition, ...]) -> str:
    """On a cluster, how many of its masters hold partitions, and a warning when not all do: the
    others take no share of the load, and a master lost refuses its partitions' publishes until
    its replica is replaced, with no other master to take them."""
    client = runner.client()
    if not isinstance(client, RedisCluster):
        return ""
    masters = len(client.get_primaries())  # type: ignore[no-untyped-call]
    used = len({client.get_node_from_key(partition.stream).name for partition in partitions})  # type: ignore[no-untyped-call]
    if used < masters:
        return (
            f" on {used} of the cluster's {masters} masters (set HITCOUNT_REDIS_PARTITIONS to at least"
            f" {2 * masters} to use them all)"
        )
    return f" on all {masters} masters of the cluster"


def _persistence(runner: ScriptRunner) -> dict[str, dict[str, str]]:
    """The persistence settings of the server, or of each master of a cluster (``"host:port: "`` before
    each): a cluster whose one master runs without its append-only file loses that master's batches."""
    client = runner.client()
    if not isinstance(client, RedisCluster):
        return {"": persistence.read_settings(client)}
    masters = client.get_primaries()  # type: ignore[no-untyped-call]
    return {f"{node.name}: ": persistence.read_settings(node.redis_connection) for node in masters}
