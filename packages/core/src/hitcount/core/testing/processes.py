"""Child processes of tests and benchmarks: free ports, starting, waiting for and stopping them.

Every package's tests, the end-to-end tests and the benchmarks start real processes
(``hitcount api``, ``hitcount indexer``, redis-server) and must never leave one behind or
wait forever for one: each wait here is bounded and its failure says what it waited for,
with the process's last output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

# Bound of every wait for a process or a condition; polls end as soon as the answer is there.
DEADLINE = 30.0
# What each worker of `hitcount api` logs once it serves (the API's gunicorn.conf.py, post_worker_init).
WORKER_READY = "Worker ready (pid"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def scrape(url: str) -> str:
    """The Prometheus text a hitcount process serves at ``url``/metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text: str = response.read().decode()
        return text


def serves_metrics(url: str) -> bool:
    """Whether a process serves its /metrics at ``url`` yet (a condition for :func:`wait_until`)."""
    try:
        scrape(url)
    except OSError:
        return False
    return True


def wait_until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE, interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds; TimeoutError naming ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {deadline:.0f}s waiting for {what}")
        time.sleep(interval)


class Child:
    """One child process, its output (stdout and stderr) appended to ``log``.

    With ``group``, it leads a process group of its own and signals go to the whole group,
    so that whatever it spawned stops with it.
    """

    def __init__(
        self,
        command: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        *,
        group: bool = False,
        cwd: Path | None = None,
    ) -> None:
        self.command = list(command)
        self.environ = dict(os.environ if env is None else env)
        self.log = log
        self.group = group
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=self.environ,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=group,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code (negative: the signal that ended it), or None while it runs."""
        return self.process.poll()

    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> list[int]:
        """The pids of its child processes (a gunicorn master's workers); none once it has exited."""
        try:
            return [int(child) for child in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        except OSError:
            return []

    def send(self, signum: int) -> None:
        """Send ``signum`` (to the group, with ``group``) while it runs."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                if self.group:
                    os.killpg(self.pid, signum)
                else:
                    self.process.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = DEADLINE) -> int:
        """Signal it (SIGTERM unless told) and return its exit code.

        A child still running after ``timeout`` seconds is killed, and TimeoutError says so
        with the end of its output: a process that ignores its stop signal is a failure.
        """
        self.send(signum)
        return self.wait(timeout, f"of signal {signum}")

    def wait(self, timeout: float = DEADLINE, after: str = "") -> int:
        """Its exit code once it ends; killed, and TimeoutError, when that takes over ``timeout`` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            last = "\n".join(self.output().splitlines()[-20:])
            within = " ".join(part for part in (f"within {timeout:.0f}s", after) if part)
            raise TimeoutError(f"{self.command} did not exit {within}:\n{last}") from None

    def kill(self) -> None:
        """SIGKILL (after SIGCONT, since a stopped process would not die): it gets no chance to finish anything."""
        if self.running():
            self.send(signal.SIGCONT)
            self.send(signal.SIGKILL)
        self.process.wait(DEADLINE)


def api_url(environ: Mapping[str, str]) -> str:
    """The URL of the API that ``environ`` configures: its ``HITCOUNT_BIND``, a TCP address."""
    return f"http://{environ['HITCOUNT_BIND'].removeprefix('tcp://')}"


def api_serves(api: Child, workers: int) -> bool:
    """Whether the API ``api`` serves: each of its ``workers`` said it is ready, and /healthz answers 200.

    A worker still booting would miss the SIGTERM that stops the API, and answers nothing:
    every worker must be ready, not the first one. /healthz answers with the backends down,
    which tests of outages start the API with. RuntimeError, with its output, once it exited.
    """
    if not api.running():
        raise RuntimeError(f"{api.command} exited with {api.returncode}:\n{api.output()}")
    if api.output().count(WORKER_READY) < workers:
        return False
    try:
        with urllib.request.urlopen(f"{api_url(api.environ)}/healthz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_api(
    command: Sequence[str],
    log: Path,
    environ: Mapping[str, str],
    *,
    group: bool = False,
    deadline: float = DEADLINE,
) -> Child:
    """``command`` (``hitcount api``, ``hitcount serve``, an app under the API's gunicorn.conf.py) once it serves
    (:func:`api_serves`) at ``HITCOUNT_BIND`` with its ``HITCOUNT_WORKERS`` workers, which ``environ`` must set.

    Killed, and the error raised, when it exits or does not serve within ``deadline`` seconds.
    """
    workers = int(environ["HITCOUNT_WORKERS"])
    api = Child(command, log, environ, group=group)
    try:
        wait_until(lambda: api_serves(api, workers), f"{api.command} to serve with {workers} workers ready", deadline)
    except BaseException:
        api.kill()
        raise
    return api


def run_on_terminal(command: Sequence[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    """Run ``command`` to its end with stderr on a pseudo-terminal (stdout a pipe): its exit code, stdout, stderr.

    What a user at a terminal sees of a command that shows progress only there.
    """
    terminal, child_end = os.openpty()
    try:
        process = subprocess.Popen(
            list(command), env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=child_end
        )
    finally:
        os.close(child_end)
    assert process.stdout is not None
    seen = bytearray()
    # Read the terminal while the command runs: it blocks once the terminal's buffer is full.
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: every end of the terminal but ours is closed, the command is done
            break
        if not chunk:
            break
        seen += chunk
    os.close(terminal)
    with process.stdout as stdout:
        output = stdout.read().decode()
    return process.wait(DEADLINE), output, seen.decode(errors="replace")
