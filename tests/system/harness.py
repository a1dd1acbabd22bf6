"""The whole stack on loopback, each part in its own process: a broker, services (each starting the
simulated rig), and clients; plus a raw event tap and checks of acquired stacks."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zmq

from specpy.remote.client import RemoteImspector, connect
from tests.remote.harness import Service, eventually, free_port

HEARTBEAT = 0.2  # seconds: short, so that losses are noticed quickly
LIVENESS = 3  # heartbeats of silence before a peer is dead (the broker's and the worker's default)
SMALL_FIELD = {"scan": {"x": {"length": 1.6e-6, "pixel_size": 100e-9}, "y": {"length": 1.6e-6, "pixel_size": 100e-9},
                        "dwell_time": 50e-6},
               "channels": {"excitation": {"power": 2e-3}}}


class Lab:
    """A broker process on a fixed free port, the services registered with it, and the clients connected."""

    def __init__(self, root: Path, heartbeat: float = HEARTBEAT) -> None:
        self.root, self.heartbeat = root, heartbeat
        self.port = free_port()
        self.broker: Service | None = None
        self.services: list[Service] = []
        self.clients: list[RemoteImspector] = []
        self._started = 0

    def _directory(self, kind: str) -> Path:
        self._started += 1
        return self.root / f"{kind}{self._started}"

    def start_broker(self, *extra: str) -> Service:
        """Start (or restart) the broker on the lab's port; returns once it is ready."""
        self.broker = Service(["--broker-only", "--port", str(self.port), "--heartbeat", str(self.heartbeat), *extra],
                              self._directory("broker"))
        self.broker.ready()
        return self.broker

    def start_service(self, *extra: str, env: dict[str, str] | None = None) -> Service:
        """Start a service that registers with the broker; returns once it is ready."""
        service = Service(["--broker", f"127.0.0.1:{self.port}", "--heartbeat", str(self.heartbeat), *extra],
                          self._directory("service"), env=env)
        self.services.append(service)
        service.ready()
        return service

    def connect(self, timeout: float = 10.0, **keys: Any) -> RemoteImspector:
        """A remote application through the broker (closed by `stop`)."""
        # a service says ready once it sent READY; the broker may not have read it yet
        app = eventually(lambda: connect(f"127.0.0.1:{self.port}", timeout=timeout, **keys), timeout=10.0)
        self.clients.append(app)
        return app

    def stop(self) -> None:
        """Close every client, then stop every service and the broker by PID (SIGTERM, SIGKILL if it hangs)."""
        for app in self.clients:
            app.close_connection()
        for process in [*self.services, *([self.broker] if self.broker else [])]:
            try:
                process.stop()
            except AssertionError:
                pass  # it did not stop on SIGTERM: stop() has killed its whole session


class EventTap:
    """A raw SUB socket on the broker's event port, recording (or slowly reading) one service's events."""

    def __init__(self, app: RemoteImspector, topic: bytes = b"imspector/signal", hwm: int = 1000) -> None:
        self.events: list[dict[str, Any]] = []
        self._synced: set[str] = set()
        self._stop = threading.Event()
        self._context = zmq.Context()
        self._sub = self._context.socket(zmq.SUB)
        self._sub.linger = 0
        self._sub.rcvhwm = hwm
        if hwm < 1000:
            self._sub.rcvbuf = 4096  # a small kernel buffer too, so a slow reader really falls behind
        self._sub.connect(app._connection.endpoint(app._connection.call("endpoints", service="mmi")["events_out"]))
        self._sub.subscribe(topic)
        self._sub.subscribe(b"imspector/sync")
        self._thread = threading.Thread(target=self._run, name="event-tap", daemon=True)
        self._thread.start()
        self.sync(app)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sub.poll(50):
                topic, payload = self._sub.recv_multipart()
                event = msgpack.unpackb(payload)
                if topic == b"imspector/sync":
                    self._synced.add(event["token"])
                else:
                    self.events.append(event)

    def sync(self, app: RemoteImspector, timeout: float = 10.0) -> None:
        """Return once every event the service published before this call has arrived here (bounded)."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        while token not in self._synced:  # sent again until one arrives: a new subscription joins late
            assert time.monotonic() < deadline, "the event tap never heard the service"
            app._connection.call("sync_events", None, (token,))
            time.sleep(0.05)

    def steps(self, signal: str = "end", flag: int = 1) -> list[int]:
        """The step indices of the recorded signals of one kind."""
        return [e["step"] for e in list(self.events) if e.get("signal") == signal and e.get("flag") == flag]

    def sequence(self) -> list[int]:
        """The sequence numbers of the recorded events, in arrival order."""
        return [e["seq"] for e in list(self.events)]

    def close(self) -> None:
        """Stop the thread and close the socket and context."""
        self._stop.set()
        self._thread.join(10)
        self._sub.close(0)
        self._context.term()


def frames(stack: Any) -> np.ndarray:
    """A remote stack's frames, one row of pixel counts per time point."""
    data = np.asarray(stack.data())
    return data.reshape(data.shape[0], -1)


def assert_every_frame_once_and_plausible(stack: Any, expected: int) -> None:
    """Each time point acquired (no empty frame) and none holding wrong data (counts far off the others)."""
    totals = frames(stack).sum(axis=1).astype(float)
    assert len(totals) == expected
    assert np.all(totals > 0), f"empty frames at {np.flatnonzero(totals == 0).tolist()}"
    median = float(np.median(totals))
    bound = 8 * np.sqrt(median) + 0.1 * median  # Poisson noise of one frame is sqrt(median)
    wrong = np.flatnonzero(np.abs(totals - median) > bound).tolist()
    assert not wrong, f"frames {wrong} hold counts {totals[wrong].tolist()}, the others about {median:g}"
