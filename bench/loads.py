"""The load tools a benchmark drives: wrk (closed loop) and ``hitcount bench`` (open loop, verified)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# wrk's connections: the setting of BENCHMARKS.md's production-shape figures.
CONNECTIONS = 32


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


def _find(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if not match:
        raise ValueError(f"{pattern!r} not in:\n{text}")
    return match


@dataclass
class Wrk:
    """What wrk saw."""

    requests: int
    per_second: float
    p90: float
    p99: float
    non_2xx: int
    socket_errors: int

    @classmethod
    def run(cls, url: str, id: str, seconds: float, script_dir: Path, connections: int = CONNECTIONS) -> Wrk:
        """``connections`` keep-alive connections posting ``{"id": id}`` to ``url`` for ``seconds``."""
        script = script_dir / f"track-{id}.lua"
        script.write_text(
            f'wrk.method = "POST"\nwrk.body = \'{{"id": "{id}"}}\'\nwrk.headers["Content-Type"] = "application/json"\n'
        )
        command = ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--latency", "-s", str(script), url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        latency = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", output, re.MULTILINE))
        if "99" not in latency:
            raise ValueError(f"wrk printed no latency distribution:\n{output}")
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
        return cls(
            requests=int(_find(r"(\d+) requests in", output).group(1)),
            per_second=float(_find(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            p90=_ms(latency["90"]),
            p99=_ms(latency["99"]),
            non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
            socket_errors=sum(map(int, sockets.groups())) if sockets else 0,
        )


@dataclass
class Load:
    """What ``hitcount bench`` printed."""

    hits_per_second: float
    accepted: int
    errors: int
    p50: float
    p90: float
    p99: float
    max: float
    missing: int
    extra: int

    @classmethod
    def run(cls, url: str, *arguments: str) -> Load:
        """Run ``hitcount bench --verify`` with ``arguments`` and echo its report."""
        command = [sys.executable, "-m", "hitcount.core.cli", "bench", "--url", url, "--verify", *arguments]
        output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        print("    " + output.strip().replace("\n", "\n    "), flush=True)
        latency = _find(r"p50 ([\d.]+)\s+p90 ([\d.]+)\s+p99 ([\d.]+)\s+max ([\d.]+)", output).groups()
        accepted = _find(r"hits accepted (\d+)\s+([\d,]+) hits/s", output)
        verify = _find(r"missing (\d+)\s+extra (\d+)", output)
        p50, p90, p99, slowest = map(float, latency)
        return cls(
            hits_per_second=float(accepted.group(2).replace(",", "")),
            accepted=int(accepted.group(1)),
            errors=int(_find(r"errors (\d+)", output).group(1)),
            p50=p50,
            p90=p90,
            p99=p99,
            max=slowest,
            missing=int(verify.group(1)),
            extra=int(verify.group(2)),
        )

    @property
    def exact(self) -> bool:
        return self.missing == 0 and self.extra == 0
