"""hitcount-core alone never imports a web framework, a server client or gevent."""

from __future__ import annotations

import subprocess
import sys

SERVER_ONLY = ("flask", "redis", "elasticsearch", "gevent", "gunicorn")
PROBE = """
import pkgutil, importlib, sys
import hitcount.core
for module in pkgutil.walk_packages(hitcount.core.__path__, "hitcount.core."):
    if ".testing" not in module.name:
        importlib.import_module(module.name)
from hitcount.core import Runtime
runtime = Runtime.load({"HITCOUNT_DISABLE_PLUGINS": ",".join(sys.argv[1:])})
print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in %r)))
"""


def test_core_modules_and_builtin_plugins_import_no_server_library() -> None:
    # Plugins of other installed packages are blocked so that only core's own code is judged.
    from importlib.metadata import entry_points

    others = [ep.name for ep in entry_points(group="hitcount") if not ep.value.startswith("hitcount.core")]
    result = subprocess.run(
        [sys.executable, "-c", PROBE % (SERVER_ONLY,), *others], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
