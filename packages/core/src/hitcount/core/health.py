"""The answer of a backend's health check, as ``/readyz`` and ``hitcount`` report it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Health:
    """Whether a backend can serve now, and a short human-readable reason either way."""

    ok: bool
    detail: str = ""
