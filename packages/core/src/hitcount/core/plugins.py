"""Loading plugins: core's built-ins and every ``hitcount`` entry point, the same way."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib import metadata
from types import ModuleType

import pluggy

from hitcount.core import hookspecs
from hitcount.core.config import Setting, parse_csv
from hitcount.core.registry import Provider, Registry

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)

CORE_DISTRIBUTION = "hitcount-core"
# Core's own plugins, registered exactly as external ones are.
BUILTIN_PLUGINS = (
    "hitcount.core.settings",
    "hitcount.core.backends.memory",
    "hitcount.core.backends.sqlite_queue",
    "hitcount.core.backends.sqlite_store",
    "hitcount.core.commands",
)
DISABLE_PLUGINS = Setting(
    "HITCOUNT_DISABLE_PLUGINS",
    "",
    "Comma-separated entry-point names of installed plugins not to load.",
    parse_csv,
)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


class PluginManager:
    """Adds the hook specs, registers built-ins and entry points, and fills a :class:`Registry`."""

    def __init__(self, disabled: Iterable[str] = ()) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        for name in disabled:
            self.pm.set_blocked(name)
        self._providers: dict[str, Provider] = {}
        core = Provider(CORE_DISTRIBUTION, _version(CORE_DISTRIBUTION))
        for module_name in BUILTIN_PLUGINS:
            self._add(importlib.import_module(module_name), module_name, core)
        for entry_point in metadata.entry_points(group=hookspecs.PROJECT):
            if self.pm.is_blocked(entry_point.name) or self.pm.get_plugin(entry_point.name) is not None:
                continue
            dist = entry_point.dist
            provider = Provider(dist.name, dist.version) if dist else Provider(entry_point.value, "unknown")
            self._add(entry_point.load(), entry_point.name, provider)
        self.pm.check_pending()

    def _add(self, plugin: ModuleType | object, name: str, provider: Provider) -> None:
        self.pm.register(plugin, name=name)
        self._providers[name] = provider

    def registry(self) -> Registry:
        """Run the registration hooks in order, crediting each entry to its plugin's distribution."""
        registry = Registry()
        for hook in (
            self.pm.hook.hitcount_register_settings,
            self.pm.hook.hitcount_register_backends,
            self.pm.hook.hitcount_register_commands,
        ):
            # One implementation at a time, in registration order (built-ins first), so
            # the registry knows whose entries it is adding.
            for impl in hook.get_hookimpls():
                name = self.pm.get_name(impl.plugin) or "unknown"
                registry.provider = self._providers.get(name, Provider(name, "unknown"))
                impl.function(registry=registry)
        return registry
