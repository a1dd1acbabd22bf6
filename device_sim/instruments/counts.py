"""The counter's counts while they are being developed: one Chunk per trigger, filled row band by row band
by one Worker thread, readable (and sent) as soon as each band is final."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterator

import numpy as np


class Chunk:
    """The counts of one trigger, `size` values of `data` (uint64), of which the first `ready` are computed:
    a frame is developed in the counter's worker while FETCh? may already send its first rows."""

    def __init__(self, data: np.ndarray, size: int, ready: int = 0) -> None:
        """`data` holds at least `size` values; `ready` of them are final now."""
        self.data, self.size, self.ready = data, size, ready
        self.error: BaseException | None = None
        self._changed = threading.Condition()

    def advance(self, ready: int) -> None:
        """The first `ready` values are final."""
        with self._changed:
            self.ready = min(ready, self.size)
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        """Computing the rest failed: readers get the error."""
        with self._changed:
            self.error = error
            self._changed.notify_all()

    def wait(self, count: int) -> int:
        """Block until at least `count` values are final (or all are); how many are."""
        with self._changed:
            while self.ready < min(count, self.size) and self.error is None:
                self._changed.wait()
            if self.error is not None:
                raise RuntimeError(f"computing the counts failed: {self.error!r}") from self.error
            return self.ready

    def pieces(self) -> Iterator[np.ndarray]:
        """The values in order, in the pieces in which they become final."""
        done = 0
        while done < self.size:
            ready = self.wait(done + 1)
            yield self.data[done:ready]
            done = ready


class Worker:
    """One thread that runs jobs in order (so the World's random draws keep the order of the triggers).

    The thread starts with the first job; after stop() jobs run at once in the submitting thread.
    """

    def __init__(self, name: str) -> None:
        """Nothing runs until the first job."""
        self.name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._stopped = False

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job()` after the jobs before it (starting the thread if needed)."""
        with self._lock:
            inline = self._stopped
            if not inline:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
                self._pending += 1
                self._jobs.put(job)
        if inline:
            self._call(job)

    def settle(self) -> None:
        """Block until every job submitted so far has run."""
        with self._idle:
            while self._pending:
                self._idle.wait()

    def stop(self) -> None:
        """Run what is queued, then end the thread and join it."""
        with self._lock:
            self._stopped = True
            thread, self._thread = self._thread, None
            if thread is not None:
                self._jobs.put(None)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._call(job)
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _call(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as error:  # a simulator bug: report it, keep serving the next jobs
            print(f"device_sim: {self.name}: {error!r}", file=sys.stderr)
