"""The hook specifications: the contract between hitcount and its plugins.

A plugin is a module (or object) with functions marked ``@hitcount.core.hookimpl``
named after these specs, made known through the ``hitcount`` entry-point group::

    [project.entry-points.hitcount]
    redis = "hitcount.queue_redis.plugin"

The hooks are called through pluggy (so ``tryfirst``/``trylast``, hook wrappers and
tracing work as pluggy documents) in this order when a process starts: settings,
backends, commands. Every hook receives the same :class:`~hitcount.core.registry.Registry`
and returns nothing; what a plugin adds is credited to the distribution of its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hitcount.core.markers import hookspec

if TYPE_CHECKING:
    from hitcount.core.registry import Registry


@hookspec
def hitcount_register_settings(registry: Registry) -> None:
    """Declare the ``HITCOUNT_*`` variables the plugin reads, with ``registry.add_settings(*settings)``,
    and the bounds between settings its code relies on, with ``registry.add_rules(*rules)``.

    Called first, once per process, so that ``hitcount config`` lists and masks the settings and
    checks the rules (:class:`~hitcount.core.config.Rule`). Each setting and rule is credited to
    the distribution of the plugin that declares it, whose README documents it.
    """


@hookspec
def hitcount_register_backends(registry: Registry) -> None:
    """Offer backends with ``registry.add_queue(name, factory)``, ``add_store`` and ``add_cache``.

    ``factory(config)`` is only called when configuration selects that backend, so a plugin
    must import its client library inside the factory's module, not at registration.
    Whether the backend's calls block is said here too, since a factory that imports late
    cannot show it: pass ``blocking=False`` for a backend whose I/O gevent can switch away
    from (pure-Python sockets, as redis-py's and the Elasticsearch client's); left at its
    default (True), the API calls the backend on a thread of its own.
    """


@hookspec
def hitcount_register_commands(registry: Registry) -> None:
    """Offer ``hitcount`` subcommands with ``registry.add_command(Command(...))``.

    Called after backends, when the CLI builds its parser.
    """
