"""Simulated time: runs faster than real time by a time scale, can be paced, frozen and stepped."""

from __future__ import annotations

import threading
import time


class Clock:
    """Simulated seconds since start; real time multiplied by `time_scale` unless frozen."""

    def __init__(self, time_scale: float = 100.0) -> None:
        """Start at simulated time 0; `time_scale` 1.0 paces the simulation in real time."""
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self._cond = threading.Condition()
        self._scale = float(time_scale)
        self._base_sim = 0.0
        self._base_real = time.perf_counter()
        self._frozen = False

    def _now_locked(self) -> float:
        if self._frozen:
            return self._base_sim
        return self._base_sim + (time.perf_counter() - self._base_real) * self._scale

    def now(self) -> float:
        """The current simulated time in seconds."""
        with self._cond:
            return self._now_locked()

    @property
    def time_scale(self) -> float:
        """Simulated seconds per real second."""
        return self._scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"time_scale must be > 0, got {value!r}")
        with self._cond:
            self._rebase()
            self._scale = float(value)
            self._cond.notify_all()

    @property
    def frozen(self) -> bool:
        """True while simulated time stands still (tests step it with advance())."""
        return self._frozen

    def _rebase(self) -> None:
        self._base_sim = self._now_locked()
        self._base_real = time.perf_counter()

    def freeze(self) -> None:
        """Stop simulated time so that a test can step it deterministically."""
        with self._cond:
            self._rebase()
            self._frozen = True

    def resume(self) -> None:
        """Let simulated time run again at the time scale."""
        with self._cond:
            self._rebase()
            self._frozen = False
            self._cond.notify_all()

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by `seconds` (frozen or not) and wake every waiter."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time {seconds!r}")
        with self._cond:
            self._rebase()
            self._base_sim += seconds
            self._cond.notify_all()

    def wait_until(self, t_sim: float, timeout: float | None = None) -> bool:
        """Block until simulated time reaches `t_sim`; False if `timeout` real seconds pass first."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        with self._cond:
            while True:
                remaining = t_sim - self._now_locked()
                if remaining <= 0:
                    return True
                step = None if self._frozen else remaining / self._scale
                if deadline is not None:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        return False
                    step = left if step is None else min(step, left)
                self._cond.wait(step)

    def sleep(self, seconds: float, timeout: float | None = None) -> bool:
        """Block for `seconds` of simulated time; False if `timeout` real seconds pass first."""
        return self.wait_until(self.now() + seconds, timeout)
