"""The `hitcount` command as a user runs it."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hitcount.core import Hit, HitcountError, Runtime, now_ns
from hitcount.core.commands import SERVED_COMMANDS, run_serve
from hitcount.core.settings import QUEUE
from hitcount.core.testing.processes import run_on_terminal
from hitcount.core.windows import NS_PER_SECOND
from hitcount.core.wire import encode_batch


def environment(env: dict[str, str] | None) -> dict[str, str]:
    """The caller's environment without its HITCOUNT_ settings, plus ``env``."""
    return {**{key: value for key, value in os.environ.items() if not key.startswith("HITCOUNT_")}, **(env or {})}


def hitcount(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hitcount.core.cli", *arguments],
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_plugins_lists_the_embedded_queues_and_stores_with_their_package() -> None:
    result = hitcount("plugins")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    for kind in ("queue", "store"):
        for name in ("sqlite", "memory"):
            assert [kind, name, "hitcount-core", "0.1.0+checkout"] in rows


def test_config_masks_secrets_and_shows_the_source() -> None:
    result = hitcount("config", env={"HITCOUNT_QUEUE": "memory", "HITCOUNT_REDIS_URL": "redis://:hunter2@h:1/0"})
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert any(line.split()[:3] == ["HITCOUNT_QUEUE", "memory", "environment"] for line in result.stdout.splitlines())
    assert any(line.split()[:3] == ["HITCOUNT_STORE", "sqlite", "default"] for line in result.stdout.splitlines())


def test_config_says_what_each_setting_means_and_flags_unknown_variables() -> None:
    result = hitcount("config", env={"HITCOUNT_QUEUE": "memory", "HITCOUNT_QUEUEE": "typo"})
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "unknown setting" in lines["HITCOUNT_QUEUEE"]
    assert "typo" not in lines["HITCOUNT_QUEUEE"]
    assert QUEUE.help in lines["HITCOUNT_QUEUE"]


def test_an_unknown_backend_is_a_one_line_error_listing_the_installed_ones(tmp_path: Path) -> None:
    result = hitcount("retention", env={"HITCOUNT_STORE": "nope", "HITCOUNT_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "HITCOUNT_STORE='nope'" in result.stderr
    assert re.search(r"installed: (.*, )?memory, (.*, )?sqlite", result.stderr)
    assert "Traceback" not in result.stderr


def test_serve_refuses_the_memory_queue_that_its_api_and_indexer_processes_would_not_share(tmp_path: Path) -> None:
    result = hitcount("serve", env={"HITCOUNT_QUEUE": "memory", "HITCOUNT_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "HITCOUNT_QUEUE='memory' keeps batches inside one process" in result.stderr
    assert "Traceback" not in result.stderr


def test_retention_removes_hits_older_than_the_setting(tmp_path: Path) -> None:
    env = {"HITCOUNT_DATA_DIR": str(tmp_path), "HITCOUNT_RETENTION": "4d"}
    store = Runtime.load(env).open_store()
    now = now_ns()
    store.write([Hit("a", now - 5 * 86400 * NS_PER_SECOND), Hit("a", now - 60 * NS_PER_SECOND)])
    store.close()
    result = hitcount("retention", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("removed 1 ")


def test_retention_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    env = {"HITCOUNT_DATA_DIR": str(tmp_path)}
    piped = hitcount("retention", env=env)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""
    code, output, terminal = run_on_terminal([sys.executable, "-m", "hitcount.core.cli", "retention"], environment(env))
    assert code == 0, terminal
    assert "\rdeleting hits older than " in terminal
    assert output.startswith("removed 0 ")


def dead_letter(env: dict[str, str]) -> None:
    """Put one batch among the dead letters of the queue ``env`` configures."""
    queue = Runtime.load(env).open_queue()
    queue.publish(encode_batch([Hit("a", now_ns())]), 1)
    [delivery] = queue.consume("test", 1, 1.0)
    queue.dead_letter(delivery, "store refused it")
    queue.close()


def test_dead_letter_replay_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    env = {"HITCOUNT_DATA_DIR": str(tmp_path)}
    dead_letter(env)
    piped = hitcount("dead-letters", "--replay", env=env)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""
    dead_letter(env)
    command = [sys.executable, "-m", "hitcount.core.cli", "dead-letters", "--replay"]
    code, output, terminal = run_on_terminal(command, environment(env))
    assert code == 0, terminal
    assert "\rreplaying dead letters: 0/1" in terminal
    assert output.strip() == "replayed 1 dead letter(s)"


def test_dead_letters_are_listed_and_replayed(tmp_path: Path) -> None:
    env = {"HITCOUNT_DATA_DIR": str(tmp_path)}
    dead_letter(env)
    queue = Runtime.load(env).open_queue()
    listing = hitcount("dead-letters", env=env)
    assert "store refused it" in listing.stdout
    replay = hitcount("dead-letters", "--replay", env=env)
    assert replay.stdout.strip() == "replayed 1 dead letter(s)"
    assert queue.backlog().batches == 1
    assert hitcount("dead-letters", "--replay", "999", env=env).returncode == 1
    queue.close()


def test_serve_explains_what_is_missing_when_the_api_or_indexer_is_not_installed() -> None:
    runtime = Runtime.load({})
    for name in SERVED_COMMANDS:
        runtime.registry.commands.pop(name, None)
    with pytest.raises(HitcountError, match="needs the commands api, indexer"):
        run_serve(argparse.Namespace(), runtime)
