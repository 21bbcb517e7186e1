"""The runtime of one process: its configuration, the installed plugins, and the chosen backends."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from hitcount.core.cache import CountsCache
from hitcount.core.config import Config
from hitcount.core.errors import ConfigError
from hitcount.core.masking import Secrets
from hitcount.core.plugins import Plugins
from hitcount.core.queue import Queue
from hitcount.core.registry import Registry
from hitcount.core.settings import CACHE, DATA_DIR, DISABLE_PLUGINS, QUEUE, STORE
from hitcount.core.store import HitStore

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a command or server needs to open the configured backends."""

    config: Config
    registry: Registry

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Runtime:
        """Read configuration from ``environ`` (default ``os.environ``) and load every plugin."""
        config = Config(os.environ if environ is None else environ)
        disabled: tuple[str, ...] = config.get(DISABLE_PLUGINS)
        return cls(config, Plugins(disabled).registry())

    @cached_property
    def secrets(self) -> Secrets:
        """The secrets of every registered setting, as configured: what this process never writes out."""
        return self.config.secrets(self.registry.settings.values())

    def problems(self) -> list[str]:
        """What would stop a command, found without opening anything: each registered setting whose
        value does not parse, and each backend named (queue, store, cache) that no plugin provides."""
        problems = self.config.problems(self.registry.settings.values())
        for lookup in (
            lambda: self.registry.queue(self.config.get(QUEUE)),
            lambda: self.registry.store(self.config.get(STORE)),
            lambda: self.registry.cache(self.config.get(CACHE)),
        ):
            try:
                lookup()
            except ConfigError as error:
                problems.append(str(error))
        return list(dict.fromkeys(problems))  # a name that does not parse is found twice

    def log_data_dir(self) -> None:
        """Log, as a server starts, the absolute path of ``HITCOUNT_DATA_DIR``.

        Its default (``./var``) is relative: started from another directory, a server opens new,
        empty files there without a word, and counts seem lost. The line says which files it opened.
        """
        directory: Path = self.config.get(DATA_DIR)
        logger.info("data directory %s (%s=%s)", directory.resolve(), DATA_DIR.name, self.config.raw(DATA_DIR))

    def open_queue(self) -> Queue:
        """Open the queue ``HITCOUNT_QUEUE`` names."""
        return self.registry.queue(self.config.get(QUEUE)).factory(self.config)

    def require_shared_queue(self, command: str) -> None:
        """Refuse, for ``hitcount <command>``, a queue that only its own process sees (``memory``).

        The API (each gunicorn worker) and the indexer are separate processes: hits published
        into one process's memory would never reach the indexer, yet every Track would answer 204.
        """
        name: str = self.config.get(QUEUE)
        if not self.registry.queue(name).shared:
            raise ConfigError(
                f"{QUEUE.name}={name!r} keeps batches inside one process, but `hitcount {command}` runs the API"
                " and the indexer as separate processes, so no hit would reach the store; use sqlite or redis"
            )

    def require_rules(self) -> None:
        """Refuse, as a server starts, settings that break a rule between them (a :class:`Rule` of any
        plugin): each broken rule names its settings and their values."""
        problems = self.registry.broken_rules(self.config)
        if problems:
            raise ConfigError("; ".join(problems))

    def open_store(self) -> HitStore:
        """Open the store ``HITCOUNT_STORE`` names."""
        return self.registry.store(self.config.get(STORE)).factory(self.config)

    def open_cache(self) -> CountsCache:
        """Open the counts cache ``HITCOUNT_CACHE`` names."""
        return self.registry.cache(self.config.get(CACHE)).factory(self.config)
