"""A backend is called on the event loop or on a thread of its own as its registration says,
whatever its factory is: plugins register functions that import the backend late."""

from __future__ import annotations

import threading

import gevent
from api_testing import AppFactory, queued_hits

from hitcount.api_flask.state import api_state
from hitcount.core import Queue
from hitcount.core.backends.memory import MemoryQueue


class ThreadRecordingQueue(MemoryQueue):
    """A memory queue that notes the thread each of its publish calls ran on."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.opened_on = threading.get_ident()
        self.published_on: list[int] = []

    def publish(self, payload: bytes, hits: int) -> None:
        self.published_on.append(threading.get_ident())
        super().publish(payload, hits)


def open_queue(namespace: str) -> Queue:
    """A factory as the Redis and Elasticsearch plugins write theirs: a function, with nothing to read off."""
    return ThreadRecordingQueue(namespace)


def recorded_queue(make_app: AppFactory, *, blocking: bool) -> ThreadRecordingQueue:
    """The queue of an app over :func:`open_queue` registered ``blocking`` as told, once it took a hit."""
    app = make_app(queues={"recording": open_queue}, HITCOUNT_QUEUE="recording", blocking=blocking)
    assert app.test_client().post("/analytics", json={"id": "page"}).status_code == 204
    queue = api_state(app).backends.queue.get()
    assert isinstance(queue, ThreadRecordingQueue)
    assert [hit.id for hit in queued_hits(app)] == ["page"]
    return queue


def test_a_blocking_backend_registered_by_a_function_is_opened_and_called_off_the_event_loop(
    make_app: AppFactory,
) -> None:
    queue = recorded_queue(make_app, blocking=True)
    hub = gevent.get_hub().thread_ident
    assert queue.opened_on != hub
    assert queue.published_on
    assert all(thread != hub for thread in queue.published_on)


def test_a_cooperative_backend_is_opened_and_called_on_the_event_loop(make_app: AppFactory) -> None:
    queue = recorded_queue(make_app, blocking=False)
    hub = gevent.get_hub().thread_ident
    assert queue.opened_on == hub
    assert queue.published_on == [hub]
