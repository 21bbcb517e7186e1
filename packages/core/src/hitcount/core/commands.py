"""Core's subcommands: ``plugins``, ``config``, ``serve``, ``dead-letters``, ``retention`` and ``rollup``."""

from __future__ import annotations

import argparse
import calendar
import dataclasses
import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from hitcount.core.bench.command import BENCH
from hitcount.core.config import Config
from hitcount.core.errors import ConfigError, HitcountError
from hitcount.core.hit import now_ns
from hitcount.core.markers import hookimpl
from hitcount.core.progress import Progress
from hitcount.core.registry import Command, Registry
from hitcount.core.rollups import housekeep, seal_line
from hitcount.core.runtime import Runtime
from hitcount.core.settings import RETENTION, STORE
from hitcount.core.windows import NS_PER_SECOND

# What `hitcount serve` runs side by side, each as `hitcount <name>`.
SERVED_COMMANDS = ("api", "indexer")


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def run_plugins(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """List every plugin, queue, store, cache and command with the distribution that provides it.

    Plugins are listed by entry-point name, the name ``HITCOUNT_DISABLE_PLUGINS`` takes.
    """
    registry = runtime.registry
    rows = [("KIND", "NAME", "PROVIDED BY")]
    rows += [("plugin", name, str(provider)) for name, provider in sorted(registry.plugins.items())]
    rows += [("queue", name, str(backend.provider)) for name, backend in sorted(registry.queues.items())]
    rows += [("store", name, str(backend.provider)) for name, backend in sorted(registry.stores.items())]
    rows += [("cache", name, str(backend.provider)) for name, backend in sorted(registry.caches.items())]
    rows += [("command", name, str(entry.provider)) for name, entry in sorted(registry.commands.items())]
    print(_table(rows))
    return 0


def run_config(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """Print the effective configuration, secrets masked, with what each setting means (and unknown ones flagged);
    then fail naming every value that is invalid, and every registered rule the values break (a store write
    longer than the visibility timeout), which the other commands would refuse only once they read them."""
    settings = runtime.registry.settings.values()
    rows = [("SETTING", "VALUE", "SOURCE", "MEANING")]
    rows += [(entry.name, entry.value, entry.source, entry.help) for entry in runtime.config.entries(settings)]
    print(_table(rows))
    problems = runtime.problems() + runtime.registry.broken_rules(runtime.config)
    if problems:
        raise ConfigError("\n".join(problems))
    return 0


def run_serve(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """Run ``hitcount api`` and ``hitcount indexer`` as child processes until one ends or a signal comes;
    once both have started, print what each says to try next (the API: requests to send, a page's tags)."""
    runtime.require_shared_queue("serve")
    missing = [name for name in SERVED_COMMANDS if name not in runtime.registry.commands]
    if missing:
        raise HitcountError(
            f"`hitcount serve` needs the commands {', '.join(missing)}: install hitcount-api-flask and hitcount-indexer"
        )
    served = [runtime.registry.commands[name].value.served for name in SERVED_COMMANDS]
    # What each child's settings are (its defaults under the user's), for what it says to try next.
    configs = [Config({**how.environ, **runtime.config.environ()}) for how in served]
    children = [
        subprocess.Popen([sys.executable, "-m", "hitcount.core.cli", name], env={**how.environ, **os.environ})
        for name, how in zip(SERVED_COMMANDS, served, strict=True)
    ]

    # Each child is asked to stop once: a second SIGTERM that reaches it while its interpreter exits
    # (Python gives signals their default actions back then) kills it, and serve exits 241 for -15.
    stopped: set[subprocess.Popen[bytes]] = set()

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None and child not in stopped:
                stopped.add(child)
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    said: list[str] = []  # what the commands started so far said, in order
    while all(child.poll() is None for child in children):
        if len(said) < len(served):
            text = served[len(said)].started(dataclasses.replace(runtime, config=configs[len(said)]))
            if text is not None:
                said.append(text)
                if len(said) == len(served) and any(said):
                    print("\n\n".join(filter(None, said)), flush=True)
        time.sleep(0.2)
    forward(signal.SIGTERM, None)
    codes = [child.wait() for child in children]
    return max(codes, key=abs)


def configure_dead_letters(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--replay", metavar="TAG", nargs="*", help="publish these dead letters again (all without a TAG)"
    )
    action.add_argument("--drop", metavar="TAG", nargs="+", help="delete these dead letters and their hits for good")
    action.add_argument("--drop-all", action="store_true", help="delete every dead letter and its hits for good")


def run_dead_letters(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """List the batches the indexer could not process, replay them onto the queue, or drop them."""
    queue = runtime.open_queue()
    try:
        letters = queue.dead_letters()
        every = [letter.tag for letter in letters]
        if arguments.replay is not None:
            tags, act, doing, done = arguments.replay or every, queue.replay_dead_letter, "replaying", "replayed"
        elif arguments.drop is not None or arguments.drop_all:
            tags, act, doing, done = arguments.drop or every, queue.drop_dead_letter, "dropping", "dropped"
        else:
            rows = [("TAG", "HITS", "BYTES", "FAILED AT", "REASON")]
            rows += [
                (letter.tag, str(letter.hits), str(len(letter.payload)), _utc(letter.failed_at), letter.reason)
                for letter in letters
            ]
            print(_table(rows))
            return 0
        unknown = []
        with Progress() as progress:
            for count, tag in enumerate(tags):
                progress.show(f"{doing} dead letters: {count}/{len(tags)}")
                if not act(tag):
                    unknown.append(tag)
        print(f"{done} {len(tags) - len(unknown)} dead letter(s)")
        if unknown:
            raise HitcountError(
                f"no dead letter with tag(s) {', '.join(unknown)}: `hitcount dead-letters` lists the tags there are"
            )
        return 0
    finally:
        queue.close()


def configure_retention(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now",
        type=_utc_time,
        metavar="YYYY-MM-DDTHH:MM:SSZ",
        help="run as a later run will, at this time (UTC), to rehearse it: hours sealed then are sealed now, "
        "and their hits deleted (a hit that still comes for one of them is counted into its hour)",
    )


def _utc_time(text: str) -> int:
    """The ns of ``text``, an ISO 8601 time (UTC unless it names its offset)."""
    moment = datetime.datetime.fromisoformat(text.removesuffix("Z") + ("+00:00" if text.endswith("Z") else ""))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return round(moment.timestamp() * NS_PER_SECOND)


def run_retention(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """Seal the hours that can be sealed, then delete hits older than ``HITCOUNT_RETENTION``, now (or at
    ``--now``)."""
    store = runtime.open_store()
    try:
        now = now_ns() if arguments.now is None else arguments.now
        retention = int(runtime.config.get(RETENTION) * NS_PER_SECOND)
        older_than = _utc((now - retention) / NS_PER_SECOND)
        # Calls of the store: what shows is that it still works, for how long.
        with Progress() as progress, progress.ticking(lambda s: f"deleting hits older than {older_than}: {s:.0f}s"):
            sealed, removed = housekeep(store, now, retention)
        print(f"removed {removed} (hits or indices) older than {older_than}; sealed {sealed} hourly counts")
        return 0
    finally:
        store.close()


def configure_rollup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="then count every sealed hour again from the hits the store still holds, written over its count",
    )
    parser.add_argument(
        "--since",
        type=_utc_date,
        metavar="YYYY-MM-DD",
        help="with --rebuild, the hours from this UTC day on (default: every hour whose hits are all still held)",
    )


def _utc_date(text: str) -> int:
    """The ns of the UTC midnight that starts ``text`` (``YYYY-MM-DD``)."""
    day = datetime.date.fromisoformat(text)
    return int(calendar.timegm(day.timetuple())) * NS_PER_SECOND


def run_rollup(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """Seal the hours that can be sealed now; with ``--rebuild``, count the sealed hours again."""
    store = runtime.open_store()
    try:
        if not store.keeps_totals:
            store_name = runtime.config.get(STORE)
            raise ConfigError(
                f"the {store_name} store keeps no hourly counts: its totals count only the hits it retains"
            )
        line = seal_line(now_ns())
        print(f"sealed {store.seal(line)} hourly counts; every hour before {_utc(line / NS_PER_SECOND)} is sealed")
        if arguments.rebuild:
            since = 0 if arguments.since is None else arguments.since
            print(f"rebuilt {store.rebuild(since)} hourly counts from the hits held")
        return 0
    finally:
        store.close()


@hookimpl
def hitcount_register_commands(registry: Registry) -> None:
    """Core's commands."""
    registry.add_command(Command("plugins", "List installed queues, stores and commands.", run_plugins))
    registry.add_command(Command("config", "Print the effective configuration (secrets masked).", run_config))
    registry.add_command(Command("serve", "Run the API and the indexer together in the foreground.", run_serve))
    registry.add_command(
        Command(
            "dead-letters",
            "List, replay or drop batches the indexer set aside.",
            run_dead_letters,
            configure_dead_letters,
        )
    )
    registry.add_command(
        Command("retention", "Delete hits older than HITCOUNT_RETENTION now.", run_retention, configure_retention)
    )
    registry.add_command(
        Command("rollup", "Seal the hours that can be sealed (or count them again).", run_rollup, configure_rollup)
    )
    registry.add_command(BENCH)
