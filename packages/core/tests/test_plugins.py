"""Loading plugins: core's and others' entry points through pluggy, block-list, provider credit, loud failures."""

from __future__ import annotations

import inspect
import textwrap
import uuid
from pathlib import Path

import pluggy
import pytest

from hitcount.core import HitcountError, Runtime, UnknownBackend, hookspecs
from hitcount.core.plugins import Plugins

HOOKS = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("hitcount_")]
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Install, on sys.path only, a distribution `fake-plugin 1.2.3` whose module is written by the test."""

    module = f"fake_hitcount_plugin_{uuid.uuid4().hex}"  # unique: sys.modules outlives the test

    def install(source: str) -> None:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / "fake_plugin-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[hitcount]\nfake = {module}\n")
        monkeypatch.syspath_prepend(str(tmp_path))

    return install


PLUGIN = """
    from hitcount.core import hookimpl
    from hitcount.core.backends.memory import MemoryQueue, MemoryStore

    def open_queue(config):
        return MemoryQueue.from_config(config)

    def open_store(config):
        return MemoryStore.from_config(config)

    @hookimpl
    def hitcount_register_backends(registry):
        registry.add_queue("fake", open_queue)
        registry.add_store("fake", open_store)
"""


def test_cores_own_plugins_are_entry_points_credited_to_core() -> None:
    registry = Plugins().registry()
    assert {"sqlite", "memory"} <= set(registry.queues) & set(registry.stores)
    assert registry.queues["sqlite"].provider.package == "hitcount-core"
    assert registry.commands["retention"].provider.package == "hitcount-core"
    assert {"plugins", "config", "serve", "dead-letters", "retention"} <= set(registry.commands)
    assert {"core", "memory", "sqlite-queue", "sqlite-store"} <= set(registry.plugins)


def test_cores_own_backends_can_be_disabled_by_name() -> None:
    runtime = Runtime.load({"HITCOUNT_DISABLE_PLUGINS": "memory"})
    assert "memory" not in runtime.registry.queues
    assert "memory" not in runtime.registry.plugins
    assert "sqlite" in runtime.registry.queues


def test_hook_hitcount_register_backends_adds_an_entry_point_plugins_backends(fake_distribution) -> None:  # type: ignore[no-untyped-def]
    fake_distribution(PLUGIN)
    registry = Plugins().registry()
    assert str(registry.queues["fake"].provider) == "fake-plugin 1.2.3"
    assert str(registry.stores["fake"].provider) == "fake-plugin 1.2.3"


def test_hook_hitcount_register_settings_lists_a_plugins_settings(fake_distribution) -> None:  # type: ignore[no-untyped-def]
    fake_distribution("""
        from hitcount.core import Setting, hookimpl

        @hookimpl
        def hitcount_register_settings(registry):
            registry.add_settings(Setting("HITCOUNT_FAKE_TOKEN", "", "token", str, secret=True))
    """)
    assert Plugins().registry().settings["HITCOUNT_FAKE_TOKEN"].secret


def test_hook_hitcount_register_commands_adds_a_subcommand(fake_distribution) -> None:  # type: ignore[no-untyped-def]
    fake_distribution("""
        from hitcount.core import Command, hookimpl

        @hookimpl
        def hitcount_register_commands(registry):
            registry.add_command(Command("hello", "Say hello.", lambda arguments, runtime: 0))
    """)
    assert "hello" in Plugins().registry().commands


def test_hooks_are_called_through_pluggy_so_wrappers_see_every_plugins_entries(fake_distribution) -> None:  # type: ignore[no-untyped-def]
    fake_distribution("""
        from hitcount.core import hookimpl

        @hookimpl(wrapper=True)
        def hitcount_register_backends(registry):
            yield
            # Runs after every other plugin's implementation, as pluggy promises wrappers.
            registry.stores.pop("memory")
    """)
    registry = Plugins().registry()
    assert "sqlite" in registry.stores
    assert "memory" not in registry.stores


def test_the_plugin_list_credits_each_entry_point_to_its_distribution(fake_distribution) -> None:  # type: ignore[no-untyped-def]
    fake_distribution(PLUGIN)
    assert str(Plugins().registry().plugins["fake"]) == "fake-plugin 1.2.3"


def test_a_backend_blocks_unless_its_registration_says_otherwise(fake_distribution) -> None:  # type: ignore[no-untyped-def]
    # A function registered as the hookspec says: nothing on it tells whether its backend
    # blocks, so it is taken to, the safe guess for a server on an event loop.
    fake_distribution(PLUGIN)
    registry = Plugins().registry()
    assert [backend.blocking for backend in (registry.queues["fake"], registry.stores["fake"])] == [True, True]
    sqlite = (registry.queues["sqlite"], registry.stores["sqlite"], registry.caches["sqlite"])
    memory = (registry.queues["memory"], registry.stores["memory"], registry.caches["memory"])
    assert [backend.blocking for backend in sqlite] == [True, True, True]
    assert [backend.blocking for backend in memory] == [False, False, False]


def test_blocked_plugins_are_not_loaded(fake_distribution) -> None:  # type: ignore[no-untyped-def]
    fake_distribution(PLUGIN)
    runtime = Runtime.load({"HITCOUNT_DISABLE_PLUGINS": "fake"})
    assert "fake" not in runtime.registry.queues


def test_a_misspelt_hook_fails_loudly(fake_distribution) -> None:  # type: ignore[no-untyped-def]
    fake_distribution("""
        from hitcount.core import hookimpl

        @hookimpl
        def hitcount_register_backend(registry):
            pass
    """)
    with pytest.raises(pluggy.PluginValidationError, match="hitcount_register_backend"):
        Plugins()


def test_two_plugins_claiming_one_name_is_an_error(fake_distribution) -> None:  # type: ignore[no-untyped-def]
    fake_distribution(PLUGIN.replace('"fake"', '"sqlite"'))
    with pytest.raises(HitcountError, match=r"registered twice: by fake-plugin 1\.2\.3 and by hitcount-core "):
        Plugins().registry()


def test_an_unknown_backend_name_lists_the_installed_ones() -> None:
    runtime = Runtime.load({"HITCOUNT_QUEUE": "kafka"})
    with pytest.raises(UnknownBackend, match=r"HITCOUNT_QUEUE='kafka'.*installed: (.*, )?memory, (.*, )?sqlite"):
        runtime.open_queue()


def test_the_configured_backends_are_opened(tmp_path: Path) -> None:
    runtime = Runtime.load({"HITCOUNT_QUEUE": "sqlite", "HITCOUNT_STORE": "memory", "HITCOUNT_DATA_DIR": str(tmp_path)})
    queue, store = runtime.open_queue(), runtime.open_store()
    assert type(queue).__name__ == "SqliteQueue"
    assert type(store).__name__ == "MemoryStore"
    assert (tmp_path / "queue.sqlite3").exists()
    queue.close()


@pytest.mark.parametrize(("environ", "cache"), [({}, "sqlite"), ({"HITCOUNT_CACHE": "memory"}, "memory")])
def test_the_counts_cache_is_the_one_named_whatever_the_queue(
    tmp_path: Path, environ: dict[str, str], cache: str
) -> None:
    runtime = Runtime.load({**environ, "HITCOUNT_QUEUE": "memory", "HITCOUNT_DATA_DIR": str(tmp_path)})
    opened = runtime.open_cache()
    assert type(opened).__name__ == f"{cache.title()}Cache"
    opened.close()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_and_tested(hook: str) -> None:
    assert inspect.getdoc(getattr(hookspecs, hook)), f"{hook} has no docstring"
    assert f"`{hook}" in README.read_text(), f"{hook} is not documented in {README.name}"
    tests = [name for name in globals() if name.startswith(f"test_hook_{hook}_")]
    assert tests, f"{hook} has no test named test_hook_{hook}_..."
