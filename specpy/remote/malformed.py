"""Counting malformed messages, with a rate-limited log line per kind (never one per message)."""

from __future__ import annotations

import logging
import threading
import time


class Malformed:
    """Counts per kind; logs a kind at most once per `interval` seconds, with the count so far."""

    def __init__(self, log: logging.Logger, interval: float = 10.0) -> None:
        self._log, self._interval = log, interval
        self._counts: dict[str, int] = {}
        self._logged: dict[str, float] = {}
        self._lock = threading.Lock()

    def count(self, kind: str, detail: str = "") -> None:
        """Count one malformed message of `kind` (logged if this kind was not logged lately)."""
        now = time.monotonic()
        with self._lock:
            total = self._counts[kind] = self._counts.get(kind, 0) + 1
            due = now - self._logged.get(kind, -self._interval) >= self._interval
            if due:
                self._logged[kind] = now
        if due:
            self._log.warning("malformed message (%s, %d so far): %s", kind, total, detail[:200])

    def counts(self) -> dict[str, int]:
        """Malformed messages seen, by kind."""
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        """Malformed messages seen, all kinds."""
        with self._lock:
            return sum(self._counts.values())
