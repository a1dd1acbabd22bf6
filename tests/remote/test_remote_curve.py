"""CURVE + ZAP: a plaintext client and a client with an unknown key get nothing; an allowed key works."""

import logging

import pytest
import zmq

from specpy import Error
from specpy.cli import main
from specpy.remote import protocol as wire
from specpy.remote.auth import Allowlist, check_bind, load_keys, start_authenticator
from specpy.remote.broker import Broker
from specpy.remote.connection import Connection
from specpy.remote.errors import RequestTimeout
from specpy.remote.worker import Worker


@pytest.fixture
def keys(tmp_path, capsys):
    """Server, allowed-client and stranger key files made with `specpy keys`, the client allowed."""
    directory = tmp_path / "keys"
    for name in ("server", "client", "stranger"):
        assert main(["keys", "new", name, "--dir", str(directory)]) == 0
    assert main(["keys", "allow", str(directory / "client.key"), "--dir", str(directory)]) == 0
    printed = capsys.readouterr().out
    for name in ("server", "client", "stranger"):  # file names are printed, never a key
        pair = load_keys(directory / f"{name}.key_secret")
        assert pair.public.decode() not in printed and pair.secret.decode() not in printed
    return directory


@pytest.fixture
def secure_broker(keys):
    """A CURVE broker with ZAP and an echo worker (in-process, inproc), all stopped after the test."""
    context = zmq.Context()
    authenticator = start_authenticator(context, Allowlist(keys / "allowed"))
    broker = Broker("127.0.0.1", 0, heartbeat=0.2, keys=load_keys(keys / "server.key_secret"), context=context,
                    inproc=True).start()
    worker: Worker

    def echo(client, rid, frames):
        request = wire.decode(frames[0], frames[1:])
        worker.send_reply(client, rid, wire.encode(wire.result(request["id"], ["echo", request["args"]])))

    worker = Worker("echo", lambda: (broker.inproc_workers, broker.inproc_events), echo, context, heartbeat=0.2)
    worker.start()
    assert worker.connected.wait(10)
    yield broker
    worker.stop()
    broker.stop()
    authenticator.stop()
    context.term()


def client(broker, keys, name=None):
    server = load_keys(keys / "server.key").public
    pair = load_keys(keys / f"{name}.key_secret") if name else None
    return Connection("127.0.0.1", broker.port, "echo", timeout=0.5, retries=0, keys=pair,
                      server_key=server if pair else None)


def test_only_an_allowed_key_gets_an_answer(secure_broker, keys, caplog):
    caplog.set_level(logging.DEBUG)
    for name in (None, "stranger"):
        connection = client(secure_broker, keys, name)
        try:
            with pytest.raises(RequestTimeout):
                connection.call("ping", args=(1,))
        finally:
            connection.close()
    connection = client(secure_broker, keys, "client")
    try:
        assert eventually_answered(connection) == ["echo", [1]]
        assert connection.call("services", service="mmi") == {"echo": 1}
    finally:
        connection.close()
    for name in ("server", "client", "stranger"):
        assert load_keys(keys / f"{name}.key").public.decode() not in caplog.text


def eventually_answered(connection):
    for _ in range(20):  # the first handshake (ZAP) may take longer than one short timeout
        try:
            return connection.call("ping", args=(1,))
        except RequestTimeout:
            continue
    raise AssertionError("the allowed client never got an answer")


def test_a_non_loopback_bind_needs_keys_or_force():
    check_bind("127.0.0.1", curve=False, force=False)
    with pytest.raises(Error, match="refusing to listen on '0.0.0.0' without CURVE"):
        check_bind("0.0.0.0", curve=False, force=False)
    check_bind("0.0.0.0", curve=True, force=False)
    check_bind("0.0.0.0", curve=False, force=True)


def test_keys_are_never_overwritten(keys):
    assert main(["keys", "new", "server", "--dir", str(keys)]) == 1
