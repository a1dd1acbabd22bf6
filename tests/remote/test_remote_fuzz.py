"""Malformed messages to both sides of the broker (seeded): counted, answered or dropped, never fatal."""

import random
import time

import msgpack
import pytest
import zmq

from specpy.remote import protocol as wire
from specpy.remote.connection import Connection

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


def fire(connection: Connection, endpoint: str, side: bytes, seed: int) -> None:
    """Send N malformed messages and wait (bounded) until the broker has handled every one."""
    rng = random.Random(seed)
    start = handled(connection)
    sock = connection.context.socket(zmq.DEALER)
    sock.linger = 0
    sock.sndhwm = 0
    sock.connect(endpoint)
    try:
        for _ in range(N):
            sock.send_multipart(garbage(rng, side))
            while sock.poll(0):  # keep the replies from piling up
                sock.recv_multipart()
        deadline = time.monotonic() + 60
        while handled(connection) - start < N and time.monotonic() < deadline:
            while sock.poll(10):
                sock.recv_multipart()
        assert handled(connection) - start >= N
    finally:
        sock.close(0)


def test_fuzz_both_broker_sides_then_serve_normally(app, service):
    connection = Connection("127.0.0.1", service.port, "imspector", timeout=20)
    try:
        ports = connection.call("endpoints", service="mmi")
        before = app.status()["malformed"]
        fire(connection, connection.endpoint(), wire.CLIENT, seed=1)
        fire(connection, connection.endpoint(ports["workers"]), wire.WORKER, seed=2)
        assert connection.call("services", service="mmi").get("imspector") == 1  # the real worker still there
        assert app.version()  # the service still serves
        m = app.create_measurement()
        assert m.name() in app.measurement_names()
        app.close(m)
        assert app.status()["malformed"] > before  # counted (the service side: unknown ops, bad headers)
    finally:
        connection.close()


@pytest.mark.parametrize("payload", [
    b"", b"\xc1", b"\x92\x01", msgpack.packb([1, 2]), msgpack.packb({"v": 2}), msgpack.packb({1: 2}),
    msgpack.packb({"v": 1, "x": msgpack.ExtType(99, b"")}), b"\xa2\xff\xfe",
])
def test_bad_headers_are_protocol_errors(payload):
    from specpy.remote.errors import ProtocolError

    with pytest.raises(ProtocolError):
        wire.decode(payload)
