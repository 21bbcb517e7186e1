"""CPU spent over a run, for the whole machine and for each process of the pipeline, from /proc.

CPU per hit is steadier than hits per second on a shared machine: a busy neighbour slows
the run but barely changes what each hit costs. A :class:`CpuMeter` reads ``/proc/stat``
(every core's busy time) and ``/proc/<pid>/stat`` (each process, all its threads) at the
start and the end of a run; the load generator's own CPU, which the caller measures, is
taken out of the machine's, and what no listed process spent is reported as ``other``
(the kernel's network work, and whatever else ran on the machine meanwhile).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICK = 1 / os.sysconf("SC_CLK_TCK")
# /proc/stat's cpu columns that are not idle: user nice system (idle iowait) irq softirq steal.
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


def machine_seconds() -> float:
    """Busy CPU seconds of all cores since boot."""
    columns = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return sum(int(columns[index]) for index in _BUSY_COLUMNS) * TICK


def process_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` (all its threads); 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # The command name (field 2) may hold spaces; the fields after its ')' are plain.
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds one run spent: the machine's without the load generator, and each part's."""

    machine: float
    load: float
    parts: dict[str, float]

    @property
    def other(self) -> float:
        return self.machine - sum(self.parts.values())

    def per_hit(self, hits: int) -> dict[str, float]:
        """Microseconds per hit: ``machine``, then each part, then ``other``."""
        scale = 1e6 / max(hits, 1)
        return {
            "machine": self.machine * scale,
            **{name: seconds * scale for name, seconds in self.parts.items()},
            "other": self.other * scale,
        }

    def describe(self, hits: int) -> str:
        """``312 µs/hit: api 150, indexer 20, ..., other 12`` for one table cell."""
        figures = self.per_hit(hits)
        machine = figures.pop("machine")
        split = ", ".join(f"{name} {value:.0f}" for name, value in figures.items())
        return f"{machine:.0f} µs/hit machine CPU: {split}"


class CpuMeter:
    """Measures named groups of processes; each group's pids are looked up at the start and again at the end."""

    def __init__(self, parts: dict[str, Callable[[], list[int]]]) -> None:
        self._parts = parts
        self._machine = 0.0
        self._start: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self._start = {name: self._sample(pids()) for name, pids in self._parts.items()}
        self._machine = machine_seconds()

    def stop(self, load: float) -> CpuUsage:
        """The usage since :meth:`start`; ``load`` is the load generator's CPU seconds meanwhile."""
        machine = machine_seconds() - self._machine
        parts = {}
        for name, pids in self._parts.items():
            before = self._start[name]
            after = self._sample([*before, *pids()])
            # A process that started after the start counts from zero; one that ended counts nothing.
            parts[name] = sum(max(0.0, seconds - before.get(pid, 0.0)) for pid, seconds in after.items() if seconds)
        return CpuUsage(machine - load, load, parts)

    @staticmethod
    def _sample(pids: list[int]) -> dict[int, float]:
        return {pid: process_seconds(pid) for pid in pids}


def children_seconds() -> float:
    """CPU seconds of this process's children that have been waited for (a finished load generator)."""
    times = os.times()
    return times.children_user + times.children_system
