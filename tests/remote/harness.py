"""Running `specpy serve` in a subprocess for the remote tests: start, wait for ready, stop, kill; fuzzing a broker."""

from __future__ import annotations

import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack
import zmq

from specpy.remote import protocol as wire
from specpy.remote.connection import Connection
from specpy.remote.errors import ServiceUnavailable

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port the OS says is free now (for the SPEC_SERVER_PORT tests only)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """`python -m specpy.cli serve ...` in its own session (so kill -9 reaches its simulator too)."""

    def __init__(self, arguments: list[str], data: Path, env: dict[str, str] | None = None) -> None:
        environment = dict(os.environ, SPECPY_DATA=str(data), PYTHONPATH=str(REPO), **(env or {}))
        environment.pop("SPECPY_RIG", None)
        self.process = subprocess.Popen([sys.executable, "-m", "specpy.cli", "serve", *arguments],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                                        start_new_session=True)
        self._lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.process.stdout, self._lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr.append), daemon=True).start()
        self.port = 0

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink(line)

    def ready(self, timeout: float = 60.0) -> int:
        """Wait for the `ready ...` line; return the client port it names."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the service never said ready:\n" + "".join(self.stderr[-30:])) from None
        words = line.split()
        self.port = int(words[words.index("port") + 1])
        return self.port

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, and wait for a clean exit (SIGKILL to the whole session if it does not come)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("the service did not stop on SIGTERM") from None
        self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """kill -9 the service and everything it started (its simulator)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)


def eventually(call, timeout: float = 30.0, retry_on: tuple[type[Exception], ...] = (ServiceUnavailable,)):
    """Call until it stops raising `retry_on` (by default: a worker re-registering), bounded."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except retry_on:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def catch(call, *args):
    """What `call(*args)` returned, or the exception it raised."""
    try:
        return call(*args)
    except Exception as error:  # noqa: BLE001
        return error


def run_past_steps(app, measurement, steps: int):
    """Run `measurement` on a thread and return once `steps` steps have ended: (the thread, the list its outcome
    goes to, the step hook to disconnect with `app.disconnect_end(hook, 1)`). The outcome is what `run` returned
    or raised (see catch)."""
    ended = threading.Semaphore(0)
    app.connect_end(ended.release, 1)
    outcome: list = []

    def run() -> None:
        outcome.append(catch(app.run, measurement))

    runner = threading.Thread(target=run)
    runner.start()
    for _ in range(steps):
        assert ended.acquire(timeout=30)
    return runner, outcome, ended.release


N = 10_000


def garbage(rng: random.Random, side: bytes) -> list[bytes]:
    """One malformed multipart message of a random kind for the client or worker side."""
    rid = rng.randbytes(8)
    header = msgpack.packb({"v": 1, "id": 1, "op": "version", "target": None, "args": [], "kwargs": {}})
    kind = rng.randrange(10)
    if kind == 0:  # wrong frame counts
        return [side] * rng.randrange(0, 3) or [b""]
    if kind == 1:  # random bytes in every frame
        return [rng.randbytes(rng.randrange(0, 64)) for _ in range(rng.randrange(1, 8))]
    if kind == 2:  # invalid UTF-8 where a service name goes
        return [side, b"\xff\xfe" + rng.randbytes(4), rid, header]
    if side == wire.WORKER:
        worker_kinds = [
            [side, wire.REPLY, b"client", rid, header],  # a reply before registration
            [side, wire.READY, b"svc", b"\xc1"],  # READY with a broken header
            [side, wire.READY, "\u00e9".encode("latin-1"), header],
            [side, bytes([rng.randrange(6, 256)])],  # unknown command
            [side, wire.HEARTBEAT, b"extra"],
            [side, wire.REQUEST, b"x", rid, header],  # a command only the broker may send
            [side, wire.READY, b"fuzz", msgpack.packb({"v": 1, "heartbeat": 1e9})],
        ]
        return worker_kinds[kind - 3]
    truncated = header[: rng.randrange(1, len(header))]
    client_kinds = [
        [side, b"imspector", rid, truncated],  # truncated msgpack, to the live service
        [side, b"imspector", rid, msgpack.packb({"v": 1, "id": 1, "op": "no_such_op", "target": None,
                                                 "args": [], "kwargs": {}})],  # unknown operation
        [side, b"imspector", rid, msgpack.packb({"v": 1, "id": 1, "op": "parameters", "target": None,
                                                 "args": [msgpack.ExtType(1, msgpack.packb([0, "<f8", [1 << 40], "C"]))],
                                                 "kwargs": {}}), b"tiny"],  # huge declared size
        [side, b"imspector", rid[:3], header],  # a bad request id
        [side, b"no-such-service", rid, header],  # unknown service: answered at once
        [side, b"mmi", rid, truncated],  # the broker's own service, garbled
        [side, b"imspector", rid, header, *([b"x"] * 80)],  # too many frames
    ]
    return client_kinds[kind - 3]


def handled(connection: Connection) -> int:
    """Messages the broker has handled so far: well-formed requests plus malformed ones."""
    status = connection.call("status", service="mmi")
    return status["requests"] + sum(status["malformed"].values())


def fire(connection: Connection, endpoint: str, side: bytes, seed: int, count: int = N) -> None:
    """Send `count` malformed messages and wait (bounded) until the broker has handled every one."""
    rng = random.Random(seed)
    start = handled(connection)
    sock = connection.context.socket(zmq.DEALER)
    sock.linger = 0
    sock.sndhwm = 0
    sock.connect(endpoint)
    try:
        for _ in range(count):
            sock.send_multipart(garbage(rng, side))
            while sock.poll(0):  # keep the replies from piling up
                sock.recv_multipart()
        deadline = time.monotonic() + 60
        while handled(connection) - start < count and time.monotonic() < deadline:
            while sock.poll(10):
                sock.recv_multipart()
        assert handled(connection) - start >= count
    finally:
        sock.close(0)
