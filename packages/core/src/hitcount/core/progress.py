"""A one-line status of long work, rewritten in place on a terminal and silent anywhere else.

Core depends on nothing beyond pluggy and protobuf, and the line is small enough to write by
hand: ``\\r``, the text, padding over what the previous text left. It goes to stderr, so that
stdout stays the command's result, and only when stderr is a terminal, so that logs and pipes
never see a ``\\r``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

# How often a ticking line (work with no steps to count) shows its elapsed time.
TICK = 0.5


class Progress:
    """The status line of one command: ``show`` replaces it; leaving ``with`` removes it, error or not."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self.live = self._stream.isatty()
        self._width = 0
        self._lock = threading.Lock()

    def show(self, text: str) -> None:
        if not self.live:
            return
        with self._lock:
            self._stream.write("\r" + text.ljust(self._width))
            self._stream.flush()
            self._width = len(text)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.live and self._width:
            with self._lock:
                self._stream.write("\r" + " " * self._width + "\r")
                self._stream.flush()
                self._width = 0

    @contextmanager
    def ticking(self, text: Callable[[float], str]) -> Iterator[None]:
        """Show ``text(elapsed seconds)`` every TICK while the block runs: for one call that reports nothing.

        Use within ``with`` of the same Progress, which removes the line.
        """
        if not self.live:
            yield
            return
        started = time.monotonic()
        done = threading.Event()

        def tick() -> None:
            while not done.wait(TICK):
                self.show(text(time.monotonic() - started))

        self.show(text(0.0))
        ticker = threading.Thread(target=tick, name="progress", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
