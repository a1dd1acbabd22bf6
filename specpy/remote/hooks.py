"""Publishing begin/end signals and running clients' blocking step hooks on the engine thread.

The engine calls `Hooks.observe` on its own thread for every signal. It publishes the signal as
an event naming the tokens of the clients hooked to it, then waits (each token bounded by its
own timeout) until each client says `hook_done`. Requests a hooked client makes from inside its
hook carry the token and run here, on the engine thread, between steps, as a local step
callback's would. After a timeout the measurement goes on and the client gets a `hook_timeout`
event (and an error for its late `hook_done`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from .errors import HookTimeout

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], int]
MAX_TIMEOUT = 600.0


@dataclass
class _Emission:
    """One signal whose hooks the engine is waiting for."""

    sequence: int
    deadlines: dict[str, float]  # token -> monotonic deadline
    jobs: queue.SimpleQueue[Callable[[], None] | None] = field(default_factory=queue.SimpleQueue)


class Hooks:
    """The clients' blocking hooks by (kind, flag), and the emission the engine waits on now."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._hooks: dict[tuple[str, int], dict[str, float]] = {}  # -> token: timeout
        self._lock = threading.Lock()
        self._emission: _Emission | None = None
        self.timeouts = 0

    def add(self, token: str, kind: str, flag: int, timeout: float) -> None:
        """Hook a client (by token) to a signal: the engine waits up to `timeout` s for it."""
        if kind not in ("begin", "end") or flag not in (0, 1):
            raise ValidationError(f"a hook is on 'begin' or 'end' with flag 0 or 1, not {kind!r}, {flag!r}")
        if not isinstance(token, str) or not 0 < len(token) <= 64:
            raise ValidationError("a hook token is a str of 1-64 characters")
        if not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT:
            raise ValidationError(f"a hook timeout is in (0, {MAX_TIMEOUT:g}] s, not {timeout!r}")
        with self._lock:
            self._hooks.setdefault((kind, flag), {})[token] = float(timeout)

    def remove(self, token: str, kind: str | None = None, flag: int | None = None) -> bool:
        """Unhook a client from one signal (or, without kind/flag, from all)."""
        removed = False
        with self._lock:
            for (k, f), tokens in self._hooks.items():
                if (kind is None or k == kind) and (flag is None or f == flag) and token in tokens:
                    del tokens[token]
                    removed = True
            emission = self._emission
        if emission is not None and token in emission.deadlines:
            self.done(token, emission.sequence)
        return removed

    # --- the engine thread --------------------------------------------------------------------

    def observe(self, kind: str, flag: int, context: dict[str, Any]) -> None:
        """The engine's observer: publish the signal, then wait for the hooked clients."""
        with self._lock:
            hooked = dict(self._hooks.get((kind, flag), {}))
        now = time.monotonic()
        emission = _Emission(0, {token: now + timeout for token, timeout in hooked.items()})
        if hooked:
            with self._lock:
                self._emission = emission
        try:
            emission.sequence = self._publish("signal", {"signal": kind, "flag": flag, "hooks": sorted(hooked),
                                                         **context})
            if hooked:
                self._wait(emission, context)
        finally:
            with self._lock:
                self._emission = None
            while not emission.jobs.empty():  # a request that came too late still gets its (error) reply
                job = emission.jobs.get_nowait()
                if job is not None:
                    job()

    def _wait(self, emission: _Emission, context: dict[str, Any]) -> None:
        while True:
            with self._lock:
                if not emission.deadlines:
                    return
                deadline = min(emission.deadlines.values())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._expire(emission, context)
                continue
            try:
                job = emission.jobs.get(timeout=remaining)
            except queue.Empty:
                continue
            if job is not None:
                job()

    def _expire(self, emission: _Emission, context: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._lock:
            late = [token for token, deadline in emission.deadlines.items() if deadline <= now]
            for token in late:
                del emission.deadlines[token]
        for token in late:
            self.timeouts += 1
            log.warning("a client's step hook did not finish in time; %s goes on", context.get("measurement", "the run"))
            self._publish("hook_timeout", {"token": token, "event": emission.sequence, **context})

    # --- the socket thread --------------------------------------------------------------------

    def route(self, token: Any, job: Callable[[], None]) -> bool:
        """Queue a hooked client's request for the engine thread; False if that hook is not waiting."""
        with self._lock:
            emission = self._emission
            if emission is None or token not in emission.deadlines:
                return False
            emission.jobs.put(job)
            return True

    def done(self, token: str, sequence: int) -> None:
        """A client finished its hook for the signal event `sequence`; raises if the engine went on."""
        with self._lock:
            emission = self._emission
            waiting = (emission is not None and emission.sequence in (sequence, 0)  # 0: being published now
                       and token in emission.deadlines)
            if waiting:
                del emission.deadlines[token]
        if not waiting:
            raise HookTimeout(f"the hook for signal event {sequence} finished too late: the measurement went on "
                              "without it")
        emission.jobs.put(None)  # wake the engine thread
