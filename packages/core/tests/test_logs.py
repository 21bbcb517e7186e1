"""Logging: no configured secret in any line of any logger, tracebacks included."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from hitcount.core.logs import configure_logging
from hitcount.core.masking import Secrets

PASSWORD = "Zq9,Xk7 Lm3"
URL = f"redis://:{PASSWORD}@127.0.0.1:6379/0"


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What a library's logger (one of its own, with a handler of its own, as gunicorn's) writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    logger.propagate = False
    configure_logging("INFO", secrets=Secrets.of_urls([URL]))
    yield stream
    configure_logging("INFO")
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
