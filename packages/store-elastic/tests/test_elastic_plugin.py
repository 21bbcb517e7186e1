"""Installing the package and setting ``HITCOUNT_STORE=elastic`` is all it takes."""

from __future__ import annotations

import os
import subprocess
import sys

from hitcount.core.hit import Hit, now_ns
from hitcount.core.runtime import Runtime
from hitcount.store_elastic import settings
from hitcount.store_elastic.store import ElasticStore


def _hitcount(*arguments: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the ``hitcount`` CLI in a fresh interpreter with only ``environ`` as its HITCOUNT_* settings."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("HITCOUNT_")}
    return subprocess.run(
        [sys.executable, "-m", "hitcount.core.cli", *arguments],
        env={**clean, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hitcount_store_elastic_selects_this_store_from_the_installed_plugin(elastic_url: str, prefix: str) -> None:
    runtime = Runtime.load(
        {"HITCOUNT_STORE": "elastic", "HITCOUNT_ELASTIC_URL": elastic_url, "HITCOUNT_ELASTIC_INDEX_PREFIX": prefix}
    )
    assert runtime.registry.stores["elastic"].provider.package == "hitcount-store-elastic"
    store = runtime.open_store()
    try:
        assert isinstance(store, ElasticStore)
        now = now_ns()
        store.write([Hit("via-runtime", now)])
        store.refresh()
        assert store.counts("via-runtime", now).values == (1, 1, 1, 1, 1)
    finally:
        store.close()


def test_retention_command_purges_this_store(elastic_url: str, prefix: str) -> None:
    environ = {
        "HITCOUNT_STORE": "elastic",
        "HITCOUNT_ELASTIC_URL": elastic_url,
        "HITCOUNT_ELASTIC_INDEX_PREFIX": prefix,
    }
    old = Runtime.load(environ).open_store()
    old.write([Hit("old", now_ns() - 30 * 24 * 3600 * 10**9)])
    old.close()
    done = _hitcount("retention", environ=environ)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("removed 1 ")


def test_registering_the_plugin_imports_no_elasticsearch_client() -> None:
    probe = "import sys; from hitcount.core import Runtime; Runtime.load({}); sys.exit('elasticsearch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], timeout=60, check=False).returncode == 0


def test_config_lists_every_elastic_setting_and_masks_the_secrets() -> None:
    environ = {
        "HITCOUNT_ELASTIC_API_KEY": "key-secret",
        "HITCOUNT_ELASTIC_PASSWORD": "password-secret",
        "HITCOUNT_ELASTIC_URL": "https://ops:url-secret@es.example:9200",
    }
    done = _hitcount("config", environ=environ)
    assert done.returncode == 0, done.stderr
    for setting in settings.SETTINGS:
        assert setting.name in done.stdout
    assert "https://ops:****@es.example:9200" in done.stdout
    assert "secret" not in done.stdout


def test_hitcount_config_fails_naming_a_store_timeout_whose_writes_outlast_the_visibility_timeout() -> None:
    environ = {"HITCOUNT_STORE": "elastic", "HITCOUNT_ELASTIC_TIMEOUT": "20s"}
    result = _hitcount("config", environ=environ)
    assert result.returncode == 1
    assert "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT=30 s must exceed the longest store write, 52 s" in result.stderr
    assert "HITCOUNT_ELASTIC_TIMEOUT=20 s" in result.stderr
    assert _hitcount("config", environ={**environ, "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "1m"}).returncode == 0
