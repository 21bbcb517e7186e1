"""`hitcount bench` against a small stand-in API (the tool's logic, not the real API's speed)."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from hitcount.core.bench.load import ACKNOWLEDGED, GIVEN_UP
from hitcount.core.cli import main
from hitcount.core.testing.processes import free_port, run_on_terminal, wait_until
from hitcount.core.windows import LONGEST


class StandIn(BaseHTTPRequestHandler):
    """Counts hits like the API and its store do, once per uid; every ``fail_every``-th track
    request is counted all the same but answered 503, or answered ``late`` seconds late.

    The hits of a failed request are counted, as those of a 503 from an API whose queue
    took them after its deadline: only a client resending them with the same uids keeps
    its accepted hits equal to the hits counted.
    """

    protocol_version = "HTTP/1.1"
    uids: ClassVar[dict[str, set[str]]] = {}
    posted: ClassVar[list[dict[str, object]]] = []
    requests = 0
    fail_every = 0
    late = 0.0
    refuse = False
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.refuse:
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        items = body if isinstance(body, list) else [body]
        with self.lock:
            type(self).requests += 1
            failing = self.fail_every and self.requests % self.fail_every == 0
            for item in items:
                self.posted.append(item)
                self.uids.setdefault(item["id"], set()).add(str(uuid.UUID(item["uid"])))
        if failing and self.late:
            time.sleep(self.late)
        self.send_response(503 if failing and not self.late else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        id = self.path.rsplit("/", 1)[1]
        counts = [{"reference": LONGEST.reference, "count": len(self.uids.get(id, ()))}]
        payload = json.dumps({"id": id, "counts": counts}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    StandIn.uids, StandIn.posted, StandIn.requests, StandIn.fail_every, StandIn.late = {}, [], 0, 0, 0.0
    StandIn.refuse = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def bench(api: str, *arguments: str) -> int:
    return main(["bench", "--url", api, "-w", "2", "-c", "2", "--duration", "1", "--verify-timeout", "5", *arguments])


def test_every_accepted_hit_is_verified_as_counted(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(api, "-i", "page", "--verify") == 0
    output = capsys.readouterr().out
    accepted = int(output.split("hits accepted ")[1].split()[0])
    assert accepted == len(StandIn.uids["page"]) > 0
    assert f"verify counted {accepted} of {accepted} accepted  missing 0  extra 0" in output
    assert "latency ms  p50" in output


def test_batches_count_every_hit_of_the_request(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(api, "-i", "b", "--batch", "10", "--verify") == 0
    accepted = int(capsys.readouterr().out.split("hits accepted ")[1].split()[0])
    assert accepted == len(StandIn.uids["b"]) == 10 * StandIn.requests


def test_every_hit_carries_a_uid_of_its_own_and_the_time_of_its_first_attempt(api: str) -> None:
    started = time.time() * 1000
    assert bench(api, "-i", "u", "--batch", "3") == 0
    uids = [item["uid"] for item in StandIn.posted]
    assert len(set(uids)) == len(uids) > 0
    assert all(started - 1000 <= item["timestamp"] <= time.time() * 1000 for item in StandIn.posted)  # type: ignore[operator]


@pytest.mark.parametrize("failure", ["503", "late"])
def test_requests_that_failed_are_resent_with_the_same_uids_and_verify_stays_exact(
    api: str, capsys: pytest.CaptureFixture[str], failure: str
) -> None:
    StandIn.fail_every = 5
    timeout = ["--timeout", "100ms"] if failure == "late" else []
    StandIn.late = 0.3 if failure == "late" else 0.0
    assert bench(api, "-i", "x", "--verify", *timeout) == 0
    output = capsys.readouterr().out
    accepted = int(output.split("hits accepted ")[1].split()[0])
    retried = int(output.split("retries ")[1].split()[0])
    assert retried > 0
    assert ("x HTTP 503" if failure == "503" else "x no answer within 0.1s") in output
    # Every resent request reached the stand-in twice or more, its uids counted once.
    assert len(StandIn.posted) >= accepted + retried
    assert f"verify counted {accepted} of {accepted} accepted  missing 0  extra 0" in output


def test_other_refusals_are_errors_not_retried_and_fail_the_run(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    StandIn.refuse = True
    assert bench(api, "-i", "y") == 1
    output = capsys.readouterr().out
    assert "x HTTP 400" in output
    assert "retries 0 " in output


def test_open_loop_sends_at_the_requested_rate(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(api, "-i", "r", "--rate", "200") == 0
    assert 150 <= StandIn.requests <= 210


def test_a_piped_run_shows_no_live_line(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(api, "-i", "quiet", "--duration", "1.5") == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "req/s" in captured.out


def test_a_run_on_a_terminal_shows_rate_p90_and_errors_as_it_goes(api: str) -> None:
    command = [sys.executable, "-m", "hitcount.core.cli", "bench", "--url", api, "-w", "1", "-c", "2"]
    code, output, terminal = run_on_terminal([*command, "-i", "live", "--duration", "2"], os.environ)
    assert code == 0, terminal
    assert re.search(r"\r +\d+\.\ds  [\d,]+ req/s  p90 \d+\.\d ms  errors 0", terminal), terminal
    assert "hits accepted" in output


def test_a_journal_names_every_hit_sent_and_whether_it_was_acknowledged(api: str, tmp_path: Path) -> None:
    StandIn.refuse = True  # every request refused for good: its hits given up, not acknowledged
    assert bench(api, "-i", "refused", "--journal", str(tmp_path / "refused")) == 1
    StandIn.refuse = False
    StandIn.fail_every = 3
    assert bench(api, "-i", "j", "--batch", "2", "--journal", str(tmp_path / "kept")) == 0
    kept = journal(tmp_path / "kept")
    assert set(kept) == StandIn.uids["j"]
    assert len(kept) > 0
    assert {outcome for outcome, _, _ in kept.values()} == {ACKNOWLEDGED}
    # Every third request answered 503: some hits were acknowledged at their first send, others later.
    assert {"1", "2"} <= {attempts for _, _, attempts in kept.values()}
    refused = journal(tmp_path / "refused")
    assert len(refused) > 0
    assert {outcome for outcome, _, _ in refused.values()} == {GIVEN_UP}
    assert all(abs(float(stamp) - time.time()) < 600 for _, stamp, _ in [*kept.values(), *refused.values()])


def journal(directory: Path) -> dict[str, tuple[str, str, str]]:
    """The outcome, time and sends of every uid in the journals of ``directory``, each written once by the process
    that sent it."""
    lines = [line.split() for path in directory.glob("*.txt") for line in path.read_text().splitlines()]
    outcomes = {uid: (outcome, stamp, attempts) for uid, outcome, stamp, attempts in lines}
    assert len(outcomes) == len(lines), "a uid in two lines of the journals"
    return outcomes


def test_an_api_that_refuses_connections_until_it_starts_is_retried(capsys: pytest.CaptureFixture[str]) -> None:
    StandIn.uids, StandIn.posted, StandIn.requests, StandIn.fail_every, StandIn.late = {}, [], 0, 0, 0.0
    StandIn.refuse = False
    port = free_port()
    servers: list[ThreadingHTTPServer] = []

    def start_late() -> None:
        time.sleep(1.5)  # the bench's whole duration: every request meets a refused connection first
        servers.append(ThreadingHTTPServer(("127.0.0.1", port), StandIn))
        servers[0].serve_forever()

    threading.Thread(target=start_late, daemon=True).start()
    try:
        assert bench(f"http://127.0.0.1:{port}", "-i", "late", "--retry-for", "30s") == 0
    finally:
        wait_until(lambda: bool(servers), "the stand-in to start")
        servers[0].shutdown()
    output = capsys.readouterr().out
    assert "Connect call failed" in output
    accepted = int(output.split("hits accepted ")[1].split()[0])
    assert accepted == len(StandIn.uids["late"]) > 0
