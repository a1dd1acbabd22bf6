"""Polling an instrument until it reaches a state, shared by every driver that waits (stage, scanner, wheel)."""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import WaitTimeout


def poll_until(device: str, what: str, done: Callable[[], tuple[bool, str]], timeout: float,
               interval: float = 0.005) -> None:
    """Call `done()` -> (reached?, what was seen) until it is reached; WaitTimeout after `timeout` seconds.

    The instrument's own errors (DeviceError, TransportError) pass through unchanged.
    """
    deadline = time.monotonic() + timeout
    while True:
        reached, seen = done()
        if reached:
            return
        if time.monotonic() >= deadline:
            raise WaitTimeout(device, what, timeout, seen)
        time.sleep(interval)
