"""The service side of the API: remote object handles, and running each allowlisted operation.

A handle is (kind, id, session): ids index a table of the service's Measurement, Configuration
and Stack objects; the session changes with every service run, so a handle from an earlier run
fails with StaleHandle instead of reaching some other object. Operations come only from
`api.KINDS`; quick ones run on the socket thread, the rest on a small pool, and a hooked
client's requests on the engine thread (see hooks.py).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..application import Imspector
from ..errors import Error
from ..measurement import Configuration, Measurement
from ..stack import Stack
from . import protocol as wire
from .api import KINDS
from .errors import ProtocolError, StaleHandle
from .hooks import Hooks
from .malformed import Malformed
from .worker import Worker

log = logging.getLogger(__name__)

_KIND_OF: dict[type, str] = {Measurement: "Measurement", Configuration: "Configuration", Stack: "Stack"}
MAX_WAIT = 5.0  # seconds one `wait` request may hold a pool thread
MAX_RELEASES = 4096  # handles one `release` request may give back


class HandleTable:
    """Service-side objects by id, for the handles the clients hold.

    Every time a handle goes out in a reply it is counted; a client gives the counts back (`release`)
    when its proxy is gone, and a handle whose count falls to zero is forgotten, so the objects of
    closed measurements can be freed. A later reply with the same object gives it a new id.
    """

    def __init__(self) -> None:
        self.session = uuid.uuid4().hex[:12]
        self._objects: dict[int, Any] = {}
        self._ids: dict[int, int] = {}  # id(object) -> handle id
        self._sent: dict[int, int] = {}  # handle id -> times sent and not yet released
        self._next = itertools.count(1)
        self._lock = threading.Lock()

    def handle_of(self, value: Any) -> tuple[str, int, str] | None:
        """The handle for a Measurement/Configuration/Stack about to be sent (made on first use, counted);
        None for anything else."""
        kind = _KIND_OF.get(type(value))
        if kind is None:
            return None
        with self._lock:
            number = self._ids.get(id(value))
            if number is None:
                number = self._ids[id(value)] = next(self._next)
                self._objects[number] = value
            self._sent[number] = self._sent.get(number, 0) + 1
        return kind, number, self.session

    def resolve(self, kind: str, number: int, session: str) -> Any:
        """The object behind a handle, or StaleHandle."""
        if session != self.session:
            raise StaleHandle(f"this {kind} handle is from an earlier run of the service (it restarted); "
                              "get the object again, e.g. with measurement(name)")
        with self._lock:
            value = self._objects.get(number)
        if value is None or _KIND_OF.get(type(value)) != kind:
            raise StaleHandle(f"the service has no {kind} number {number}")
        return value

    def give_back(self, counts: list[list[Any]]) -> int:
        """A client's proxies are gone: [[id, session, times received], ...]; returns how many handles
        this forgot. Ids of an earlier session or already forgotten are skipped."""
        if not isinstance(counts, list) or len(counts) > MAX_RELEASES or not all(_is_count(c) for c in counts):
            raise ProtocolError(f"release takes a list of at most {MAX_RELEASES} [id (int), session (str), "
                                "count (int > 0)]")
        forgotten = 0
        with self._lock:
            for number, session, count in counts:
                if session != self.session or number not in self._sent:
                    continue
                left = self._sent[number] - count
                if left > 0:
                    self._sent[number] = left
                else:
                    self._forget(number)
                    forgotten += 1
        return forgotten

    def release(self, *values: Any) -> None:
        """Forget the handles of these objects whatever their counts (their clients' proxies become stale)."""
        with self._lock:
            for value in values:
                number = self._ids.get(id(value))
                if number is not None:
                    self._forget(number)

    def _forget(self, number: int) -> None:
        value = self._objects.pop(number)
        del self._ids[id(value)]
        self._sent.pop(number, None)

    def __len__(self) -> int:
        return len(self._objects)


def _is_count(item: Any) -> bool:
    return (isinstance(item, list) and len(item) == 3 and type(item[0]) is int and isinstance(item[1], str)
            and type(item[2]) is int and item[2] > 0)


class Dispatcher:
    """Decodes requests, runs them where they belong, and sends the replies back through the worker."""

    def __init__(self, app: Imspector, service: str, pool_size: int = 4) -> None:
        self.app, self.service = app, service
        self.table = HandleTable()
        self.malformed = Malformed(log)
        self.pool = ThreadPoolExecutor(pool_size, thread_name_prefix="specpy-service")
        started = threading.Barrier(pool_size)  # each job holds its thread until all exist: the pool is full
        for _ in range(pool_size):  # from the start, so the service's thread count does not creep under load
            self.pool.submit(started.wait)
        self.started = time.time()
        self.served = 0
        self.worker: Worker | None = None
        self.hooks = Hooks(self._publish)
        app.observe_signals(self.hooks.observe)

    def attach(self, worker: Worker) -> None:
        """The worker whose socket carries replies and events."""
        self.worker = worker

    def close(self) -> None:
        """Stop observing the engine and finish the pool's work."""
        self.app.unobserve_signals(self.hooks.observe)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _publish(self, kind: str, event: dict[str, Any], with_last: bool = False) -> int:
        return self.worker.publish(kind, event, with_last=with_last) if self.worker is not None else 0

    # --- the socket thread --------------------------------------------------------------------

    def handle(self, client: bytes, rid: bytes, frames: list[Any]) -> None:
        """One request from the broker: decode, check, then run it inline, on the pool or at a hook."""
        request_id = int.from_bytes(rid, "big")
        try:
            message = wire.decode(frames[0], frames[1:], self.table.resolve)
            op, target, args, kwargs = _parts(message)
            obj = self.app if target is None else target
            kind = "Imspector" if target is None else _KIND_OF.get(type(target))
            operation = KINDS.get(kind or "", {}).get(op)
            if operation is None:
                self.malformed.count("unknown operation", f"{op!r} on {kind}")
                raise ProtocolError(f"a remote {kind} has no operation {op!r}")
        except Error as error:
            if isinstance(error, ProtocolError):
                self.malformed.count("request", str(error))
            self._reply(client, rid, wire.failure(request_id, error, with_traceback=False))
            return
        job = self._job(client, rid, request_id, obj, op, args, kwargs)
        if isinstance(message.get("hook"), str) and self.hooks.route(message["hook"], job):
            return
        if operation.quick:
            job()
        else:
            self.pool.submit(job)

    def _job(self, client: bytes, rid: bytes, request_id: int, obj: Any, op: str, args: list[Any],
             kwargs: dict[str, Any]) -> Callable[[], None]:
        def job() -> None:
            try:
                header = wire.result(request_id, self._call(obj, op, args, kwargs))
            except Exception as error:  # noqa: BLE001 - every failure becomes a typed error reply
                header = wire.failure(request_id, error)
            self._reply(client, rid, header)
        return job

    def _reply(self, client: bytes, rid: bytes, header: dict[str, Any]) -> None:
        self.served += 1
        sent: list[tuple[str, int, str]] = []

        def handle_of(value: Any) -> tuple[str, int, str] | None:
            handle = self.table.handle_of(value)
            if handle is not None:
                sent.append(handle)
            return handle

        try:
            frames = wire.encode(header, handle_of)
        except (TypeError, ProtocolError) as error:
            self.table.give_back([[number, session, 1] for _, number, session in sent])  # never sent after all
            frames = wire.encode(wire.failure(header.get("id"), error, with_traceback=False))
        assert self.worker is not None
        self.worker.send_reply(client, rid, frames)

    # --- running operations -------------------------------------------------------------------

    def _call(self, obj: Any, op: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if obj is self.app:
            special = self._service_operation(op)
            if special is not None:
                return special(*args, **kwargs)
        return getattr(obj, op)(*args, **kwargs)  # op is one of api.KINDS[kind]: never an arbitrary name

    def _service_operation(self, op: str) -> Callable[..., Any] | None:
        return {"wait": self._wait, "close": self._close, "status": self.status, "sync_events": self._sync_events,
                "hook_add": self.hooks.add, "hook_remove": self.hooks.remove, "hook_done": self.hooks.done,
                "release": self.table.give_back}.get(op)

    def _close(self, measurement: Measurement) -> None:
        """Imspector.close, then forget the handles of the stacks it released (so their data is freed)."""
        stacks = [measurement.stack(k) for k in range(measurement.number_of_stacks())]
        self.app.close(measurement)
        self.table.release(*stacks)

    def _wait(self, measurement: Measurement, timeout: float = 1.0) -> int | None:
        """Imspector.wait, bounded to MAX_WAIT s so a pool thread is never held for long."""
        if not isinstance(timeout, (int, float)):
            raise ProtocolError(f"a wait timeout is a number of seconds, not {timeout!r}")
        return self.app.wait(measurement, min(max(float(timeout), 0.0), MAX_WAIT))

    def _sync_events(self, token: str) -> int:
        """Publish a `sync` event carrying `token`: a new subscriber waits for it to know it is connected; it
        also carries each topic's last sequence number, so a subscriber learns there what it has missed."""
        if not isinstance(token, str) or len(token) > 64:
            raise ProtocolError("a sync token is a str of at most 64 characters")
        return self._publish("sync", {"token": token}, with_last=True)

    def status(self) -> dict[str, Any]:
        """What the service is doing: rig, measurements and their progress, uptime, counters."""
        rig = self.app.rig()
        measurements = [{"name": m.name(), "status": m.status(), "message": m.status_message(), "path": m.path()}
                        for m in (self.app.measurement(n) for n in self.app.measurement_names())]
        worker = self.worker
        return {
            "service": self.service, "version": self.app.version(), "pid": os.getpid(),
            "rig": getattr(getattr(rig, "config", None), "name", ""), "devices": self.app.device_drivers(),
            "simulated": getattr(rig, "simulator", None) is not None,
            "simulator_control": getattr(getattr(rig, "simulator", None), "control", None),
            "measurements": measurements, "uptime": time.time() - self.started, "served": self.served,
            "objects": len(self.table), "threads": sorted(t.name for t in threading.enumerate()),
            "hook_timeouts": self.hooks.timeouts,
            "malformed": self.malformed.total() + (worker.malformed.total() if worker else 0),
            "registrations": worker.registrations if worker else 0,
        }


def _parts(message: dict[str, Any]) -> tuple[str, Any, list[Any], dict[str, Any]]:
    """op, target, args and kwargs of a request header, checked."""
    op, target = message.get("op"), message.get("target")
    args, kwargs = message.get("args", []), message.get("kwargs", {})
    if not isinstance(op, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ProtocolError("a request has op (str), target, args (list) and kwargs (map)")
    if target is not None and type(target) not in _KIND_OF:
        raise ProtocolError(f"a request's target is a handle or nil, not {type(target).__name__}")
    if any(k.startswith("_") for k in kwargs):
        raise ProtocolError("keyword argument names never start with '_'")
    return op, target, args, kwargs
