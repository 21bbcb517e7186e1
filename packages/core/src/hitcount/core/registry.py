"""What plugins register: settings and the rules between them, queue and store backends, and CLI commands.

Plugins receive the :class:`Registry` in their ``hitcount_register_*`` hooks and call
its ``add_*`` methods; the registry credits each setting, rule, backend and command to the
distribution whose plugin package holds its code, so that ``hitcount plugins`` can say where it
comes from and the settings reference lists each setting in its package's README.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from hitcount.core.cache import CountsCache
from hitcount.core.config import Config, Rule, Setting
from hitcount.core.errors import HitcountError, UnknownBackend
from hitcount.core.queue import Queue
from hitcount.core.store import HitStore

if TYPE_CHECKING:
    from hitcount.core.runtime import Runtime

T = TypeVar("T")


class _Credited(Protocol):
    @property
    def provider(self) -> Provider: ...


E = TypeVar("E", bound=_Credited)


@dataclass(frozen=True)
class Provider:
    """The distribution a registered entry came from."""

    package: str
    version: str

    def __str__(self) -> str:
        return f"{self.package} {self.version}"


@dataclass(frozen=True)
class Backend(Generic[T]):
    """A named backend: ``factory(config)`` opens one.

    ``shared`` says whether what one process puts in it is seen by the others (a server, a
    file), as it must be for a queue between the API and the indexer. ``blocking`` says
    whether its calls hold the process until they return (I/O that gevent cannot switch away
    from, such as SQLite's C library): servers that run an event loop, like the API's gevent
    workers, then call it on a thread of its own. It is said here, not read off the backend,
    because factories are often functions that import the backend only when it is opened.
    """

    name: str
    factory: Callable[[Config], T]
    provider: Provider
    shared: bool = True
    blocking: bool = True


@dataclass(frozen=True)
class Served:
    """What ``hitcount serve`` needs of a command it runs beside the others (``api``, ``indexer``).

    ``environ``: settings it gives the command's process unless the user set them (the API's
    access log, so that whoever runs ``hitcount serve`` sees each request arrive).
    ``started(runtime)``: None until the command serves, then what its user may try next;
    ``serve`` asks it now and then, and prints the answers once every command has one.
    """

    environ: Mapping[str, str] = field(default_factory=dict)
    started: Callable[[Runtime], str | None] = lambda runtime: ""


@dataclass(frozen=True)
class Command:
    """A ``hitcount`` subcommand.

    ``configure`` adds arguments to its parser; ``run`` does the work and returns the exit code;
    ``served`` tells ``hitcount serve`` how to run it, for the commands it runs.
    """

    name: str
    help: str
    run: Callable[[argparse.Namespace, Runtime], int]
    configure: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    served: Served = Served()


@dataclass(frozen=True)
class Registered(Generic[T]):
    """An entry with the distribution that registered it."""

    value: T
    provider: Provider


@dataclass
class Registry:
    """Collects what the installed plugins provide; names must be unique per kind."""

    queues: dict[str, Backend[Queue]] = field(default_factory=dict)
    stores: dict[str, Backend[HitStore]] = field(default_factory=dict)
    caches: dict[str, Backend[CountsCache]] = field(default_factory=dict)
    commands: dict[str, Registered[Command]] = field(default_factory=dict)
    settings: dict[str, Setting[Any]] = field(default_factory=dict)
    # The distribution that declared each setting, by name.
    setting_providers: dict[str, Provider] = field(default_factory=dict)
    rules: list[Registered[Rule]] = field(default_factory=list)
    plugins: dict[str, Provider] = field(default_factory=dict)
    credit: Callable[[object], Provider] = lambda entry: Provider(getattr(entry, "__module__", "unknown"), "unknown")

    def add_queue(
        self, name: str, factory: Callable[[Config], Queue], *, shared: bool = True, blocking: bool = True
    ) -> None:
        """Offer a queue backend selectable with ``HITCOUNT_QUEUE=name``; ``shared=False`` for one only its
        process sees, which the commands running the API and the indexer apart refuse.

        ``blocking=False`` for a backend whose I/O is cooperative under gevent (pure-Python
        sockets): the default is the safe guess, since a cooperative backend called on a thread
        costs a little, while a blocking one called on the event loop stalls the whole worker.
        """
        backend = Backend(name, factory, self.credit(factory), shared, blocking)
        self.queues[name] = self._claim(self.queues, "queue", name, backend)

    def add_store(self, name: str, factory: Callable[[Config], HitStore], *, blocking: bool = True) -> None:
        """Offer a store backend selectable with ``HITCOUNT_STORE=name``; ``blocking`` as for :meth:`add_queue`."""
        backend = Backend(name, factory, self.credit(factory), blocking=blocking)
        self.stores[name] = self._claim(self.stores, "store", name, backend)

    def add_cache(self, name: str, factory: Callable[[Config], CountsCache], *, blocking: bool = True) -> None:
        """Offer a counts cache selectable with ``HITCOUNT_CACHE=name``; ``blocking`` as for :meth:`add_queue`."""
        backend = Backend(name, factory, self.credit(factory), blocking=blocking)
        self.caches[name] = self._claim(self.caches, "cache", name, backend)

    def add_command(self, command: Command) -> None:
        """Offer ``hitcount <command.name>``."""
        entry = Registered(command, self.credit(command.run))
        self.commands[command.name] = self._claim(self.commands, "command", command.name, entry)

    def add_settings(self, *settings: Setting[Any]) -> None:
        """Declare the environment variables this plugin reads (listed by ``hitcount config``).

        Each is credited to the distribution of the module that declares it, the hook's (a setting
        object holds nothing of its package), so the reference lists it in that package's README.
        """
        caller = inspect.currentframe()
        declarer = sys.modules[caller.f_back.f_globals["__name__"]] if caller and caller.f_back else None
        for setting in settings:
            if self.settings.get(setting.name, setting) != setting:
                raise HitcountError(f"setting {setting.name} is declared twice, differently")
            self.settings[setting.name] = setting
            self.setting_providers.setdefault(setting.name, self.credit(declarer))

    def add_rules(self, *rules: Rule) -> None:
        """Declare bounds between settings (:class:`~hitcount.core.config.Rule`), checked by ``hitcount config``
        and listed in the settings reference; each is credited to the distribution whose package holds its check."""
        self.rules += [Registered(rule, self.credit(rule.check)) for rule in rules]

    def broken_rules(self, config: Config) -> list[str]:
        """What each registered rule finds wrong with ``config`` (see :meth:`Config.broken`)."""
        return config.broken((entry.value for entry in self.rules), self.settings.values())

    def queue(self, name: str) -> Backend[Queue]:
        """The queue backend called ``name``, or :class:`UnknownBackend` listing the installed ones."""
        return _lookup(self.queues, "queue", "HITCOUNT_QUEUE", name)

    def store(self, name: str) -> Backend[HitStore]:
        """The store backend called ``name``, or :class:`UnknownBackend` listing the installed ones."""
        return _lookup(self.stores, "store", "HITCOUNT_STORE", name)

    def cache(self, name: str) -> Backend[CountsCache]:
        """The counts cache called ``name``, or :class:`UnknownBackend` listing the installed ones."""
        return _lookup(self.caches, "cache", "HITCOUNT_CACHE", name)

    @staticmethod
    def _claim(entries: Mapping[str, E], kind: str, name: str, entry: E) -> E:
        existing = entries.get(name)
        if existing is not None:
            first, second = sorted((str(existing.provider), str(entry.provider)))
            raise HitcountError(f"{kind} {name!r} is registered twice: by {first} and by {second}")
        return entry


def _lookup(entries: dict[str, Backend[T]], kind: str, variable: str, name: str) -> Backend[T]:
    try:
        return entries[name]
    except KeyError:
        installed = ", ".join(sorted(entries)) or "none"
        raise UnknownBackend(
            f"{variable}={name!r}: no installed plugin provides a {kind} called {name!r}; installed: {installed}"
        ) from None
