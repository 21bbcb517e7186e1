"""A gevent-patched API worker's reader against Elasticsearch behind a proxy the script pauses.

Run by ``test_e2e_paused_store.py``: ``python paused_store_process.py <elastic url> <index prefix>``.
It prints one JSON line: on how many connections the Elasticsearch client still waited for an
answer of the paused proxy once every reader had given up, and what a read of a new id got after the
proxy let traffic through again.

The proxy (core's :class:`TcpProxy`, hung) stands in for ``kill -STOP`` of the node: it
accepts connections and reads requests but forwards nothing and answers nothing, as a
stopped node's kernel does, and counts the connections on which a request still waits.
When it flows again, those connections stay hung: only a client that gave them up (and
its pool slots) answers the new id.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402 - after patching, as a gunicorn worker does
import sys  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402

from hitcount.api_flask.access import read_id  # noqa: E402
from hitcount.api_flask.app import create_app  # noqa: E402
from hitcount.api_flask.state import api_state  # noqa: E402
from hitcount.api_flask.tuning import Tuning  # noqa: E402
from hitcount.core import Hit, HitcountError, Runtime, now_ns  # noqa: E402
from hitcount.core.testing import TcpProxy  # noqa: E402

ABANDONED = 20
# Every read asks the store, and gives up on it after 300 ms.
TUNING = Tuning(read_timeout=0.3, read_max_age=0)
# How long the abandoned searches get to let go of their connections before the proxy flows again.
DEADLINE = 5.0


def main(elastic_url: str, prefix: str) -> None:
    parts = urlsplit(elastic_url.split(",", maxsplit=1)[0])
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 9200)
    runtime = Runtime.load(
        {
            "HITCOUNT_QUEUE": "memory",
            "HITCOUNT_STORE": "elastic",
            "HITCOUNT_CACHE": "memory",
            "HITCOUNT_ELASTIC_URL": f"http://127.0.0.1:{proxy.port}",
            "HITCOUNT_ELASTIC_INDEX_PREFIX": prefix,
            "HITCOUNT_ELASTIC_TIMEOUT": "60s",
        }
    )
    app = create_app(runtime, tuning=TUNING)
    state = api_state(app)
    reader = state.reader
    store = state.backends.store.get()
    store.write([Hit("new", now_ns())])
    store.refresh()
    reader.read(read_id("warm"))  # the client's first connection, made while the proxy flows
    proxy.hang()
    readers = [gevent.spawn(reader.read, read_id(f"gone-{n}")) for n in range(ABANDONED)]
    gevent.joinall(readers)
    gave_up = sum(isinstance(greenlet.exception, HitcountError) for greenlet in readers)
    deadline = time.monotonic() + DEADLINE
    while proxy.held and time.monotonic() < deadline:
        gevent.sleep(0.05)
    still_held = proxy.held
    proxy.resume(held=False)  # the abandoned searches' connections stay hung: are they given up?
    after: dict[str, object]
    try:
        reading = reader.read(read_id("new"))
        after = {"fresh": reading.fresh, "count": reading.value.values[0]}
    except HitcountError as error:
        after = {"error": str(error)}
    print(json.dumps({"gave_up": gave_up, "still_held": still_held, "after": after}), flush=True)
    state.close()
    proxy.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
