"""The indexer's plugin: its settings and the ``hitcount indexer`` command."""

from __future__ import annotations

from hitcount.core import Command, Registry, hookimpl
from hitcount.indexer.command import run_indexer
from hitcount.indexer.settings import RULES, SETTINGS


@hookimpl
def hitcount_register_settings(registry: Registry) -> None:
    """The ``HITCOUNT_INDEXER_*`` settings, and the rule between the indexer's linger and the visibility timeout."""
    registry.add_settings(*SETTINGS)
    registry.add_rules(*RULES)


@hookimpl
def hitcount_register_commands(registry: Registry) -> None:
    """``hitcount indexer``."""
    registry.add_command(
        Command("indexer", "Move hit batches from the queue into the store until SIGTERM.", run_indexer)
    )
