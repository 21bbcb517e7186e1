"""The pluggy markers of the ``hitcount`` project.

A leaf module (it imports nothing of hitcount) so that any module, core's own plugins
included, can mark hook implementations without importing the plugin machinery.
"""

import pluggy

PROJECT = "hitcount"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
