"""How the queue talks to Redis: its Lua scripts run by SHA1, pipelined, or confirmed by replicas (``WAIT``).

Every part of the queue goes through one :class:`ScriptRunner`, which also turns the client's
errors into :class:`~hitcount.core.QueueUnavailable` naming the server and the action.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.cluster import RedisCluster

from hitcount.core.errors import QueueUnavailable
from hitcount.queue_redis.client import Client, Connection, Connector, unavailable
from hitcount.queue_redis.scripts import Lua


@dataclass(frozen=True)
class ScriptCall:
    """One call of a registered Lua script, to be pipelined."""

    script: Lua
    keys: list[str]
    args: list[str | int]


class ScriptRunner:
    """The queue's connection to Redis (``where`` is its URL, masked), and the ways its scripts run there.

    With ``min_replicas`` above 0 (None: 1 when the master has replicas, else 0), a script that
    adds batches is answered only once that many replicas have it, waiting ``wait`` seconds for them.
    """

    def __init__(self, connector: Connector, where: str, min_replicas: int | None, wait: float) -> None:
        self._connector = connector
        self.where = where
        self._min_replicas = min_replicas
        self._wait_ms = max(1, round(wait * 1000))

    @property
    def cluster(self) -> bool:
        """Whether the server was found to be a node of a cluster (False until first reached)."""
        return self._connector.cluster

    def connection(self) -> Connection:
        return self._connector.get()

    def client(self) -> Client:
        return self._connector.get().client

    def unavailable(self, action: str) -> AbstractContextManager[None]:
        """The client's errors as :class:`QueueUnavailable` naming the server and the action."""
        return unavailable(QueueUnavailable, f"redis queue {self.where}", action, self._connector)

    def run(self, lua: Lua, keys: list[str], args: Sequence[str | int | bytes]) -> Any:
        """Run ``lua`` on the client, as :meth:`run_on` does."""
        return self.run_on(self.client(), lua, keys, args)

    @staticmethod
    def run_on(client: Client, lua: Lua, keys: list[str], args: Sequence[str | int | bytes]) -> Any:
        """Run ``lua`` by its SHA1, by its text when Redis lacks it (it restarted, or failed over)."""
        try:
            return client.evalsha(lua.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.eval(lua.text, len(keys), *keys, *args)

    def pipelined(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """Run script calls in one round trip; only for scripts that may run twice harmlessly.

        redis-py's pipelines send ``SCRIPT EXISTS`` for their scripts before every execute,
        a second round trip on every acknowledgement. Here each call is a
        plain ``EVALSHA``; when Redis has lost the scripts (it restarted), they are loaded
        and the whole pipeline runs again, which is why its scripts must be idempotent.
        redis-py's cluster pipelines refuse scripts: on a cluster, the calls run one by one.
        """
        client = self.client()
        if isinstance(client, RedisCluster):
            return [self.run_on(client, call.script, call.keys, call.args) for call in calls]

        def run() -> list[Any]:
            with client.pipeline(transaction=False) as pipe:
                for call in calls:
                    pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
                return pipe.execute()

        try:
            return run()
        except redis.exceptions.NoScriptError:
            for script in {call.script.sha: call.script for call in calls}.values():
                client.script_load(script.text)
        return run()

    def write(self, lua: Lua, keys: list[str], args: Sequence[str | int | bytes]) -> Any:
        """Run a script that adds batches; with replicas to wait for, answer only once they have its effect."""
        connection = self.connection()
        needed = self._min_replicas
        if needed is None:
            needed = 1 if connection.topology.replicated else 0
        if needed == 0:
            return self.run_on(connection.client, lua, keys, args)

        def on(master: redis.Redis) -> list[Any]:
            # WAIT counts the replicas that have this connection's writes: the script and the
            # WAIT must share one connection, which a pipeline of the master's own client does.
            with master.pipeline(transaction=False) as pipe:
                pipe.evalsha(lua.sha, len(keys), *keys, *args)
                pipe.wait(needed, self._wait_ms)
                return pipe.execute()

        def run() -> list[Any]:
            master = _master(connection, keys[0])
            try:
                return on(master)
            except redis.exceptions.NoScriptError:
                master.script_load(lua.text)
                return on(master)

        try:
            answer, confirmed = run()
        except redis.exceptions.MovedError:
            # The slot has moved to another master (resharding), which the master's own client
            # does not follow as the cluster client would: the script did not run; once more there.
            self._connector.follow_topology()
            answer, confirmed = run()
        if answer and confirmed < needed:
            raise QueueUnavailable(
                f"redis queue {self.where}: {confirmed} of the HITCOUNT_REDIS_MIN_REPLICAS={needed} replicas"
                f" confirmed within {self._wait_ms} ms; refused (it may still be delivered)"
            )
        return answer


def _master(connection: Connection, key: str) -> redis.Redis:
    """The client of the master holding ``key``: the server itself, or the cluster's node of its slot."""
    client = connection.client
    if isinstance(client, RedisCluster):
        return cast(redis.Redis, client.get_node_from_key(key).redis_connection)  # type: ignore[no-untyped-call]
    return client
