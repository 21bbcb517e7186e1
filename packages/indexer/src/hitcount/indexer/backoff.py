"""Capped exponential backoff with jitter, for retrying a store or queue that is down."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays that double from ``base`` up to ``cap``, each drawn from its upper half.

    The jitter keeps many indexers that failed together from retrying together; the
    lower half is never drawn so that a failing backend is never hammered without pause.
    """

    def __init__(self, base: float, cap: float, uniform: Callable[[float, float], float] = random.uniform) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={base}s, cap={cap}s")
        self.base = base
        self.cap = cap
        self._uniform = uniform
        self.failures = 0

    def next_delay(self) -> float:
        """The pause before the next attempt, counting one more failure."""
        ceiling = min(self.cap, self.base * 2 ** min(self.failures, 64))
        self.failures += 1
        return self._uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Forget the failures: the backend answered."""
        self.failures = 0
