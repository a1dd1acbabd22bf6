"""Progress on a terminal: the current stage with its frames acquired and fitted, rewritten in place with \\r.

Quiet when the stream is not a terminal (a log file, a pipe, a test), where only the summary counts.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

ACQUIRED, FITTED = "acquired", "fitted"


class Progress:
    """One status line: `stage(...)` starts a stage, `advance(...)` counts its frames, `finish()` ends the line."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None):
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._lock = threading.Lock()
        self._label, self._total, self._done = "", 0, {ACQUIRED: 0, FITTED: 0}
        self._started = time.monotonic()
        self._width = 0

    @property
    def enabled(self) -> bool:
        """Whether anything is shown."""
        return self._enabled

    def stage(self, label: str, frames: int = 0) -> None:
        """Start a stage of `frames` frames to acquire and fit (0: a stage without frames) and show it."""
        with self._lock:
            self._label, self._total, self._done = label, frames, {ACQUIRED: 0, FITTED: 0}
            self._show()

    def advance(self, counter: str = ACQUIRED, count: int = 1) -> None:
        """Count frames acquired or fitted (callable with no argument as a step callback, from any thread)."""
        with self._lock:
            self._done[counter] = min(self._done[counter] + count, self._total)
            self._show()

    def finish(self) -> None:
        """Clear the status line, so that what is printed next starts on a clean line."""
        with self._lock:
            if self._enabled and self._width:
                self._stream.write("\r" + " " * self._width + "\r")
                self._stream.flush()
            self._width = 0

    def line(self) -> str:
        """The status line as it is shown."""
        text = f"[{time.monotonic() - self._started:5.1f} s] {self._label}"
        if self._total:
            text += f": {self._done[ACQUIRED]}/{self._total} frames acquired, {self._done[FITTED]}/{self._total} fitted"
        return text

    def _show(self) -> None:
        if not self._enabled:
            return
        text = self.line()
        self._stream.write("\r" + text.ljust(self._width))
        self._stream.flush()
        self._width = max(self._width, len(text))
