"""Logging of every hitcount process: hitcount's loggers at HITCOUNT_LOG_LEVEL, libraries at WARNING,
and no configured secret in any line.

Client libraries log each request at INFO (elasticsearch's transport logs every bulk
call), which would drown hitcount's own lines at the default level.
"""

from __future__ import annotations

import logging
from typing import Any

from hitcount.core.masking import Secrets

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The record factory of the logging module, before any of ours replaced it.
_PLAIN_RECORDS = logging.getLogRecordFactory()


class _MaskedRecords:
    """Makes every log record of the process with the secrets masked in its message and traceback.

    A record factory rather than a filter: filters belong to one logger or one handler, and
    gunicorn's loggers, the client libraries' and the root's each have their own, whereas
    every record of every logger is made here. The message and the traceback are formatted
    now, masked, and kept on the record in place of what formatting them later would give.
    """

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets
        self._formatter = logging.Formatter()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = _PLAIN_RECORDS(*args, **kwargs)
        message = record.getMessage()
        masked = self._secrets.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info:
            record.exc_text = self._secrets.mask(self._formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self._secrets.mask(record.stack_info)
        return record


def configure_logging(
    level: str, format: str = FORMAT, datefmt: str | None = None, secrets: Secrets | None = None
) -> None:
    """Send logs to stderr: ``hitcount.*`` from ``level`` up, everything else from WARNING up; with
    ``secrets`` (:attr:`hitcount.core.Runtime.secrets`) masked in every record of every logger."""
    logging.basicConfig(level=logging.WARNING, format=format, datefmt=datefmt)
    logging.getLogger("hitcount").setLevel(level)
    logging.setLogRecordFactory(_MaskedRecords(secrets) if secrets else _PLAIN_RECORDS)
