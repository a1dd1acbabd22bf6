"""The client's event thread: receives the service's signals and runs the client's callables.

Each event carries a per-topic sequence number from its publisher; a gap means this subscriber
fell behind (or the broker dropped events at its high-water mark), and `missed` counts how many
it lost. A sync event also carries each topic's last number, so after `sync()` the count is exact
even for a topic that has published nothing since. The thread also watches the broker's heartbeats
and subscribes again when the broker changes or falls silent (`resubscriptions` counts those).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgpack
import zmq

from . import protocol as wire
from .broker import BROKER_TOPIC
from .connection import Connection
from .errors import HookTimeout, RemoteError

log = logging.getLogger(__name__)
SYNC = "sync"  # the kind of the events that answer `sync_events`


class EventListener:
    """Subscribes to `<service>/` events and dispatches begin/end signals to local callables."""

    def __init__(self, connection: Connection, liveness: int = 3) -> None:
        self.connection, self.liveness = connection, liveness
        self.token = uuid.uuid4().hex
        self.missed = 0
        self.hook_timeouts = 0
        self.late_hooks = 0
        self._callbacks: dict[tuple[str, int], list[tuple[Callable[[], Any], bool]]] = {}
        self._lock = threading.Lock()
        self._last: dict[tuple[bytes, str], int] = {}
        self._syncs: dict[str, threading.Event] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="specpy-events", daemon=True)
        self._sub: zmq.Socket | None = None
        self._broker: str | None = None
        self._broker_changed = False
        self.resubscriptions = 0
        self._heard = time.monotonic()
        self._heartbeat = 1.0
        self._thread.start()
        self.sync()

    # --- callbacks ----------------------------------------------------------------------------

    def connect(self, kind: str, flag: int, callback: Callable[[], Any], blocking: bool, timeout: float) -> None:
        """Call `callback()` on this thread for each (kind, flag) signal; blocking: the engine waits for it."""
        with self._lock:
            callbacks = self._callbacks.setdefault((kind, flag), [])
            hooked = any(b for _, b in callbacks)
            callbacks.append((callback, blocking))
        if blocking and not hooked:
            self.connection.call("hook_add", None, (self.token, kind, flag, float(timeout)))

    def disconnect(self, kind: str, flag: int, callback: Callable[[], Any]) -> bool:
        """Undo `connect` (the most recent connection of `callback`)."""
        with self._lock:
            callbacks = self._callbacks.get((kind, flag), [])
            for index in range(len(callbacks) - 1, -1, -1):
                if callbacks[index][0] == callback:
                    blocking = callbacks.pop(index)[1]
                    break
            else:
                return False
            still_hooked = any(b for _, b in callbacks)
        if blocking and not still_hooked:
            self.connection.call("hook_remove", None, (self.token, kind, flag))
        return True

    def sync(self, timeout: float = 10.0) -> None:
        """Return once every event the service published before this call has been handled here."""
        token = uuid.uuid4().hex
        arrived = self._syncs[token] = threading.Event()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:  # sent again until one gets through (a new SUB joins late)
                self.connection.call("sync_events", None, (token,))
                if arrived.wait(min(0.25, max(deadline - time.monotonic(), 0))):
                    return
            log.warning("events from %r did not arrive within %g s", self.connection.service, timeout)
        finally:
            self._syncs.pop(token, None)

    def close(self) -> None:
        """Unhook from the service and stop the thread."""
        with self._lock:
            hooked = [key for key, callbacks in self._callbacks.items() if any(b for _, b in callbacks)]
            self._callbacks.clear()
        for kind, flag in hooked:
            try:
                self.connection.call("hook_remove", None, (self.token, kind, flag), timeout=2.0)
            except RemoteError:
                pass
        self._stop.set()
        self._thread.join(10)

    # --- the thread ---------------------------------------------------------------------------

    def _subscribe(self) -> None:
        if self._sub is not None:
            self.connection.forget(self._sub)
            self._sub = None
            self.resubscriptions += 1
        endpoints = self.connection.call("endpoints", service=wire.BROKER_SERVICE, timeout=2.0)
        self._broker, self._heartbeat = endpoints["broker"], float(endpoints["heartbeat"])
        self._sub = self.connection.socket(zmq.SUB)
        self._sub.connect(self.connection.endpoint(endpoints["events_out"]))
        self._sub.subscribe(f"{self.connection.service}/".encode())
        self._sub.subscribe(BROKER_TOPIC)
        self._heard, self._broker_changed = time.monotonic(), False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._sub is not None and self._sub.poll(100, zmq.POLLIN):
                    self._receive(self._sub.recv_multipart())
                    # anything received shows the broker's pipe works; and the time a callback took is
                    # this thread's, not the broker's silence (its heartbeats may have been dropped meanwhile)
                    self._heard = time.monotonic()
                    continue
                # nothing queued: a broker silent for `liveness` heartbeats has gone (or restarted)
                silence = time.monotonic() - self._heard
                if self._sub is None or self._broker_changed or silence > self._heartbeat * self.liveness:
                    if self._sub is not None:
                        log.warning("events: %s; subscribing again", "a new broker" if self._broker_changed
                                    else f"the broker was silent for {silence:.3g} s")
                    try:
                        self._subscribe()
                    except RemoteError as error:
                        log.warning("events: cannot reach the broker (%s); retrying", error)
                        self._stop.wait(0.5)
        finally:
            if self._sub is not None:
                self.connection.forget(self._sub)

    def _receive(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            return
        topic, payload = frames
        try:
            event = msgpack.unpackb(payload, raw=False, strict_map_key=True, max_str_len=len(payload),
                                   max_bin_len=len(payload), max_array_len=len(payload), max_map_len=len(payload),
                                   max_ext_len=0)
        except Exception:  # noqa: BLE001 - a garbled event is skipped
            return
        if not isinstance(event, dict) or event.get("v") != wire.VERSION:
            return
        if topic == BROKER_TOPIC:
            self._broker_changed |= event.get("broker") != self._broker
            return
        kind = topic.decode(errors="replace").rpartition("/")[2]
        self._count(topic, kind, event)
        if kind == "signal":
            self._signal(event)
        elif kind == SYNC and event.get("token") in self._syncs:
            self._syncs[event["token"]].set()
        elif kind == "hook_timeout" and event.get("token") == self.token:
            self.hook_timeouts += 1
            log.warning("a blocking step hook took longer than its timeout: %s went on without it",
                        event.get("measurement", "the measurement"))

    def _count(self, topic: bytes, kind: str, event: dict[str, Any]) -> None:
        """Count the events lost before this one on its topic and, from a sync's `last`, on the publisher's others.

        Sync events themselves are not counted: each answers one client's call, which sends it again if lost."""
        publisher, sequence = str(event.get("pub")), event.get("seq")
        if isinstance(sequence, int) and kind != SYNC:
            self._published_up_to((topic, publisher), sequence - 1)
            self._last[(topic, publisher)] = sequence
        last = event.get("last")
        if isinstance(last, dict):
            prefix = topic.rpartition(b"/")[0]
            for other, number in last.items():
                if isinstance(other, str) and other != SYNC and isinstance(number, int):
                    self._published_up_to((prefix + b"/" + other.encode(), publisher), number)

    def _published_up_to(self, key: tuple[bytes, str], number: int) -> None:
        """Events 1..number were published on this (topic, publisher): count those after the last one seen here."""
        last = self._last.get(key)
        if last is not None and number > last:
            self.missed += number - last
            log.warning("missed %d event(s) on %s", number - last, key[0].decode(errors="replace"))
        if last is None or number > last:
            self._last[key] = number  # a topic first heard of in a sync: what came before was not ours to get

    def _signal(self, event: dict[str, Any]) -> None:
        key = (event.get("signal"), event.get("flag"))
        with self._lock:
            callbacks = [c for c, _ in self._callbacks.get(key, [])]  # type: ignore[call-overload]
        hooked = self.token in (event.get("hooks") or [])
        if hooked:
            with self.connection.hook_scope(self.token):
                self._call_all(callbacks, key)
            try:
                self.connection.call("hook_done", None, (self.token, event.get("seq")))
            except HookTimeout:
                self.late_hooks += 1
                log.warning("a blocking step hook finished after its timeout; the measurement had gone on")
            except RemoteError as error:
                log.warning("could not report a finished step hook: %s", error)
        else:
            self._call_all(callbacks, key)

    @staticmethod
    def _call_all(callbacks: list[Callable[[], Any]], key: tuple[Any, Any]) -> None:
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - as locally: logged with its traceback, never fatal
                log.exception("%s callback %r (flag %s) failed", key[0], callback, key[1])
