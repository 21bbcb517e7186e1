"""Run by test_redis_gevent.py: the queue in a gevent-patched process, as in the API's workers.

With the queue's settings in the environment, it starts a consumer blocked on an empty
queue (prefix ``<prefix>-idle``), publishes 200 batches from 200 greenlets, consumes them
with a second greenlet, and prints one JSON line of what it measured.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402 - after patching, as a gevent worker does
import os  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

from hitcount.core import Config, Delivery  # noqa: E402
from hitcount.queue_redis.queue import RedisQueue  # noqa: E402

BATCHES = 200


def main() -> None:
    config = Config(os.environ)
    queue = RedisQueue.from_config(config)
    idle = RedisQueue.from_config(
        config.with_overrides({"HITCOUNT_REDIS_PREFIX": os.environ["HITCOUNT_REDIS_PREFIX"] + "-idle"})
    )
    started = time.monotonic()
    waiter = gevent.spawn(idle.consume, "idle", 10, 2.0)
    gevent.sleep(0.05)
    publishers = [gevent.spawn(queue.publish, f"{n}".encode(), 1) for n in range(BATCHES)]
    gevent.joinall(publishers, timeout=10, raise_error=True)
    published_after = time.monotonic() - started
    waiter_still_waiting = not waiter.ready()

    def drain() -> list[Delivery]:
        received: list[Delivery] = []
        while len(received) < BATCHES and time.monotonic() - started < 10:
            deliveries = queue.consume("c1", 100, 1.0)
            queue.ack(deliveries)
            received += deliveries
        return received

    received = gevent.spawn(drain).get(timeout=15)
    idle_got = waiter.get(timeout=5)
    print(
        json.dumps(
            {
                "published_after": published_after,
                "waiter_still_waiting": waiter_still_waiting,
                "received": sorted(int(delivery.payload) for delivery in received),
                "idle_got": len(idle_got),
                "idle_returned_after": time.monotonic() - started,
            }
        )
    )
    queue.close()
    idle.close()


if __name__ == "__main__":
    main()
