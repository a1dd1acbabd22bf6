"""The service's connection to the broker: registration, heartbeats, reconnects, replies and events.

One thread owns the sockets (a DEALER to the broker's worker ROUTER, a PUB to its XSUB). Other
threads hand replies and events to it through a queue and a wake-up pipe, so no socket is ever
shared between threads. If the broker goes silent for `liveness` heartbeats, or tells the worker
to register again, the worker asks where to connect again (the broker may have restarted) and
sends READY on fresh sockets. A broker in the same process may hand requests to `serve_inline`
on its own thread instead of sending them (broker.serve_inline): replies made during that call
go straight back to it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgpack
import zmq

from . import protocol as wire
from .malformed import Malformed

log = logging.getLogger(__name__)

# (worker endpoint, event endpoint), looked up again after every loss of the broker
Locate = Callable[[], tuple[str, str]]
Handle = Callable[[bytes, bytes, list[Any]], None]


class Worker:
    """Registers `service` with a broker and hands each request to `handle(client, rid, frames)`."""

    def __init__(self, service: str, locate: Locate, handle: Handle, context: zmq.Context,
                 heartbeat: float = 1.0, liveness: int = 3, secure: Callable[[zmq.Socket], None] | None = None) -> None:
        self.service, self._locate, self._handle = service, locate, handle
        self.context, self.heartbeat, self.liveness, self._secure = context, heartbeat, liveness, secure
        self.instance = uuid.uuid4().hex[:12]  # READY's `worker` and every event's `pub`
        self.malformed = Malformed(log)
        self.registrations = 0
        self._outbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._sequence: dict[str, int] = {}  # the last sequence number published, by kind
        self._sequence_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._inline = threading.local()  # (client, rid, reply) of the inline call in progress on a thread
        self._dealer: zmq.Socket | None = None
        self._pub: zmq.Socket | None = None
        self.connected = threading.Event()

    # --- from any thread ----------------------------------------------------------------------

    def start(self) -> Worker:
        """Connect and serve on a background thread."""
        self._thread = threading.Thread(target=self._run, name=f"specpy-worker {self.service}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Say goodbye to the broker and close the sockets."""
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(10)
        os.close(self._wake_read)
        os.close(self._wake_write)

    def serve_inline(self, client: bytes, rid: bytes, frames: list[Any], reply: Callable[[list[Any]], None]) -> None:
        """Handle a request on the in-process broker's thread; a reply to it made during the call goes to `reply`."""
        self._inline.call = (client, rid, reply)
        try:
            self._handle(client, rid, frames)
        except Exception as error:  # noqa: BLE001 - a bad request never stops the broker
            self.malformed.count("request", f"{type(error).__name__}: {error}")
        finally:
            self._inline.call = None

    def send_reply(self, client: bytes, rid: bytes, frames: list[Any]) -> None:
        """Send a reply (to the broker's inline call in progress, on the socket thread itself, or queued for it)."""
        call = getattr(self._inline, "call", None)
        if call is not None and call[0] == client and call[1] == rid:
            call[2](frames)
        elif threading.current_thread() is self._thread and self._dealer is not None:
            wire.send(self._dealer, [wire.WORKER, wire.REPLY, client, rid, *frames])
        else:
            self._outbox.put(("reply", client, rid, frames))
            self._wake()

    def publish(self, kind: str, event: dict[str, Any], *, with_last: bool = False) -> int:
        """Publish an event on topic `<service>/<kind>`; returns its sequence number on that topic.

        with_last: the event also carries `last`, the number of the last event published before it on each
        of this publisher's topics, so a subscriber can count a loss at once (not at that topic's next event).
        """
        with self._sequence_lock:
            if with_last:
                event = {**event, "last": dict(self._sequence)}
            sequence = self._sequence[kind] = self._sequence.get(kind, 0) + 1
            payload = msgpack.packb({"v": wire.VERSION, "pub": self.instance, "seq": sequence, **event})
            self._outbox.put(("event", f"{self.service}/{kind}".encode(), payload))
        self._wake()
        return sequence

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (the thread will drain the queue anyway) or closed

    # --- the socket thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._connect():
                    self._serve()
                self._close_sockets()
                self._stop.wait(min(self.heartbeat, 0.1))  # never a tight loop against a broker that refuses
        finally:
            self._close_sockets()

    def _connect(self) -> bool:
        """Find the broker and register; False (after a pause) if it cannot be reached now."""
        try:
            workers, events = self._locate()
        except Exception as error:  # noqa: BLE001 - the broker is down: try again later
            log.warning("cannot reach the broker (%s); retrying", error)
            self._stop.wait(min(self.heartbeat, 1.0))
            return False
        self._dealer = self.context.socket(zmq.DEALER)
        self._pub = self.context.socket(zmq.PUB)
        for sock in (self._dealer, self._pub):
            sock.linger = 0
            if self._secure is not None and not workers.startswith("inproc://"):
                self._secure(sock)
        self._dealer.connect(workers)
        self._pub.connect(events)
        info = msgpack.packb({"v": wire.VERSION, "heartbeat": self.heartbeat, "pid": os.getpid(),
                              "worker": self.instance})
        self._dealer.send_multipart([wire.WORKER, wire.READY, self.service.encode(), info])
        self.registrations += 1
        self.connected.set()
        log.info("registered %r with the broker at %s", self.service, workers)
        return True

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._dealer, zmq.POLLIN)
        poller.register(self._wake_read, zmq.POLLIN)
        silent_since = next_beat = time.monotonic()
        tick = max(1, int(self.heartbeat * 1000 / 2))
        while not self._stop.is_set():
            ready = dict(poller.poll(tick))
            now = time.monotonic()
            if self._wake_read in ready:  # every queued item wrote to the pipe
                self._drain_wake()
                self._flush_outbox()
            if self._dealer in ready:
                silent_since = now
                if not self._receive():
                    self.connected.clear()
                    return  # told to register again
            if now - silent_since > self.heartbeat * self.liveness:
                log.warning("the broker has been silent for %.3g s; reconnecting", now - silent_since)
                self.connected.clear()
                return
            if now >= next_beat:
                self._dealer.send_multipart([wire.WORKER, wire.HEARTBEAT])
                next_beat = now + self.heartbeat
        self._flush_outbox()
        self._dealer.send_multipart([wire.WORKER, wire.DISCONNECT])

    def _receive(self) -> bool:
        """Handle what the broker sent; False when it says DISCONNECT."""
        for _ in range(256):
            if not self._dealer.get(zmq.EVENTS) & zmq.POLLIN:
                return True
            frames = wire.receive(self._dealer, 5)
            if len(frames) < 2 or frames[0] != wire.WORKER:
                self.malformed.count("from broker", f"{len(frames)} frame(s)")
                continue
            command = frames[1]
            if command == wire.REQUEST and len(frames) >= 5 and len(frames[3]) == 8:
                try:
                    self._handle(frames[2], frames[3], frames[4:])
                except Exception as error:  # noqa: BLE001 - a bad request never stops the worker
                    self.malformed.count("request", f"{type(error).__name__}: {error}")
            elif command == wire.DISCONNECT:
                log.warning("the broker asked %r to register again", self.service)
                return False
            elif command != wire.HEARTBEAT:
                self.malformed.count("from broker", f"command {command!r}")
        return True

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def _flush_outbox(self) -> None:
        while True:
            try:
                item = self._outbox.get_nowait()
            except queue.Empty:
                return
            if item[0] == "reply":
                wire.send(self._dealer, [wire.WORKER, wire.REPLY, item[1], item[2], *item[3]])
            else:
                self._pub.send_multipart([item[1], item[2]])

    def _close_sockets(self) -> None:
        for sock in (self._dealer, self._pub):
            if sock is not None:
                sock.close(0)
        self._dealer = self._pub = None
