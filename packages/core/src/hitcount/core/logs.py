"""Logging of every hitcount process: hitcount's loggers at HITCOUNT_LOG_LEVEL, libraries at WARNING.

Client libraries log each request at INFO (elasticsearch's transport logs every bulk
call), which would drown hitcount's own lines at the default level.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, format: str = FORMAT, datefmt: str | None = None) -> None:
    """Send logs to stderr: ``hitcount.*`` from ``level`` up, everything else from WARNING up."""
    logging.basicConfig(level=logging.WARNING, format=format, datefmt=datefmt)
    logging.getLogger("hitcount").setLevel(level)
