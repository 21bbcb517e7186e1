"""Loading plugins: every ``hitcount`` entry point, core's own included, through pluggy."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

import pluggy

from hitcount.core import hookspecs
from hitcount.core.markers import PROJECT
from hitcount.core.registry import Provider, Registry


def _module(entry: object) -> str:
    """The module that defines ``entry`` (a plugin module or object, a factory, a function)."""
    if isinstance(entry, ModuleType):
        return entry.__name__
    return getattr(entry, "__module__", None) or type(entry).__module__


def _package(plugin: object) -> str:
    """The package a plugin's code lives in: what it registers is credited by this prefix."""
    name = _module(plugin)
    if hasattr(plugin, "__path__"):  # the plugin is a package itself
        return name
    return name.rpartition(".")[0] or name


class Plugins:
    """A pluggy manager holding every installed plugin that is not blocked, and who provided it."""

    def __init__(self, disabled: Iterable[str] = ()) -> None:
        self.manager = pluggy.PluginManager(PROJECT)
        self.manager.add_hookspecs(hookspecs)
        for name in disabled:
            self.manager.set_blocked(name)
        self.manager.load_setuptools_entrypoints(PROJECT)
        self.manager.check_pending()
        # Longest package first, so that a plugin inside another's package is credited, not its parent.
        distributions = self.manager.list_plugin_distinfo()
        self._packages = sorted(
            ((_package(plugin), Provider(dist.project_name, dist.version)) for plugin, dist in distributions),
            key=lambda pair: len(pair[0]),
            reverse=True,
        )

    def credit(self, entry: object) -> Provider:
        """The distribution whose plugin package holds ``entry`` (a factory, a command's function)."""
        module = _module(entry)
        for package, provider in self._packages:
            if module == package or module.startswith(f"{package}."):
                return provider
        return Provider(module, "unknown")

    def registry(self) -> Registry:
        """Call the registration hooks, in order, on a fresh :class:`Registry`."""
        registry = Registry(credit=self.credit)
        registry.plugins = {
            name: self.credit(plugin) for name, plugin in self.manager.list_name_plugin() if plugin is not None
        }
        self.manager.hook.hitcount_register_settings(registry=registry)
        self.manager.hook.hitcount_register_backends(registry=registry)
        self.manager.hook.hitcount_register_commands(registry=registry)
        return registry
