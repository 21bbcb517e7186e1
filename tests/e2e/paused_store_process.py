"""A gevent-patched API worker's reader against Elasticsearch behind a proxy the script pauses.

Run by ``test_e2e_paused_store.py``: ``python paused_store_process.py <elastic url> <index prefix>``.
It prints one JSON line: on how many connections the Elasticsearch client still waited for an
answer of the paused proxy once every reader had given up, and what a read of a new id got after the
proxy let traffic through again.

The proxy stands in for ``kill -STOP`` of the node, which the shared Elasticsearch of the
other tests cannot take: while paused it accepts connections and reads requests but
forwards nothing and answers nothing, as a stopped node's kernel does.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402 - after patching, as a gunicorn worker does
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

from hitcount.api_flask.access import read_id  # noqa: E402
from hitcount.api_flask.app import create_app  # noqa: E402
from hitcount.api_flask.state import api_state  # noqa: E402
from hitcount.core import Hit, HitcountError, Runtime, now_ns  # noqa: E402

ABANDONED = 20
READ_TIMEOUT = "300ms"
# How long the abandoned searches get to let go of their connections before the proxy flows again.
DEADLINE = 5.0


class PausableProxy:
    """TCP to ``upstream``; while paused, what clients send is held and nothing comes back."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.flowing = Event()
        self.flowing.set()
        # Connections on which a request came while paused, as long as they stay open.
        self.held = 0
        self.server = StreamServer(("127.0.0.1", 0), self._serve)
        self.server.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def _serve(self, client: socket.socket, _: object) -> None:
        upstream = socket.create_connection(self.upstream)
        pipes = [gevent.spawn(self._requests, client, upstream), gevent.spawn(self._answers, upstream, client)]
        try:
            gevent.joinall(pipes, count=1)
        finally:
            gevent.killall(pipes)
            upstream.close()
            client.close()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        held = b""
        try:
            while data := client.recv(65536):  # read even while paused, so a client closing is seen
                held += data
                if self.flowing.is_set():
                    upstream.sendall(held)
                    held = b""
                elif held == data:  # the first request this connection holds
                    self.held += 1
        finally:
            if held:
                self.held -= 1

    def _answers(self, upstream: socket.socket, client: socket.socket) -> None:
        while data := upstream.recv(65536):
            self.flowing.wait()
            client.sendall(data)


def main(elastic_url: str, prefix: str) -> None:
    parts = urlsplit(elastic_url.split(",", maxsplit=1)[0])
    proxy = PausableProxy((parts.hostname or "127.0.0.1", parts.port or 9200))
    runtime = Runtime.load(
        {
            "HITCOUNT_QUEUE": "memory",
            "HITCOUNT_STORE": "elastic",
            "HITCOUNT_CACHE": "memory",
            "HITCOUNT_MEMORY_NAMESPACE": uuid.uuid4().hex,
            "HITCOUNT_ELASTIC_URL": proxy.url,
            "HITCOUNT_ELASTIC_INDEX_PREFIX": prefix,
            "HITCOUNT_ELASTIC_TIMEOUT": "60s",
            "HITCOUNT_READ_TIMEOUT": READ_TIMEOUT,
            "HITCOUNT_READ_MAX_AGE": "0s",
        }
    )
    app = create_app(runtime)
    backends = api_state(app).backends
    reader = api_state(app).reader
    backends.store.write([Hit("new", now_ns())])
    backends.store.refresh()
    reader.read(read_id("warm"))  # the client's first connection, made while the proxy flows
    proxy.flowing.clear()
    readers = [gevent.spawn(reader.read, read_id(f"gone-{n}")) for n in range(ABANDONED)]
    gevent.joinall(readers)
    gave_up = sum(isinstance(greenlet.exception, HitcountError) for greenlet in readers)
    deadline = time.monotonic() + DEADLINE
    while proxy.held and time.monotonic() < deadline:
        gevent.sleep(0.05)
    still_held = proxy.held
    proxy.flowing.set()
    after: dict[str, object]
    try:
        reading = reader.read(read_id("new"))
        after = {"fresh": reading.fresh, "count": reading.counts.values[0]}
    except HitcountError as error:
        after = {"error": str(error)}
    print(json.dumps({"gave_up": gave_up, "still_held": still_held, "after": after}), flush=True)
    backends.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
