"""The remote application: `get_application(host)` returns a proxy with Imspector's whole API.

Measurements, configurations and stacks are handles to objects living in the service; the same
remote object is always the same proxy (`is` works as locally), and when a proxy is gone the
service is told with the next request, so it can free what no client holds. `stack.data()` arrives as a
read-only numpy array over the received frame, without a copy. Begin/end callables run on the
client's event thread; `blocking=True` makes the engine wait for them between steps (bounded by
`timeout`), so they may change parameters for the next step, as a local step callback can.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ..errors import Error
from . import api
from .auth import load_keys
from .connection import Connection, parse_address
from .errors import RemoteError
from .events import EventListener

WAIT_SLICE = 2.0  # seconds per `wait` request while run() waits for the end
RELEASE_BATCH = 4096  # handle counts per `release` request (the service's limit)


class RemoteObject:
    """A handle to an object in the service."""

    _kind = ""

    def __init__(self, remote: RemoteImspector, handle: tuple[str, int, str]) -> None:
        self._remote, self._handle = remote, handle
        self._received = [0]  # times the service sent this handle; given back when the proxy is gone

    def _call(self, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._remote._send(op, self, args, kwargs, api.KINDS[self._kind][op].idempotent)

    def __repr__(self) -> str:
        return f"<remote specpy.{self._kind} #{self._handle[1]} on {self._remote.host()!r}>"


class RemoteMeasurement(RemoteObject):
    """A Measurement in the service."""

    _kind = "Measurement"


class RemoteConfiguration(RemoteObject):
    """A Configuration in the service."""

    _kind = "Configuration"


class RemoteStack(RemoteObject):
    """A Stack in the service; `data()` is a read-only snapshot (zero-copy from the wire)."""

    _kind = "Stack"


class RemoteImspector:
    """The application in a `specpy serve` service, through its broker."""

    _kind = "Imspector"

    def __init__(self, connection: Connection, address: str) -> None:
        self._connection, self._address = connection, address
        self._proxies: weakref.WeakValueDictionary[tuple[str, int, str], RemoteObject] = weakref.WeakValueDictionary()
        self._proxy_lock = threading.Lock()
        self._gone: list[list[Any]] = []  # [id, session, times received] of proxies collected since the last call
        self._gone_lock = threading.Lock()
        self._events: EventListener | None = None
        self._events_lock = threading.Lock()
        connection.resolve_handle = self._proxy
        connection.handle_of = self._handle_of

    def _call(self, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._send(op, None, args, kwargs, api.KINDS["Imspector"][op].idempotent)

    def _send(self, op: str, target: RemoteObject | None, args: tuple[Any, ...], kwargs: dict[str, Any],
              idempotent: bool, timeout: float | None = None) -> Any:
        """One request, after giving back the handles of proxies that are gone."""
        if self._gone:
            self._give_back()
        return self._connection.call(op, target, args, kwargs, idempotent=idempotent, timeout=timeout)

    def _give_back(self) -> None:
        with self._gone_lock:
            counts, self._gone = self._gone, []
        for start in range(0, len(counts), RELEASE_BATCH):
            try:
                self._connection.call("release", None, (counts[start:start + RELEASE_BATCH],), {}, idempotent=False)
            except RemoteError:
                return  # the service restarted or is unreachable: its handles are gone, or the next call says so

    def _collected(self, number: int, session: str, received: list[int]) -> None:
        """A proxy was garbage-collected (any thread): queue its count for the next request."""
        with self._gone_lock:
            self._gone.append([number, session, received[0]])

    def _proxy(self, kind: str, number: int, session: str) -> RemoteObject:
        cls = _PROXIES.get(kind)
        if cls is None:
            from .errors import ProtocolError

            raise ProtocolError(f"a handle of unknown kind {kind!r}")
        key = (kind, number, session)
        with self._proxy_lock:
            proxy = self._proxies.get(key)
            if proxy is None:
                proxy = self._proxies[key] = cls(self, key)
                weakref.finalize(proxy, self._collected, number, session, proxy._received)
            proxy._received[0] += 1
            return proxy

    def _handle_of(self, value: Any) -> tuple[str, int, str] | None:
        if isinstance(value, RemoteObject):
            if value._remote is not self:
                raise Error(f"{value!r} belongs to another remote application")
            return value._handle
        return None

    # --- what differs from the local application ----------------------------------------------

    def host(self) -> str:
        """The host this proxy talks to (as given to get_application)."""
        return self._address

    def run(self, measurement: RemoteMeasurement | None = None) -> int:
        """Start a measurement and return when it has finished (0); raises as the local `run` does."""
        measurement = measurement if measurement is not None else self.active_measurement()
        self.start(measurement)
        try:
            outcome = None
            while outcome is None:
                outcome = self._send("wait", None, (measurement, WAIT_SLICE), {}, True,
                                     timeout=WAIT_SLICE + self._connection.timeout)
        finally:
            self._settle()
        return int(outcome)

    def _settle(self) -> None:
        """Wait until every signal published so far has reached this client's callables."""
        if self._events is not None:
            try:
                self._events.sync()
            except RemoteError:
                pass  # the service is gone: no more signals will come

    def connect_begin(self, callback: Callable[[], Any], flag: int, blocking: bool = False,
                      timeout: float = 10.0) -> None:
        """Call `callback()` at the begin of the measurement (flag 0) or of each step (flag 1)."""
        self._listener(callback, flag).connect("begin", flag, callback, blocking, timeout)

    def connect_end(self, callback: Callable[[], Any], flag: int, blocking: bool = False,
                    timeout: float = 10.0) -> None:
        """Call `callback()` at the end of the measurement (flag 0) or of each step (flag 1)."""
        self._listener(callback, flag).connect("end", flag, callback, blocking, timeout)

    def disconnect_begin(self, callback: Callable[[], Any], flag: int) -> bool:
        """Undo `connect_begin`."""
        return self._events is not None and self._events.disconnect("begin", flag, callback)

    def disconnect_end(self, callback: Callable[[], Any], flag: int) -> bool:
        """Undo `connect_end`."""
        return self._events is not None and self._events.disconnect("end", flag, callback)

    def events(self) -> EventListener | None:
        """The event thread (counters: `missed`, `hook_timeouts`, `resubscriptions`), once a callback was connected."""
        return self._events

    def _listener(self, callback: Callable[[], Any], flag: int) -> EventListener:
        if flag not in (0, 1):
            raise Error(f"flag must be 0 (the whole measurement) or 1 (each step), not {flag!r}")
        if not callable(callback):
            raise Error(f"a callback must be callable, not {callback!r}")
        with self._events_lock:
            if self._events is None:
                self._events = EventListener(self._connection)
            return self._events

    def close_connection(self) -> None:
        """Unhook, stop the event thread and close every socket (the service keeps running)."""
        if self._events is not None:
            self._events.close()
            self._events = None
        if not self._connection.closed:
            self._connection.close()

    def __enter__(self) -> RemoteImspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_connection()

    def __repr__(self) -> str:
        return f"<remote specpy.Imspector {self._address!r}>"


def _remote_method(name: str, kind: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"`{kind}.{name}`, run in the service (see the reference API)."
    return method


_PROXIES: dict[str, type[RemoteObject]] = {
    "Measurement": RemoteMeasurement, "Configuration": RemoteConfiguration, "Stack": RemoteStack,
}
for _cls, _operations in ((RemoteImspector, api.IMSPECTOR), (RemoteMeasurement, api.MEASUREMENT),
                          (RemoteConfiguration, api.CONFIGURATION), (RemoteStack, api.STACK)):
    for _name in _operations:
        if _name not in _cls.__dict__ and _name != "wait":
            setattr(_cls, _name, _remote_method(_name, _cls._kind))
RemoteImspector.status = _remote_method("status", "Imspector")  # type: ignore[attr-defined]


def connect(host: str, timeout: float = 10.0, client_key: str | os.PathLike | None = None,
            server_key: str | os.PathLike | None = None) -> RemoteImspector:
    """A remote application at 'host[:port][/service]' ($SPEC_SERVER_PORT or 12345 by default).

    CURVE: pass key files (or set $SPECPY_CLIENT_KEY, the client's .key_secret, and
    $SPECPY_SERVER_KEY, the service's public .key).
    """
    name, port, service = parse_address(host)
    client_key = client_key or os.environ.get("SPECPY_CLIENT_KEY")
    server_key = server_key or os.environ.get("SPECPY_SERVER_KEY")
    if (client_key is None) != (server_key is None):
        raise Error("CURVE needs both a client key (.key_secret) and the service's public key (.key)")
    keys = load_keys(client_key) if client_key else None
    if keys is not None and keys.secret is None:
        raise Error(f"{os.fspath(client_key)!r} holds no secret key; pass the client's .key_secret file")
    server = load_keys(server_key).public if server_key else None
    connection = Connection(name, port, service, timeout=timeout, keys=keys, server_key=server)
    remote = RemoteImspector(connection, host)
    try:
        remote.version()  # fails fast (ServiceUnavailable, RequestTimeout) if nothing serves there
    except BaseException:
        connection.close()
        raise
    reference = weakref.ref(remote)
    atexit.register(lambda: reference() is not None and reference().close_connection())  # type: ignore[union-attr]
    return remote
