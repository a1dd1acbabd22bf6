"""The client's connection to a broker: Lazy Pirate requests, one socket per thread, CURVE.

Each thread gets its own DEALER (ZeroMQ sockets are never shared between threads). A request
waits `timeout` seconds for its reply; an idempotent one is then sent again on a fresh socket
(up to `retries` times), anything else fails at once with RequestTimeout and is never resent.
Late replies to an abandoned request are recognised by their request id and dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import zmq

from . import protocol as wire
from .auth import KeyPair, make_client
from .errors import ProtocolError, RequestTimeout, build_error

DEFAULT_PORT = 12345
DEFAULT_SERVICE = "imspector"


def parse_address(host: str) -> tuple[str, int, str]:
    """'host[:port][/service]' -> (host, port, service); the port defaults to $SPEC_SERVER_PORT or 12345."""
    from ..errors import Error

    text = host.removeprefix("tcp://")
    text, _, service = text.partition("/")
    name, colon, port_text = text.rpartition(":") if text.count(":") == 1 else ("", "", text)
    name = name if colon else text
    if not colon:
        port_text = os.environ.get("SPEC_SERVER_PORT", str(DEFAULT_PORT))
    try:
        port = int(port_text)
    except ValueError:
        raise Error(f"{host!r}: the port {port_text!r} is not a number (SPEC_SERVER_PORT or host:port)") from None
    if not name or not 0 < port < 65536:
        raise Error(f"{host!r} is not a host name with an optional :port (1-65535) and /service")
    return name, port, wire.check_name((service or DEFAULT_SERVICE).encode())


class Connection:
    """Requests to one service through one broker, from any thread."""

    def __init__(self, host: str, port: int, service: str, timeout: float = 10.0, retries: int = 2,
                 keys: KeyPair | None = None, server_key: bytes | None = None) -> None:
        self.host, self.port, self.service = host, port, service
        self.timeout, self.retries = timeout, retries
        self._keys, self._server_key = keys, server_key
        self.context = zmq.Context()
        self._local = threading.local()
        self._sockets: list[zmq.Socket] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.closed = False
        self.resolve_handle: Callable[[str, int, str], Any] | None = None
        self.handle_of: Callable[[Any], tuple[str, int, str] | None] | None = None

    def endpoint(self, port: int | None = None) -> str:
        """tcp://host:port (the broker's client port by default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{port or self.port}"

    def socket(self, kind: int) -> zmq.Socket:
        """A new socket of this connection (CURVE client if keys were given), closed with it."""
        sock = self.context.socket(kind)
        sock.linger = 0
        if self._keys is not None and self._server_key is not None:
            make_client(sock, self._keys, self._server_key)
        with self._lock:
            self._sockets.append(sock)
        return sock

    def forget(self, sock: zmq.Socket) -> None:
        """Close a socket of this connection."""
        with self._lock:
            if sock in self._sockets:
                self._sockets.remove(sock)
        sock.close(0)

    def _dealer(self) -> zmq.Socket:
        sock = getattr(self._local, "dealer", None)
        if sock is None:
            if self.closed:
                from ..errors import Error

                raise Error("this remote application's connection is closed")
            sock = self._local.dealer = self.socket(zmq.DEALER)
            sock.connect(self.endpoint())
        return sock

    def _drop_dealer(self) -> None:
        sock = getattr(self._local, "dealer", None)
        self._local.dealer = None
        if sock is not None:
            self.forget(sock)

    @contextlib.contextmanager
    def hook_scope(self, token: str) -> Iterator[None]:
        """Requests made on this thread inside the block run at the service's waiting step hook."""
        self._local.hook = token
        try:
            yield
        finally:
            self._local.hook = None

    def call(self, op: str, target: Any = None, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
             idempotent: bool = True, service: str | None = None, timeout: float | None = None) -> Any:
        """Send one request and return its result, or raise the error it answered with."""
        service = service or self.service
        request_id = next(self._ids)
        rid = wire.request_id_bytes(request_id)
        header = wire.request(request_id, op, target, args, kwargs or {}, getattr(self._local, "hook", None))
        frames = wire.encode(header, self.handle_of)
        timeout = self.timeout if timeout is None else timeout
        attempts = 1 + (self.retries if idempotent else 0)
        for _ in range(attempts):
            sock = self._dealer()
            wire.send(sock, [wire.CLIENT, service.encode(), rid, *frames])
            reply = self._receive(sock, rid, timeout)
            if reply is not None:
                return self._result(reply)
            self._drop_dealer()  # Lazy Pirate: a fresh socket for whatever comes next
        if idempotent:
            raise RequestTimeout(f"no reply from {service!r} at {self.endpoint()} after {attempts} attempt(s) of "
                                 f"{timeout:g} s ({op})")
        raise RequestTimeout(f"no reply from {service!r} at {self.endpoint()} within {timeout:g} s ({op}); it was "
                             "not sent again because it is not idempotent: check the state before you retry")

    def _receive(self, sock: zmq.Socket, rid: bytes, timeout: float) -> list[Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            sock.set(zmq.RCVTIMEO, int(remaining * 1000) + 1)  # a blocking receive: cheaper than poll + receive
            try:
                frames = wire.receive(sock, 4)
            except zmq.Again:
                return None
            if len(frames) >= 4 and frames[0] == wire.CLIENT and frames[2] == rid:
                return frames
            # a late reply to an abandoned request, or garbage: dropped

    def _result(self, frames: list[Any]) -> Any:
        message = wire.decode(frames[3], frames[4:], self.resolve_handle)
        if message.get("ok") is True:
            return message.get("result")
        error = message.get("error")
        if not isinstance(error, dict):
            raise ProtocolError("an error reply without its error map")
        raise build_error(str(error.get("type", "RemoteError")), str(error.get("message", "")),
                          str(error.get("traceback", "")))

    def close(self) -> None:
        """Close every socket and terminate the context."""
        self.closed = True
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close(0)
        self.context.term()
