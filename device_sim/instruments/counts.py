"""The counter's counts of one trigger, computed row band by row band when they are needed: by the thread that
sends them (FETCh? streams each band as soon as it is final) or, for a frame nobody fetched, by the next draw."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import numpy as np


class Chunk:
    """The counts of one trigger, `size` values of `data`, of which the first `ready` are final.

    `bands` computes the rest: each next() makes more values final and says how many are. The bands are computed
    lazily and one at a time, in order, by whichever thread needs them: the FETCh? thread while it streams them
    (no hand-over to another thread, so nothing waits on a wake-up between bands), or `complete()` before a later
    trigger draws its own noise (the World's random draws keep the order of the triggers).
    """

    def __init__(self, data: np.ndarray, size: int, ready: int = 0, bands: Iterator[int] | None = None) -> None:
        """`data` holds at least `size` values; `ready` of them are final now, `bands` computes the others."""
        self.data, self.size, self.ready = data, size, ready
        self.error: BaseException | None = None
        self._bands = bands
        self._turn = threading.Lock()  # held while a band is computed

    @property
    def final(self) -> bool:
        """Every value is final (or computing them failed)."""
        return self.ready >= self.size or self.error is not None

    def complete(self) -> None:
        """Compute every band not yet computed; a failure is kept for the readers and reported on stderr."""
        while not self.final:
            self.advance()
        if self.error is not None:
            print(f"device_sim: computing the counts failed: {self.error!r}", file=sys.stderr)

    def pieces(self) -> Iterator[np.ndarray]:
        """The values in order, each band as soon as it is final (computed here if nobody has yet)."""
        done = 0
        while done < self.size:
            if self.ready <= done:
                self.advance()
            if self.error is not None:
                raise RuntimeError(f"computing the counts failed: {self.error!r}") from self.error
            ready = self.ready
            yield self.data[done:ready]
            done = ready

    def advance(self) -> None:
        """Compute the next band, if any is left; a failure (or bands that end early) is recorded, not raised."""
        with self._turn:
            if self.final:
                return
            if self._bands is None:
                self.error = RuntimeError(f"only {self.ready} of {self.size} values and nothing computes the rest")
                return
            try:
                self.ready = min(next(self._bands), self.size)
            except StopIteration:
                self.error = RuntimeError(f"the bands ended after {self.ready} of {self.size} values")
            except Exception as error:  # a simulator bug: FETCh? must fail, not hang
                self.error = error
