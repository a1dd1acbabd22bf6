"""Malformed messages to both sides of the broker (seeded): counted, answered or dropped, never fatal."""

import msgpack
import pytest

from specpy.remote import protocol as wire
from specpy.remote.connection import Connection

from .harness import fire

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
