"""Settings and the effective configuration, read from ``HITCOUNT_*`` environment variables.

Each package declares its settings as :class:`Setting` constants next to the code
that reads them and registers them through ``hitcount_register_settings`` so that
``hitcount config`` can list every one, masked where secret; and the bounds between
settings that no one parser can check, often across packages, as :class:`Rule` constants.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from hitcount.core.errors import ConfigError
from hitcount.core.masking import MASK, Secrets, mask_url

T = TypeVar("T")
PREFIX = "HITCOUNT_"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
# The units of durations in words (format_duration), largest first, each with the next smaller one.
_WORDS = (("days", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1))
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024 * 1024}


def parse_duration(text: str) -> float:
    """Seconds from ``"250ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"7d"`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError("expected a duration such as 500ms, 30s, 5m, 2h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: float) -> str:
    """``seconds`` in words, for log lines and errors: ``"0.4 ms"``, ``"250 ms"``, ``"1.5 s"``, ``"90 s"``,
    ``"2 min 5 s"``, ``"2 h 30 min"``, ``"7 days"``.

    A reader takes in "7 days" at a glance where "604800s" needs its digits counted. The unit
    is the largest one the duration holds at least twice (so "90 s" and "36 h", never "1 min
    30 s"), then the next smaller one when it is not zero, rounded to it: a log line needs
    no finer precision.
    """
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if round(seconds * 1000) < 1000:
        return f"{_number(seconds * 1000)} ms"
    for unit, size, smaller, smaller_size in _WORDS:
        if seconds >= 2 * size:
            whole, rest = divmod(round(seconds / smaller_size), size // smaller_size)
            return f"{whole} {unit} {rest} {smaller}" if rest else f"{whole} {unit}"
    return f"{_number(seconds)} s"


def _number(value: float) -> str:
    """``value`` with one decimal below 10 (a request's "1.2 ms", a backoff's "1.5 s"), whole above."""
    return f"{value:.1f}".removesuffix(".0") if value < 10 else str(round(value))


def parse_positive_duration(text: str) -> float:
    """A duration above zero, for timeouts: zero means "wait forever" to most clients."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError("expected a duration above zero, such as 500ms")
    return seconds


def parse_size(text: str) -> int:
    """Bytes from ``"65536"``, ``"64KiB"`` or ``"1MiB"``; at least one byte."""
    match = _SIZE.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError("expected a size of at least 1 byte, such as 65536, 64KiB or 1MiB")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_optional_address(text: str) -> tuple[str, int] | None:
    """``host:port`` as a pair (brackets of an IPv6 host removed), or None for an empty value."""
    if not text.strip():
        return None
    host, separator, port = text.strip().rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:9108, or nothing")
    return host.strip("[]"), int(port)


def parse_optional_file(text: str) -> Path | None:
    """Nothing, or the path of a file that exists."""
    if not text.strip():
        return None
    path = Path(text.strip())
    if not path.is_file():
        raise ValueError("no such file")
    return path


def parse_positive_int(text: str) -> int:
    """An integer of at least 1."""
    expected = "expected an integer of at least 1, such as 4"
    try:
        value = int(text)
    except ValueError:  # int()'s own words ("invalid literal for int() with base 10") say nothing to an operator
        raise ValueError(expected) from None
    if value < 1:
        raise ValueError(expected)
    return value


def parse_csv(text: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable: its name, default (as text), meaning and parser.

    ``secret`` settings are never shown, nor are their values anywhere in a process's text
    (:meth:`Config.secrets`). ``url`` settings parse into a URL or a tuple of URLs, shown with
    their passwords and secret query parameters masked, which are secrets too.
    """

    name: str
    default: str
    help: str
    parse: Callable[[str], T]
    secret: bool = False
    url: bool = False

    def __post_init__(self) -> None:
        if not self.name.startswith(PREFIX):
            raise ValueError(f"setting {self.name!r} must start with {PREFIX}")

    def _urls(self, raw: str) -> tuple[str, ...] | None:
        """The URLs of a ``url`` setting's value ``raw``, or None when it cannot be parsed."""
        try:
            parsed: object = self.parse(raw)
        except ValueError:
            return None
        return tuple(map(str, parsed)) if isinstance(parsed, tuple) else (str(parsed),)

    def display(self, raw: str) -> str:
        """How ``raw`` may be shown to an operator."""
        if self.secret:
            return MASK if raw else ""
        if not self.url:
            return raw
        urls = self._urls(raw)
        if urls is None:  # where one URL ends cannot be told: its secrets are found either way
            return self.secrets(raw).mask(raw)
        return ",".join(mask_url(url) for url in urls)

    def secrets(self, raw: str) -> Secrets:
        """The secret values ``raw`` holds: all of it and each item of a list for a ``secret`` setting,
        the secrets of its URLs for a ``url`` one (read both as one URL and as a list when it cannot be parsed)."""
        if self.secret:
            return Secrets([raw, *parse_csv(raw)])
        if not self.url:
            return Secrets()
        urls = self._urls(raw)
        return Secrets.of_urls((raw, *raw.split(",")) if urls is None else urls)


@dataclass(frozen=True)
class Rule:
    """A bound between settings (or a setting and a constant) that no one setting's parser can check.

    Timings meet across packages: a batch the indexer holds must be written before the queue's
    visibility timeout hands it to another indexer, whatever the store's timeout says. A rule
    is registered next to the settings of the code that depends on it (``registry.add_rules``),
    checked by that code where it reads them (:meth:`Config.require`) and by ``hitcount config``,
    and listed in the settings reference.

    ``reads`` names the settings whose parsed values ``check`` gets, by name, since one may
    belong to a package the rule's own does not depend on (the API's spool and the Redis
    queue's timeout): a rule applies only where each is registered. ``check`` returns None
    when the values fit, else what is wrong, naming each setting, and each constant, with its value.
    """

    text: str
    reads: tuple[str, ...]
    check: Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class ConfigEntry:
    """One line of ``hitcount config``."""

    name: str
    value: str
    source: str
    help: str


class Config:
    """The settings of one process, read once from an environment mapping."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = {key: value for key, value in environ.items() if key.startswith(PREFIX)}

    def raw(self, setting: Setting[Any]) -> str:
        """The text of ``setting``: from the environment, else its default."""
        return self._environ.get(setting.name, setting.default)

    def get(self, setting: Setting[T]) -> T:
        """The parsed value of ``setting``; a malformed value raises :class:`ConfigError` naming it."""
        raw = self.raw(setting)
        try:
            return setting.parse(raw)
        except ValueError as error:
            reason = setting.secrets(raw).mask(str(error))  # a parser's words may quote the value
            raise ConfigError(f"{setting.name}={setting.display(raw)!r} is invalid: {reason}") from None

    def problems(self, settings: Iterable[Setting[Any]]) -> list[str]:
        """Why each of these settings that does not parse is invalid (:meth:`get`'s words), in name order.

        A command reads only the settings it needs, when it needs them: ``hitcount config``
        checks them all up front, so that a typo shows before ``serve`` trips on it.
        """
        problems = []
        for setting in sorted(settings, key=lambda setting: setting.name):
            try:
                self.get(setting)
            except ConfigError as error:
                problems.append(str(error))
        return problems

    def broken(self, rules: Iterable[Rule], settings: Iterable[Setting[Any]]) -> list[str]:
        """What each rule finds wrong, in the rules' order: those that read a setting not among ``settings``
        (not installed) do not apply, nor those that read one that does not parse (:meth:`problems` says why)."""
        known = {setting.name: setting for setting in settings}
        found = []
        for rule in rules:
            if not all(name in known for name in rule.reads) or self.problems(known[name] for name in rule.reads):
                continue
            problem = rule.check({name: self.get(known[name]) for name in rule.reads})
            if problem is not None:
                found.append(problem)
        return found

    def require(self, rules: Iterable[Rule], settings: Iterable[Setting[Any]]) -> None:
        """Raise :class:`ConfigError` with what :meth:`broken` finds, if anything: where the values are read."""
        problems = self.broken(rules, settings)
        if problems:
            raise ConfigError("\n".join(problems))

    def with_overrides(self, overrides: Mapping[str, str]) -> Config:
        """A copy with some variables replaced, for tests and sub-processes."""
        return Config({**self._environ, **overrides})

    def environ(self) -> dict[str, str]:
        """The ``HITCOUNT_*`` variables that were set, to pass on to child processes."""
        return dict(self._environ)

    def secrets(self, settings: Iterable[Setting[Any]]) -> Secrets:
        """The secret values of these settings as configured, to mask wherever this process writes text."""
        return Secrets(value for setting in settings for value in setting.secrets(self.raw(setting)).values)

    def entries(self, settings: Iterable[Setting[Any]]) -> list[ConfigEntry]:
        """Every known setting with its displayable value, plus unknown ``HITCOUNT_*`` variables (typos)."""
        known = {setting.name: setting for setting in settings}
        secrets = self.secrets(known.values())
        rows = [
            ConfigEntry(
                name,
                secrets.mask(setting.display(self.raw(setting))),
                "environment" if name in self._environ else "default",
                setting.help,
            )
            for name, setting in sorted(known.items())
        ]
        rows += [
            ConfigEntry(name, MASK, "environment", "unknown setting: no installed plugin reads it")
            for name in sorted(self._environ.keys() - known.keys())
        ]
        return rows
