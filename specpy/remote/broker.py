"""The broker: Majordomo-style routing of client requests to named services, plus the event proxy.

Clients talk to one ROUTER, workers to another (TCP, and inproc for a worker in the same
process). Workers register a service name with READY; several workers of one name share the
requests round-robin. Both sides heartbeat; a worker silent for `liveness` of its intervals is
dead and every request it held is answered with ServiceLost. A request for an unknown or dead
service is answered at once with ServiceUnavailable. Events go XSUB -> XPUB unchanged (their
publishers number them per topic); the broker also publishes `$broker` heartbeats there.

A worker in the broker's own process may take its requests on the broker thread (`serve_inline`):
it answers the quick ones there and then, which saves the hop to its own thread and back, and
hands the rest to its pool or engine thread, whose replies come back through its socket as
usual. It registers, heartbeats and is declared dead like any other worker.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack
import zmq

from . import protocol as wire
from .auth import KeyPair, make_server
from .errors import ProtocolError, ServiceLost, ServiceUnavailable
from .malformed import Malformed

log = logging.getLogger(__name__)

DEFAULT_PORT = 12345
BROKER_TOPIC = b"$broker"
EVENT_QUEUE = 1000  # events queued per subscriber (ZeroMQ's high-water mark)
EVENT_BUFFER = 64 * 1024  # bytes of kernel send buffer per subscriber

Reply = Callable[[list[Any]], None]
# (client, rid, request frames, reply): an in-process worker takes a request on the broker thread and gives
# the reply frames to `reply` if it has them before it returns
Inline = Callable[[bytes, bytes, list[Any], Reply], None]


@dataclass
class WorkerRecord:
    """A registered worker."""

    socket: zmq.Socket
    identity: bytes
    service: str
    interval: float
    expiry: float
    pending: dict[tuple[bytes, bytes], None] = field(default_factory=dict)  # (client, rid)
    local: str = ""  # the id an in-process worker gave in READY (inproc only): its inline handler's key


class Broker:
    """Routes requests to services; binds on construction, runs on `start()` (a thread) or `run()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, heartbeat: float = 1.0, liveness: int = 3,
                 keys: KeyPair | None = None, context: zmq.Context | None = None, inproc: bool = False) -> None:
        self.host, self.heartbeat, self.liveness = host, heartbeat, liveness
        self.instance = uuid.uuid4().hex[:12]
        self.context = context or zmq.Context()
        self._own_context = context is None
        self.malformed = Malformed(log)
        self.workers: dict[tuple[int, bytes], WorkerRecord] = {}
        self.services: dict[str, list[WorkerRecord]] = {}
        self._turn = itertools.count()
        self._inline: dict[str, Inline] = {}
        self._inline_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.requests = 0

        def socket(kind: int, secure: bool) -> zmq.Socket:
            sock = self.context.socket(kind)
            sock.linger = 0
            sock.maxmsgsize = wire.MAX_ARRAY + wire.MAX_HEADER
            if secure and keys is not None:
                make_server(sock, keys)
            return sock

        self.clients = socket(zmq.ROUTER, True)
        self.port = self._bind(self.clients, port)
        self.worker_sockets = [socket(zmq.ROUTER, True)]
        self.worker_port = self._bind(self.worker_sockets[0], 0)
        self.events_in = [socket(zmq.XSUB, True)]
        self.events_in_port = self._bind(self.events_in[0], 0)
        self.events_out = socket(zmq.XPUB, True)
        # A stalled subscriber holds at most this much of the broker's memory; beyond it, its events are dropped
        # (the sequence numbers tell it how many), instead of reaching it minutes late from megabytes of buffers.
        self.events_out.sndhwm, self.events_out.sndbuf = EVENT_QUEUE, EVENT_BUFFER
        self.events_out_port = self._bind(self.events_out, 0)
        for sock in self.worker_sockets:
            sock.router_handover = True
        self.inproc_workers = self.inproc_events = ""
        self._inproc: zmq.Socket | None = None
        if inproc:  # a worker in this process: no TCP hop, no CURVE (nothing leaves the process)
            self.inproc_workers = f"inproc://specpy-broker-{self.instance}-workers"
            self.inproc_events = f"inproc://specpy-broker-{self.instance}-events"
            workers, events = socket(zmq.ROUTER, False), socket(zmq.XSUB, False)
            workers.router_handover = True
            workers.bind(self.inproc_workers)
            events.bind(self.inproc_events)
            self.worker_sockets.append(workers)
            self.events_in.append(events)
            self._inproc = workers

    def _bind(self, sock: zmq.Socket, port: int) -> int:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if port:
            sock.bind(f"tcp://{host}:{port}")
            return port
        return int(sock.bind_to_random_port(f"tcp://{host}"))

    def serve_inline(self, worker: str, handler: Inline | None) -> None:
        """Hand the requests for the in-process worker `worker` (the id in its READY) to `handler` on the broker thread.

        `handler` answers quick requests through its `reply` argument before it returns and leaves the rest to
        threads of its own: it must not block (a call longer than `liveness` heartbeats stalls the broker, and its
        workers register again). None removes the handler, after a call of it in progress has returned.
        """
        with self._inline_lock:
            if handler is None:
                self._inline.pop(worker, None)
            else:
                self._inline[worker] = handler

    # --- running --------------------------------------------------------------------------------

    def start(self) -> Broker:
        """Run the broker loop on a background thread."""
        self._thread = threading.Thread(target=self.run, name="specpy-broker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop and close every socket (and the context, if the broker made it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def run(self) -> None:
        """The broker loop, until `stop()`."""
        poller = zmq.Poller()
        poller.register(self.clients, zmq.POLLIN)
        poller.register(self.events_out, zmq.POLLIN)
        for sock in (*self.worker_sockets, *self.events_in):
            poller.register(sock, zmq.POLLIN)
        next_beat = time.monotonic()
        tick = max(1, int(min(self.heartbeat / 4, 0.1) * 1000))
        log.info("broker %s: clients on port %d, %d worker socket(s)", self.instance, self.port, len(self.worker_sockets))
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(tick))
                for sock in self.worker_sockets:
                    if sock in ready:
                        self._handle_one(sock, self._worker_message, 6)
                if self.clients in ready:
                    self._handle_one(self.clients, self._client_message, 5)
                for sock in self.events_in:
                    if sock in ready:
                        self._handle_one(sock, self._event, 2)
                if self.events_out in ready:
                    self._handle_one(self.events_out, self._subscription, 1)
                now = time.monotonic()
                if now >= next_beat:
                    self._beat()
                    next_beat = now + self.heartbeat
                self._expire(now)
        finally:
            self._close()

    def _handle_one(self, sock: zmq.Socket, handle: Any, envelope: int) -> None:
        """Handle the next message of a socket the poll found readable; a bad one never stops the loop.

        One message per socket and poll: the sockets take turns, and nothing asks a socket twice whether it has
        more. The first `envelope` frames (up to the header) arrive as bytes, the rest as zero-copy frames.
        """
        frames = wire.receive(sock, envelope)
        try:
            handle(sock, frames)
        except Exception as error:  # noqa: BLE001 - counted and logged, the broker goes on
            self.malformed.count("unhandled", f"{type(error).__name__}: {error}")

    def _close(self) -> None:
        for sock in (self.clients, self.events_out, *self.worker_sockets, *self.events_in):
            sock.close(0)
        if self._own_context:
            self.context.term()

    # --- clients ------------------------------------------------------------------------------

    def _client_message(self, sock: zmq.Socket, frames: list[Any]) -> None:
        if len(frames) < 5 or frames[1] != wire.CLIENT or len(frames[3]) != 8:
            self.malformed.count("client envelope", f"{len(frames)} frame(s)")
            return
        client, rid = frames[0], frames[3]
        try:
            service = wire.check_name(frames[2])
        except ProtocolError as error:
            self.malformed.count("client service name", str(error))
            self._reply_error(client, "?", rid, error)
            return
        self.requests += 1
        if service == wire.BROKER_SERVICE:
            self._broker_service(client, rid, frames[4:])
            return
        workers = self.services.get(service)
        if not workers:
            known = sorted(self.services) or ["none"]
            self._reply_error(client, service, rid, ServiceUnavailable(
                f"no live worker serves {service!r} (services: {', '.join(known)}); is `specpy serve` running?"))
            return
        worker = workers[next(self._turn) % len(workers)]
        worker.pending[(client, rid)] = None
        with self._inline_lock:
            handler = self._inline.get(worker.local) if worker.local else None
            if handler is not None:
                handler(client, rid, frames[4:], lambda reply: self._reply(worker, client, rid, reply))
                return
        wire.send(worker.socket, [worker.identity, wire.WORKER, wire.REQUEST, client, rid, *frames[4:]])

    def _broker_service(self, client: bytes, rid: bytes, frames: list[Any]) -> None:
        """The broker's own operations: `endpoints` (ports to connect to) and `services`."""
        request_id = int.from_bytes(rid, "big")
        try:
            message = wire.decode(frames[0], frames[1:])
            op = message.get("op")
            if op == "endpoints":
                value: Any = {"workers": self.worker_port, "events_in": self.events_in_port,
                              "events_out": self.events_out_port, "broker": self.instance,
                              "heartbeat": self.heartbeat}
            elif op == "services":
                value = {name: len(workers) for name, workers in sorted(self.services.items())}
            elif op == "status":
                value = {"broker": self.instance, "requests": self.requests, "malformed": self.malformed.counts()}
            else:
                raise ProtocolError(f"the broker has no operation {op!r}; it has 'endpoints', 'services' and 'status'")
            reply = wire.encode(wire.result(request_id, value))
        except ProtocolError as error:
            self.malformed.count("broker request", str(error))
            reply = wire.encode(wire.failure(request_id, error, with_traceback=False))
        self.clients.send_multipart([client, wire.CLIENT, wire.BROKER_SERVICE.encode(), rid, *reply])

    def _reply_error(self, client: bytes, service: str, rid: bytes, error: Exception) -> None:
        header = wire.encode(wire.failure(int.from_bytes(rid, "big"), error, with_traceback=False))
        self.clients.send_multipart([client, wire.CLIENT, service.encode(), rid, *header])

    # --- workers ------------------------------------------------------------------------------

    def _worker_message(self, sock: zmq.Socket, frames: list[Any]) -> None:
        if len(frames) < 3 or frames[1] != wire.WORKER or frames[2] not in wire.COMMANDS:
            self.malformed.count("worker envelope", f"{len(frames)} frame(s)")
            return
        identity, command = frames[0], frames[2]
        key = (id(sock), identity)
        worker = self.workers.get(key)
        if worker is not None:
            worker.expiry = time.monotonic() + worker.interval * self.liveness
        if command == wire.READY:
            self._ready(sock, identity, worker, frames)
        elif worker is None:  # anything but READY from a stranger: tell it to register again
            if command != wire.DISCONNECT:
                self.malformed.count("worker not registered", f"command {command!r} before READY")
                sock.send_multipart([identity, wire.WORKER, wire.DISCONNECT])
        elif command == wire.REPLY:
            self._forward_reply(worker, frames)
        elif command == wire.DISCONNECT:
            self._remove(worker, "it said goodbye")
        elif command != wire.HEARTBEAT:
            self.malformed.count("worker command", f"unexpected command {command!r}")

    def _ready(self, sock: zmq.Socket, identity: bytes, worker: WorkerRecord | None, frames: list[Any]) -> None:
        if worker is not None:
            self.malformed.count("worker READY twice", worker.service)
            self._remove(worker, "it registered twice")
            sock.send_multipart([identity, wire.WORKER, wire.DISCONNECT])
            return
        try:
            if len(frames) != 5:
                raise ProtocolError(f"READY has 5 frames, not {len(frames)}")
            service = wire.check_name(frames[3])
            info = wire.decode(frames[4])
            interval = info.get("heartbeat")
            if service == wire.BROKER_SERVICE or not isinstance(interval, (int, float)) or not 0.001 <= interval <= 3600:
                raise ProtocolError(f"READY for {service!r} with heartbeat {interval!r}")
        except ProtocolError as error:
            self.malformed.count("worker READY", str(error))
            sock.send_multipart([identity, wire.WORKER, wire.DISCONNECT])
            return
        record = WorkerRecord(sock, identity, service, float(interval), time.monotonic() + interval * self.liveness)
        local = info.get("worker")
        if sock is self._inproc and isinstance(local, str):  # only a worker in this process can be served inline
            record.local = local
        self.workers[(id(sock), identity)] = record
        self.services.setdefault(service, []).append(record)
        log.info("worker registered for %r (%d worker(s) now)", service, len(self.services[service]))

    def _forward_reply(self, worker: WorkerRecord, frames: list[Any]) -> None:
        if len(frames) < 6:
            self.malformed.count("worker REPLY", f"{len(frames)} frame(s)")
            return
        self._reply(worker, frames[3], frames[4], frames[5:])

    def _reply(self, worker: WorkerRecord, client: bytes, rid: bytes, frames: list[Any]) -> None:
        """Forward a worker's reply to the client, if the worker holds that request."""
        if (client, rid) not in worker.pending:
            self.malformed.count("worker REPLY", "a reply to no request it holds")
            return
        del worker.pending[(client, rid)]
        wire.send(self.clients, [client, wire.CLIENT, worker.service.encode(), rid, *frames])

    def _remove(self, worker: WorkerRecord, why: str) -> None:
        self.workers.pop((id(worker.socket), worker.identity), None)
        workers = self.services.get(worker.service, [])
        if worker in workers:
            workers.remove(worker)
        if not workers:
            self.services.pop(worker.service, None)
        log.warning("worker for %r removed: %s; %d request(s) lost", worker.service, why, len(worker.pending))
        for client, rid in worker.pending:
            self._reply_error(client, worker.service, rid, ServiceLost(
                f"the {worker.service!r} service was lost ({why}) before it replied; the request may or may not "
                "have taken effect"))
        worker.pending.clear()

    def _expire(self, now: float) -> None:
        for worker in [w for w in self.workers.values() if w.expiry < now]:
            self._remove(worker, f"no heartbeat for {worker.interval * self.liveness:.3g} s")

    def _beat(self) -> None:
        for worker in list(self.workers.values()):
            worker.socket.send_multipart([worker.identity, wire.WORKER, wire.HEARTBEAT])
        beat = msgpack.packb({"v": wire.VERSION, "broker": self.instance, "heartbeat": self.heartbeat})
        self.events_out.send_multipart([BROKER_TOPIC, beat])

    # --- events -------------------------------------------------------------------------------

    def _event(self, sock: zmq.Socket, frames: list[Any]) -> None:
        if len(frames) != 2 or len(frames[0]) > wire.MAX_NAME or frames[0].startswith(b"$"):
            self.malformed.count("event", f"{len(frames)} frame(s)")
            return
        wire.send(self.events_out, frames)

    def _subscription(self, sock: zmq.Socket, frames: list[Any]) -> None:
        if len(frames) != 1 or len(frames[0]) < 1 or frames[0][0] not in (0, 1):
            self.malformed.count("subscription", f"{len(frames)} frame(s)")
            return
        for events in self.events_in:
            events.send(frames[0])
