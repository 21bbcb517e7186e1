"""Settings and the effective configuration, read from ``HITCOUNT_*`` environment variables.

Each package declares its settings as :class:`Setting` constants next to the code
that reads them and registers them through ``hitcount_register_settings`` so that
``hitcount config`` can list every one, masked where secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import unquote_plus, urlsplit

from hitcount.core.errors import ConfigError

T = TypeVar("T")
PREFIX = "HITCOUNT_"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024 * 1024}


def parse_duration(text: str) -> float:
    """Seconds from ``"250ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"7d"`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError("expected a duration such as 500ms, 30s, 5m, 2h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


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
    value = int(text)
    if value < 1:
        raise ValueError("expected an integer of at least 1")
    return value


def parse_csv(text: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


# A URL within any text: a scheme, "://", and what follows up to a blank, a comma (lists of
# URLs) or a quote (URLs inside messages such as "cannot parse 'http://...'").
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s,'\"<>]*")
# Query parameters whose value is a secret, by a case-insensitive part of their name.
_SECRET_PARAMETER = re.compile(r"password|token|key|secret", re.IGNORECASE)
MASK = "****"


def mask_url(text: str) -> str:
    """``text`` with the secrets of every URL in it masked: the password of the userinfo, and
    the values of query parameters named ``password`` or with ``token``, ``key`` or ``secret``
    in their names (any case). Everything else is kept as written.

    Every place that shows a backend URL (``hitcount config``, logs, health details, error
    messages) passes it, or the whole message holding it, through here.
    """
    return _URL.sub(lambda match: _mask_one(match.group()), text)


def _mask_one(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: nothing of it can be told safe
        return url.split("://", 1)[0] + "://" + MASK
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}"
    query = "&".join(_mask_parameter(parameter) for parameter in parts.query.split("&")) if parts.query else ""
    if netloc == parts.netloc and query == parts.query:
        return url
    # Rebuilt by hand: urlunsplit drops the "//" of an empty authority (unix:///path).
    before_fragment, hash, fragment = url.partition("#")
    question = "?" if "?" in before_fragment else ""
    return f"{parts.scheme}://{netloc}{parts.path}{question}{query}{hash}{fragment}"


def _mask_parameter(parameter: str) -> str:
    name, equals, value = parameter.partition("=")
    if equals and value and _SECRET_PARAMETER.search(unquote_plus(name)):
        return f"{name}={MASK}"
    return parameter


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable: its name, default (as text), meaning and parser.

    ``secret`` settings are never printed; URLs in any value are printed with their secrets masked.
    """

    name: str
    default: str
    help: str
    parse: Callable[[str], T]
    secret: bool = False

    def __post_init__(self) -> None:
        if not self.name.startswith(PREFIX):
            raise ValueError(f"setting {self.name!r} must start with {PREFIX}")

    def display(self, raw: str) -> str:
        """How ``raw`` may be shown to an operator."""
        if self.secret:
            return MASK if raw else ""
        return mask_url(raw)


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
            raise ConfigError(f"{setting.name}={setting.display(raw)!r} is invalid: {error}") from None

    def with_overrides(self, overrides: Mapping[str, str]) -> Config:
        """A copy with some variables replaced, for tests and sub-processes."""
        return Config({**self._environ, **overrides})

    def environ(self) -> dict[str, str]:
        """The ``HITCOUNT_*`` variables that were set, to pass on to child processes."""
        return dict(self._environ)

    def entries(self, settings: Iterable[Setting[Any]]) -> list[ConfigEntry]:
        """Every known setting with its displayable value, plus unknown ``HITCOUNT_*`` variables (typos)."""
        known = {setting.name: setting for setting in settings}
        rows = [
            ConfigEntry(
                name,
                setting.display(self.raw(setting)),
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
