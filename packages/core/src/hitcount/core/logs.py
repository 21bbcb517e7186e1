"""Logging of every hitcount process: hitcount's loggers at HITCOUNT_LOG_LEVEL, libraries at WARNING,
the chatty client libraries at ERROR without tracebacks, no configured secret in any line, and
recurring conditions (a backend down) logged as a few lines a minute (:class:`RecurringLog`).

Client libraries log each request at INFO (elasticsearch's transport logs every bulk
call), and every retry of a request to a server that is down at WARNING with its traceback
(thousands of lines a minute in an outage), which would bury hitcount's own lines, the ones
that say what is down and what hitcount does about it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hitcount.core.config import format_duration
from hitcount.core.errors import CacheUnavailable, QueueUnavailable, StoreUnavailable
from hitcount.core.masking import Secrets

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The client libraries whose own lines are left out below ERROR, and whose errors are kept to one line:
# hitcount's messages say what failed and what it does about it.
QUIET_LIBRARIES = ("elastic_transport", "elasticsearch", "urllib3", "redis")
# Errors that say a server is down, which hitcount rides out: their tracebacks say nothing more.
OUTAGES = (QueueUnavailable, StoreUnavailable, CacheUnavailable)
# How often a condition that lasts (a backend down) is logged again, saying how often it recurred.
RECURRING_INTERVAL = 60.0
# The record factory of the logging module, before any of ours replaced it.
_PLAIN_RECORDS = logging.getLogRecordFactory()


class _Records:
    """Makes every log record of the process: secrets masked in its message and traceback, and no
    traceback for an outage or from a quiet library (its error's one line added to the message).

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
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: the handler reports it, as without us
            return record
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and (isinstance(error, OUTAGES) or record.name.startswith(QUIET_LIBRARIES)):
            record.exc_info = None
            if str(error) not in message:
                message = f"{message}: {error!r}"
        masked = self._secrets.mask(message)
        if masked != record.msg or record.args:
            record.msg, record.args = masked, None
        if record.exc_info:
            record.exc_text = self._secrets.mask(self._formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self._secrets.mask(record.stack_info)
        return record


def configure_logging(
    level: str, format: str = FORMAT, datefmt: str | None = None, secrets: Secrets | None = None
) -> None:
    """Send logs to stderr: ``hitcount.*`` from ``level`` up, :data:`QUIET_LIBRARIES` from ERROR up and
    everything else from WARNING up; with ``secrets`` (:attr:`hitcount.core.Runtime.secrets`) masked in
    every record of every logger."""
    logging.basicConfig(level=logging.WARNING, format=format, datefmt=datefmt)
    logging.getLogger("hitcount").setLevel(level)
    for library in QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(logging.ERROR)
    logging.setLogRecordFactory(_Records(secrets or Secrets()))


@dataclass
class _Lasting:
    """A condition from its first note on: when (monotonic and wall clock), when last logged, notes since."""

    since: float
    since_wall: float
    logged: float
    held: int = 0


class RecurringLog:
    """Conditions that recur for as long as they last (a backend down: every call fails), each logged
    when it starts, then at most once per ``interval`` saying how often it recurred meanwhile, and
    once when it ends.

    One per component that meets them; conditions are named by the caller (``"store"``), so
    that the different calls failing for one cause are one condition. A condition not met
    again for a whole interval after its last line is over, even if nobody said it ended.
    """

    def __init__(
        self, logger: logging.Logger, interval: float = RECURRING_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._lasting: dict[str, _Lasting] = {}
        self._lock = threading.Lock()

    def note(self, condition: str, message: str, level: int = logging.WARNING) -> None:
        """``condition`` holds (again), as ``message`` says: logged unless it was within ``interval``."""
        now = self._clock()
        with self._lock:
            lasting = self._lasting.get(condition)
            if lasting is None or (lasting.held == 0 and now - lasting.logged >= self._interval):
                self._lasting[condition] = _Lasting(now, time.time(), now)
                held = None
            elif now - lasting.logged < self._interval:
                lasting.held += 1
                return
            else:
                held, since = lasting.held, time.strftime("%H:%M:%SZ", time.gmtime(lasting.since_wall))
                lasting.logged, lasting.held = now, 0
        if held is None:
            self._logger.log(level, "%s", message, stacklevel=2)
        else:
            self._logger.log(
                level, "%s (since %s; %d more like it since the last line)", message, since, held, stacklevel=2
            )

    def ended(self, condition: str, message: str) -> None:
        """``condition`` no longer holds: ``message`` is logged with how long it lasted, if it was noted."""
        with self._lock:
            lasting = self._lasting.pop(condition, None)
        if lasting is not None:
            self._logger.warning("%s after %s", message, format_duration(self._clock() - lasting.since), stacklevel=2)
