"""The `hitcount` command as a user runs it."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hitcount.core import Hit, HitcountError, Runtime, now_ns
from hitcount.core.cli import build_parser, main
from hitcount.core.commands import SERVED_COMMANDS, run_serve
from hitcount.core.registry import Command, Provider, Registered
from hitcount.core.settings import QUEUE
from hitcount.core.testing.processes import free_port, run_on_terminal
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
    assert result.returncode == 1
    assert "HITCOUNT_STORE='nope'" in result.stderr
    assert re.search(r"installed: (.*, )?memory, (.*, )?sqlite", result.stderr)
    assert "Traceback" not in result.stderr


def test_serve_refuses_the_memory_queue_that_its_api_and_indexer_processes_would_not_share(tmp_path: Path) -> None:
    result = hitcount("serve", env={"HITCOUNT_QUEUE": "memory", "HITCOUNT_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
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
    assert result.stdout.rstrip().endswith("sealed 1 hourly counts")  # the old hit's hour, first
    store = Runtime.load(env).open_store()
    assert store.counts("a", now_ns()).total == 2
    store.close()


def test_retention_at_a_later_time_seals_and_deletes_what_that_run_would_and_the_total_stays(tmp_path: Path) -> None:
    env = {"HITCOUNT_DATA_DIR": str(tmp_path), "HITCOUNT_RETENTION": "73h"}
    store = Runtime.load(env).open_store()
    now = now_ns()
    store.write([Hit("a", now - 2 * 86400 * NS_PER_SECOND), Hit("a", now)])
    store.close()
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now // NS_PER_SECOND + 73 * 3600))
    result = hitcount("retention", "--now", later, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("removed 1 ")  # the hit two days old; the other's hour is not sealed
    store = Runtime.load(env).open_store()
    store.write([Hit("a", now - 2 * 86400 * NS_PER_SECOND + 1)])  # late, for a sealed hour: its bucket takes it
    assert store.counts("a", now_ns()).total == 3
    store.close()
    assert "rehearse" in hitcount("retention", "--help", env=env).stdout
    refused = hitcount("retention", "--now", "next week", env=env)
    assert refused.returncode == 2
    assert "--now" in refused.stderr


def test_rollup_seals_and_rebuilds_the_hourly_counts_and_the_total_stays(tmp_path: Path) -> None:
    env = {"HITCOUNT_DATA_DIR": str(tmp_path)}
    store = Runtime.load(env).open_store()
    now = now_ns()
    store.write([Hit("a", now - 5 * 86400 * NS_PER_SECOND), Hit("a", now - 4 * 86400 * NS_PER_SECOND)])
    store.close()
    sealed = hitcount("rollup", env=env)
    assert sealed.returncode == 0, sealed.stderr
    assert sealed.stdout.startswith("sealed 2 hourly counts; every hour before ")
    rebuilt = hitcount("rollup", "--rebuild", "--since", "1970-01-02", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("sealed 0 hourly counts; every hour before ")
    assert rebuilt.stdout.splitlines()[1] == "rebuilt 2 hourly counts from the hits held"
    store = Runtime.load(env).open_store()
    assert store.counts("a", now_ns()).total == 2
    store.close()


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


def test_dead_letters_drop_deletes_them_for_good_and_names_the_tags_it_did_not_find(tmp_path: Path) -> None:
    env = {"HITCOUNT_DATA_DIR": str(tmp_path)}
    dead_letter(env)
    dead_letter(env)
    queue = Runtime.load(env).open_queue()
    first, second = (letter.tag for letter in queue.dead_letters())
    dropped = hitcount("dead-letters", "--drop", first, "999", env=env)
    assert dropped.returncode == 1
    assert dropped.stdout.strip() == "dropped 1 dead letter(s)"
    assert dropped.stderr.splitlines() == [
        "hitcount: error: no dead letter with tag(s) 999: `hitcount dead-letters` lists the tags there are"
    ]
    assert [letter.tag for letter in queue.dead_letters()] == [second]
    assert hitcount("dead-letters", "--drop-all", env=env).stdout.strip() == "dropped 1 dead letter(s)"
    assert queue.dead_letters() == []
    assert queue.backlog().batches == 0
    queue.close()


def test_a_user_mistake_is_one_error_line_and_exit_1_not_a_traceback(tmp_path: Path) -> None:
    result = hitcount("dead-letters", "--replay", "nope", env={"HITCOUNT_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "hitcount: error: no dead letter with tag(s) nope: `hitcount dead-letters` lists the tags there are"
    ]


def test_bench_against_a_closed_port_is_one_error_line_naming_the_url_option() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = hitcount("bench", "--url", closed, "--verify")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("hitcount: error: cannot read the count of 'bench-")
    assert f"from the API at {closed} " in line
    assert line.endswith("pass its base URL with --url")


def test_a_malformed_log_level_is_one_error_line_naming_it() -> None:
    result = hitcount("plugins", env={"HITCOUNT_LOG_LEVEL": "loud"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "hitcount: error: HITCOUNT_LOG_LEVEL='loud' is invalid: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    ]


def runtime_with(command: Command) -> Runtime:
    runtime = Runtime.load({})
    runtime.registry.commands[command.name] = Registered(command, Provider("test", "0"))
    return runtime


def test_an_os_error_is_one_error_line_and_exit_1_and_a_bug_keeps_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(arguments: argparse.Namespace, runtime: Runtime) -> int:
        raise ConnectionRefusedError(111, "Connection refused")

    def buggy(arguments: argparse.Namespace, runtime: Runtime) -> int:
        raise KeyError("a bug")

    runtime = runtime_with(Command("refused", "Meets a closed port.", refused))
    runtime.registry.commands["buggy"] = Registered(Command("buggy", "Has a bug.", buggy), Provider("test", "0"))
    monkeypatch.setattr(Runtime, "load", classmethod(lambda cls: runtime))
    assert main(["refused"]) == 1
    assert capsys.readouterr().err == "hitcount: error: [Errno 111] Connection refused\n"
    with pytest.raises(KeyError, match="a bug"):
        main(["buggy"])


def test_a_usage_mistake_exits_2_with_the_usage() -> None:
    result = hitcount("dead-letters", "--drop")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: hitcount dead-letters")


def test_version_prints_core_then_every_installed_plugin_distribution() -> None:
    result = hitcount("--version")
    assert result.returncode == 0, result.stderr
    plugins = {
        f"{distribution.metadata['Name']} {distribution.version}"
        for distribution in importlib.metadata.distributions()
        if any(entry.group == "hitcount" for entry in distribution.entry_points)
    }
    core = f"hitcount-core {importlib.metadata.version('hitcount-core')}"
    lines = result.stdout.splitlines()
    assert lines[0] == core
    assert set(lines) == plugins


def test_config_fails_naming_every_invalid_value_and_unknown_backend(tmp_path: Path) -> None:
    env = {
        "HITCOUNT_DATA_DIR": str(tmp_path),
        "HITCOUNT_RETENTION": "1d",
        "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "soon",
        "HITCOUNT_STORE": "nope",
    }
    result = hitcount("config", env=env)
    assert result.returncode == 1
    assert "HITCOUNT_RETENTION" in result.stdout  # the table still shows
    errors = result.stderr.splitlines()
    assert len(errors) == 3, errors
    assert all(line.startswith("hitcount: error: ") for line in errors)
    assert any("HITCOUNT_RETENTION='1d' is invalid: must be at least 3 days 1 h" in line for line in errors)
    assert any("HITCOUNT_QUEUE_VISIBILITY_TIMEOUT='soon' is invalid: expected a duration" in line for line in errors)
    assert any("HITCOUNT_STORE='nope': no installed plugin provides a store" in line for line in errors)


def test_every_help_shows_the_default_of_each_option_that_has_one() -> None:
    parser = build_parser(Runtime.load({}))
    [subparsers] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    checked = 0
    for name, subparser in subparsers.choices.items():
        text = " ".join(subparser.format_help().split())
        for action in subparser._actions:
            flag = action.default is None or isinstance(action.default, bool) or action.default == argparse.SUPPRESS
            if action.option_strings and not flag:
                assert f"(default: {action.default})" in text, f"hitcount {name} {action.option_strings[-1]}"
                checked += 1
    assert checked >= 8  # bench's options at least


def test_bench_help_shows_durations_as_they_are_typed() -> None:
    text = " ".join(hitcount("bench", "--help").stdout.split())
    assert "how long to send, e.g. 60s (default: 10s)" in text
    assert "(default: 120s)" in text


def test_a_server_logs_its_data_directory_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="hitcount"):
        Runtime.load({}).log_data_dir()
    assert caplog.messages == [f"data directory {tmp_path.resolve() / 'var'} (HITCOUNT_DATA_DIR=./var)"]
