"""``hitcount api`` for real: gunicorn with gevent workers, the sqlite queue, over HTTP on loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

from hitcount.api_flask.server import GUNICORN_CONF
from hitcount.core import Hit
from hitcount.core.backends.sqlite_queue import SqliteQueue
from hitcount.core.backends.sqlite_store import SqliteStore
from hitcount.core.testing.processes import Child, free_port, start_api, wait_until
from hitcount.core.wire import decode_batch

pytestmark = pytest.mark.api_servers

HITCOUNT = Path(sys.executable).with_name("hitcount")
WORKERS = 2


def exchange(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """Status, headers and body of the answer to a GET (or a POST of ``data``)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers or {}), timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    status, _, body = exchange(url, data, headers)
    return status, body


@dataclass
class Server:
    url: str
    data_dir: Path
    process: Child


@contextmanager
def running_server(data_dir: Path, **settings: str) -> Iterator[Server]:
    """``hitcount api`` on the sqlite backends in ``data_dir``, once it serves (every worker ready)."""
    url = f"http://127.0.0.1:{free_port()}"
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("HITCOUNT_", "PROMETHEUS_"))}
    environ.update(
        HITCOUNT_BIND=url.removeprefix("http://"),
        HITCOUNT_WORKERS=str(WORKERS),
        HITCOUNT_DATA_DIR=str(data_dir),
        HITCOUNT_QUEUE="sqlite",
        HITCOUNT_STORE="sqlite",
        **settings,
    )
    process = start_api([str(HITCOUNT), "api"], data_dir / "server.log", environ)
    try:
        yield Server(url, data_dir, process)
    finally:
        process.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path) as server:
        yield server


def queued_ids(data_dir: Path) -> list[str]:
    queue = SqliteQueue(data_dir, visibility_timeout=30.0)
    try:
        return [hit.id for delivery in queue.consume("test", 100_000, 0) for hit in decode_batch(delivery.payload)]
    finally:
        queue.close()


def test_hitcount_api_serves_with_gevent_workers_and_a_204_hit_is_in_the_sqlite_queue(server: Server) -> None:
    status, _ = request(server.url + "/analytics", b'{"id": "served"}', {"Content-Type": "text/plain"})
    assert status == 204
    assert queued_ids(server.data_dir) == ["served"]
    assert "Using worker: hitcount.api_flask.worker.Worker" in (server.data_dir / "server.log").read_text()
    assert f"data directory {server.data_dir} (HITCOUNT_DATA_DIR={server.data_dir})" in server.process.output()


def raw_request(url: str, head: str, body: bytes = b"") -> bytes:
    """Send a request as written, on a connection of its own; return the status line the server answered."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(head.encode("iso-8859-1") + body)
        return connection.makefile("rb").readline()


@pytest.mark.parametrize(
    "field", ["X-Folded: one\r\n two", "No colon here", "X-Space : before colon"], ids=["folded", "colon", "space"]
)
def test_malformed_request_heads_get_400_and_the_server_goes_on(server: Server, field: str) -> None:
    body = b'{"id": "malformed"}'
    head = f"POST /analytics HTTP/1.1\r\nHost: h\r\n{field}\r\nContent-Length: {len(body)}\r\n\r\n"
    assert raw_request(server.url, head, body).startswith(b"HTTP/1.1 400")
    good = f"POST /analytics HTTP/1.1\r\nHost: h\r\nX-Many: {'v' * 8000}\r\nContent-Length: {len(body)}\r\n\r\n"
    assert raw_request(server.url, good, body).startswith(b"HTTP/1.1 204")
    assert queued_ids(server.data_dir) == ["malformed"]


@pytest.mark.parametrize("id", ["/docs/intro", "//", "docs/intro", "caf\u00e9"])
def test_an_id_is_read_back_whatever_slashes_it_holds(server: Server, id: str) -> None:
    # gevent decodes %2F in PATH_INFO: /analytics/%2Fdocs%2Fintro arrives as /analytics//docs/intro.
    store = SqliteStore(server.data_dir)
    try:
        store.write([Hit.now(id)])
    finally:
        store.close()
    status, body = request(server.url + "/analytics/" + urllib.parse.quote(id, safe=""))
    assert status == 200, body
    document = json.loads(body)
    assert document["id"] == id
    assert document["counts"][-1]["count"] == 1


def test_an_id_with_a_bidi_override_is_400_naming_it(server: Server) -> None:
    status, body = request(server.url + "/analytics/evil%E2%80%AEtxt")
    assert status == 400
    assert "U+202E" in json.loads(body)["message"]


def test_concurrent_hits_through_the_thread_pooled_sqlite_queue_are_all_queued(server: Server) -> None:
    ids = [f"page-{index}" for index in range(100)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda id: request(server.url + "/analytics", f'{{"id": "{id}"}}'.encode())[0], ids))
    assert statuses == [204] * len(ids)
    assert sorted(queued_ids(server.data_dir)) == sorted(ids)


def test_metrics_add_up_every_worker(server: Server) -> None:
    # Enough connections that both workers take some.
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda _: request(server.url + "/analytics", b'{"id": "m"}'), range(40)))
    status, body = request(server.url + "/metrics")
    assert status == 200
    assert "hitcount_api_hits_accepted_total 40.0" in body.decode()


@pytest.fixture
def dead_servers_metrics() -> Iterator[Path]:
    """The metrics directory a killed server would have left behind."""
    probe = subprocess.Popen(["true"])
    probe.wait()
    path = Path(tempfile.gettempdir()) / f"hitcount-api-metrics-{probe.pid}-left"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_hitcount_api_keeps_its_metrics_files_for_its_lifetime_only(dead_servers_metrics: Path, server: Server) -> None:
    # `hitcount api` execs gunicorn, so the master keeps the command's process id.
    [metrics] = Path(tempfile.gettempdir()).glob(f"hitcount-api-metrics-{server.process.pid}-*")
    assert not dead_servers_metrics.exists()
    assert server.process.stop() == 0
    assert not metrics.exists()


def test_workers_open_their_backends_before_the_first_request(server: Server) -> None:
    # No request has needed the queue or the store yet; the workers opened (so created) both.
    assert (server.data_dir / "queue.sqlite3").exists()
    assert (server.data_dir / "store.sqlite3").exists()


def test_a_backend_that_cannot_be_opened_at_start_gives_503_until_it_can(tmp_path: Path) -> None:
    blocker = tmp_path / "store.sqlite3"
    blocker.mkdir()  # SQLite cannot open a directory: the store is "down" when the workers start
    with running_server(tmp_path) as server:
        status, body = request(server.url + "/analytics/page")
        assert status == 503
        assert json.loads(body) == {"message": "the store cannot answer now"}
        status, body = request(server.url + "/readyz")
        assert status == 200  # hits are still taken: ready, degraded
        assert json.loads(body)["degraded"] is True
        assert request(server.url + "/analytics", b'{"id": "meanwhile"}')[0] == 204  # the queue opened
        blocker.rmdir()
        assert request(server.url + "/analytics/page")[0] == 200
        assert request(server.url + "/readyz")[0] == 200
        log = (server.data_dir / "server.log").read_text()
    assert "store down: cannot open it" in log
    assert "store back after" in log


# A request's line in the access log (HITCOUNT_ACCESS_LOG): method, path, status, the app's time.
ACCESS_LINE = re.compile(r"INFO hitcount\.api_flask\.request_log: (\S+) (\S+) (\d{3}) [\d.]+ ms$")


def access_lines(log: str) -> list[tuple[str, ...]]:
    return [match.groups() for line in log.splitlines() if (match := ACCESS_LINE.search(line))]


def test_hitcount_api_logs_no_request_by_default_nor_what_to_try_next(server: Server) -> None:
    assert request(server.url + "/analytics", b'{"id": "quiet"}')[0] == 204
    assert request(server.url + "/analytics/quiet")[0] == 200
    log = server.process.output()
    assert "request_log" not in log
    assert "Try this next" not in log  # hitcount serve's alone


def test_with_the_access_log_on_each_request_is_a_line_without_its_query_its_token_nor_its_client(
    tmp_path: Path,
) -> None:
    settings = {
        "HITCOUNT_ACCESS_LOG": "on",
        "HITCOUNT_READ_TOKENS": "s3cret-token",
        "HITCOUNT_TRUSTED_PROXIES": "127.0.0.1",
    }
    with running_server(tmp_path, **settings) as server:
        assert request(server.url + "/analytics", b'{"id": "logged"}')[0] == 204  # answered by the Track front
        token = {"Authorization": "Bearer s3cret-token"}
        assert request(server.url + "/analytics/logged?token=s3cret-token&note=private-words", None, token)[0] == 200
        client = {"X-Forwarded-For": "203.0.113.9", "User-Agent": "Agent-Of-A-Visitor/1.0"}
        assert request(server.url + "/analytics/caf%C3%A9", None, client)[0] == 401
        log = server.process.output()
    assert access_lines(log) == [
        ("GET", "/healthz", "200"),  # running_server's
        ("POST", "/analytics", "204"),
        ("GET", "/analytics/logged", "200"),
        ("GET", "/analytics/caf%C3%A9", "401"),  # as sent
    ]
    # Neither a visitor's address nor its agent is kept anywhere, logs included.
    assert "203.0.113.9" not in log
    assert "Agent-Of-A-Visitor" not in log
    assert "s3cret-token" not in log
    assert "private-words" not in log


def test_reading_the_gunicorn_configuration_does_no_process_work(tmp_path: Path) -> None:
    # gunicorn reads its configuration again on SIGHUP; the metrics directory belongs to on_starting.
    code = (
        f"import os, runpy; runpy.run_path({str(GUNICORN_CONF)!r});"
        " print(os.getpid(), os.environ.get('PROMETHEUS_MULTIPROC_DIR'))"
    )
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("HITCOUNT_", "PROMETHEUS_"))}
    result = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    pid, metrics_dir = result.stdout.split()
    assert metrics_dir == "None"
    assert not list(Path(tempfile.gettempdir()).glob(f"hitcount-api-metrics-{pid}-*"))


SECURED = {
    "HITCOUNT_READ_TOKENS": "s3cret-old,s3cret-new",
    "HITCOUNT_PUBLIC_IDS": "badge-*",
    "HITCOUNT_CORS_ORIGINS": "https://shop.example",
}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path, **SECURED) as server:
        yield server


def test_over_http_reads_and_metrics_need_a_listed_bearer_token(secured: Server) -> None:
    for path in ("/analytics/page", "/metrics"):
        status, headers, body = exchange(secured.url + path)
        assert (status, headers["WWW-Authenticate"], headers["Content-Type"]) == (401, "Bearer", "application/json")
        assert json.loads(body)["message"]
        for token in ("s3cret-old", "s3cret-new"):
            assert request(secured.url + path, headers={"Authorization": f"Bearer {token}"})[0] == 200
    assert request(secured.url + "/analytics/badge-7")[0] == 200


def test_over_http_readyz_tells_its_details_to_token_holders_only(secured: Server) -> None:
    status, body = request(secured.url + "/readyz")
    assert (status, json.loads(body)) == (200, {"ready": True, "degraded": False})
    status, body = request(secured.url + "/readyz", headers={"Authorization": "Bearer s3cret-new"})
    assert status == 200
    assert str(secured.data_dir) in json.loads(body)["checks"]["queue"]["detail"]


def test_over_http_a_page_of_an_unlisted_origin_cannot_send_hits(secured: Server) -> None:
    hit = b'{"id": "from-a-page"}'
    status, body = request(secured.url + "/analytics", hit, {"Origin": "https://evil.example"})
    assert status == 403
    assert json.loads(body)["message"]
    assert request(secured.url + "/analytics", hit, {"Origin": "https://shop.example"})[0] == 204
    assert request(secured.url + "/analytics", hit)[0] == 204  # no Origin: a server, curl
    assert queued_ids(secured.data_dir) == ["from-a-page", "from-a-page"]


def test_over_http_every_answer_says_nosniff(secured: Server) -> None:
    answers = [
        exchange(secured.url + "/analytics", b'{"id": "n"}'),
        exchange(secured.url + "/analytics", b"not json"),
        exchange(secured.url + "/analytics/page"),
        exchange(secured.url + "/nowhere"),
        exchange(secured.url + "/metrics", headers={"Authorization": "Bearer s3cret-old"}),
        exchange(secured.url + "/readyz"),
    ]
    assert [status for status, _, _ in answers] == [204, 400, 401, 404, 200, 200]
    assert {headers["X-Content-Type-Options"] for _, headers, _ in answers} == {"nosniff"}


def test_over_http_a_client_over_the_rate_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    with running_server(tmp_path, HITCOUNT_RATE_LIMIT="3/m") as server:
        answers = [exchange(server.url + "/analytics", b'{"id": "limited"}') for _ in range(3 * WORKERS + 2)]
    accepted = [status for status, _, _ in answers if status == 204]
    refused = [headers["Retry-After"] for status, headers, _ in answers if status == 429]
    # Each worker counts apart: the address may send up to the limit to each.
    assert 3 <= len(accepted) <= 3 * WORKERS
    assert len(accepted) + len(refused) == len(answers)
    assert refused
    assert all(int(wait) >= 1 for wait in refused)
    assert len(queued_ids(tmp_path)) == len(accepted)


def test_a_sigterm_sent_while_a_replacement_worker_boots_ends_the_server_without_the_graceful_timeout(
    server: Server,
) -> None:
    # Stopping right after gunicorn replaced a dead worker: the SIGTERM reaches the new worker
    # while it boots, before gunicorn's handlers, where it was lost (the master waited 30 s).
    workers = server.process.children()
    os.kill(workers[0], signal.SIGKILL)
    wait_until(
        lambda: bool(set(server.process.children()) - set(workers)), "gunicorn to fork a replacement", interval=0.001
    )
    started = time.monotonic()
    assert server.process.stop(timeout=60) == 0
    assert time.monotonic() - started < 20, server.process.output()
