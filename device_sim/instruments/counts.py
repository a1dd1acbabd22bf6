"""The counter's counts while they are being developed: one Chunk per trigger, filled row band by row band
(by one Worker thread, then by the thread that sends them), readable (and sent) as soon as each band is final."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterator

import numpy as np


class Chunk:
    """The counts of one trigger, `size` values of `data` (uint64), of which the first `ready` are computed:
    a frame is developed band by band while FETCh? may already send its first rows.

    `bands` computes the rest: each next() makes more values final and says how many are. The counter's worker
    starts on it (develop()); a reader that has sent every value ready computes the next bands itself, in its own
    thread, rather than waking for each band the worker hands over (with GIL transfers, ~33 thread switches per
    512 x 512 frame; ~13 this way). One band is computed at a time, in order, by whoever's turn it is.
    """

    def __init__(self, data: np.ndarray, size: int, ready: int = 0, bands: Iterator[int] | None = None) -> None:
        """`data` holds at least `size` values; `ready` of them are final now, `bands` computes the others."""
        self.data, self.size, self.ready = data, size, ready
        self.error: BaseException | None = None
        lock = threading.Lock()
        self._changed = threading.Condition(lock)  # for readers: more values final, or an error
        self._unclaimed = threading.Condition(lock)  # for the worker: no reader computes now, or all is over
        self._bands = bands
        self._turn = threading.Lock()  # held while a band is computed
        self._started = False  # the worker has come to this chunk: the draws of earlier chunks are done
        self._claimed = 0  # readers computing the rest themselves (the worker waits meanwhile)

    def advance(self, ready: int) -> None:
        """The first `ready` values are final."""
        with self._changed:
            self.ready = min(ready, self.size)
            self._changed.notify_all()
            if self._over():
                self._unclaimed.notify_all()

    def fail(self, error: BaseException) -> None:
        """Computing the rest failed: readers get the error."""
        with self._changed:
            self.error = error
            self._changed.notify_all()
            self._unclaimed.notify_all()

    def wait(self, count: int) -> int:
        """Block until at least `count` values are final (or all are); how many are."""
        with self._changed:
            while self.ready < min(count, self.size) and self.error is None:
                self._changed.wait()
            if self.error is not None:
                raise RuntimeError(f"computing the counts failed: {self.error!r}") from self.error
            return self.ready

    def develop(self) -> None:
        """The worker's job: compute band after band until every value is final, pausing while a reader computes
        them (the job ends only then, so the next chunk's random draws still follow this one's)."""
        with self._changed:
            self._started = True
        while True:
            with self._unclaimed:
                while self._claimed and not self._over():
                    self._unclaimed.wait()
                if self._over():
                    break
            self._compute()
        if self.error is not None:
            raise RuntimeError(f"computing the counts failed: {self.error!r}") from self.error

    def pieces(self) -> Iterator[np.ndarray]:
        """The values in order, in the pieces in which they become final; once the worker has started on this
        chunk, values not yet final are computed here."""
        done, claimed = 0, False
        try:
            while done < self.size:
                if self.ready <= done and self._started and self._bands is not None:
                    if not claimed:
                        with self._changed:
                            self._claimed += 1
                        claimed = True
                    self._compute()
                ready = self.wait(done + 1)
                yield self.data[done:ready]
                done = ready
        finally:
            if claimed:  # done, failed or abandoned: the worker goes on if anything is left
                with self._unclaimed:
                    self._claimed -= 1
                    self._unclaimed.notify_all()

    def _over(self) -> bool:
        return self.ready >= self.size or self.error is not None

    def _compute(self) -> None:
        """Compute the next band, if any is left; a failure is recorded for the readers (see fail)."""
        assert self._bands is not None
        with self._turn:
            if self._over():
                return
            try:
                ready = next(self._bands)
            except Exception as error:  # a simulator bug (or bands that end early): FETCh? must fail, not wait
                self.fail(error)
                return
            self.advance(ready)


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
