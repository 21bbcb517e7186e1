"""A consumer process for test_redis_faults.py: acknowledges some batches, then holds others until killed.

Usage: ``python consumer_process.py ACK HOLD`` with ``HITCOUNT_QUEUE=redis`` and the queue's
other settings in the environment. It prints one JSON line, ``{"acked": [...], "held": [...]}``
(the first hit id of each acknowledged batch, the tags of the held ones), then sleeps so
that the test can kill it while it holds them.
"""

from __future__ import annotations

import json
import sys
import time

from hitcount.core import Delivery, Queue, Runtime
from hitcount.core.wire import decode_batch

# Far longer than the test waits before it kills this process.
SLEEP = 120


def take(queue: Queue, count: int) -> list[Delivery]:
    """Exactly ``count`` deliveries (failing after 20 s), consumed but not acknowledged."""
    taken: list[Delivery] = []
    deadline = time.monotonic() + 20
    while len(taken) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(taken)} of {count} batches arrived")
        taken += queue.consume("doomed", count - len(taken), 1.0)
    return taken


def main() -> None:
    ack, hold = (int(argument) for argument in sys.argv[1:3])
    queue = Runtime.load().open_queue()
    acked = take(queue, ack)
    queue.ack(acked)
    held = take(queue, hold)
    acked_ids = [decode_batch(delivery.payload)[0].id for delivery in acked]
    print(json.dumps({"acked": acked_ids, "held": [delivery.tag for delivery in held]}), flush=True)
    time.sleep(SLEEP)


if __name__ == "__main__":
    main()
