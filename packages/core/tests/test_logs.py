"""Logging: no configured secret in any line of any logger, tracebacks included."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from hitcount.core.errors import StoreUnavailable
from hitcount.core.logs import QUIET_LIBRARIES, RecurringLog, configure_logging
from hitcount.core.masking import Secrets

PASSWORD = "Zq9,Xk7 Lm3"
URL = f"redis://:{PASSWORD}@127.0.0.1:6379/0"


@pytest.fixture
def written(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """What a library's logger (one of its own, with a handler of its own, as gunicorn's) writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(getattr(request, "param", "some.library"))
    logger.addHandler(handler)
    logger.propagate = False
    plain = logging.getLogRecordFactory()
    levels = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    configure_logging("INFO", secrets=Secrets.of_urls([URL]))
    yield stream
    logging.setLogRecordFactory(plain)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logger.removeHandler(handler)
    logger.propagate = True


def test_a_secret_in_a_message_or_its_arguments_is_masked_in_every_logger(written: io.StringIO) -> None:
    logging.getLogger("some.library").warning("cannot connect to %s", URL)
    logging.getLogger("some.library").warning(f"cannot parse '{URL}'")
    assert PASSWORD not in written.getvalue()
    assert written.getvalue().count("redis://:****@127.0.0.1:6379/0") == 2


def test_a_secret_in_a_traceback_is_masked(written: io.StringIO) -> None:
    try:
        raise ConnectionError(f"Error connecting to {URL}")
    except ConnectionError:
        logging.getLogger("some.library").exception("lost the connection")
    assert "Traceback" in written.getvalue()
    assert PASSWORD not in written.getvalue()


def test_an_outage_is_logged_without_its_traceback(written: io.StringIO) -> None:
    try:
        raise StoreUnavailable("elasticsearch at http://es:9200: counting failed: connection refused")
    except StoreUnavailable:
        logging.getLogger("some.library").exception("store write failed")
    assert "Traceback" not in written.getvalue()
    assert "store write failed: StoreUnavailable('elasticsearch at http://es:9200" in written.getvalue()


@pytest.mark.parametrize("written", ["elastic_transport.transport"], indirect=True)
def test_the_client_libraries_log_errors_only_and_without_tracebacks(written: io.StringIO) -> None:
    library = logging.getLogger("elastic_transport.transport")
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError:
        library.warning("Retrying request after failure (attempt 0 of 3)", exc_info=True)
        library.error("request failed", exc_info=True)
    assert written.getvalue() == "request failed: ConnectionRefusedError(111, 'Connection refused')\n"


def test_a_recurring_condition_is_logged_once_per_interval_with_how_many_were_not_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    log = RecurringLog(logging.getLogger("hitcount.test"), 60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for second in range(0, 150, 5):
            now[0] = float(second)
            log.note("store", f"store down: refused at {second}")
        log.note("queue", "queue down")
        log.ended("store", "store back")
        log.ended("store", "store back")  # once
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "store down: refused at 0"
    assert lines[1].startswith("store down: refused at 60 (since ")
    assert lines[1].endswith("; 11 more like it since the last line)")
    assert lines[2].startswith("store down: refused at 120 (since ")
    assert lines[1].split("(since ")[1][:9] == lines[2].split("(since ")[1][:9]  # the same start
    assert lines[3:] == ["queue down", "store back after 2 min 25 s"]


def test_a_condition_not_met_for_a_whole_interval_starts_anew() -> None:
    now = [0.0]
    logger = logging.getLogger("hitcount.test.anew")
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        log = RecurringLog(logger, 60.0, clock=lambda: now[0])
        log.note("full", "queue full")
        now[0] = 600.0
        log.note("full", "queue full")
    finally:
        logger.removeHandler(handler)
    assert records == ["queue full", "queue full"]


def test_a_message_whose_arguments_do_not_fit_does_not_raise_where_it_is_logged(written: io.StringIO) -> None:
    logging.raiseExceptions = False  # the handler's report of the bad record would go to stderr
    try:
        unfit = "two %s %s"
        logging.getLogger("some.library").warning(unfit, "one")
    finally:
        logging.raiseExceptions = True
    assert written.getvalue() == ""
