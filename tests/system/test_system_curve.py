"""CURVE across processes: a CURVE broker, a CURVE service registered with it, and clients; plaintext and
unknown-key clients get nothing (no reply, no event, no request counted); no key ever reaches a log."""

from __future__ import annotations

import logging

import pytest

from specpy.cli import main
from specpy.remote.auth import load_keys
from specpy.remote.connection import Connection
from specpy.remote.errors import RequestTimeout

from .harness import SMALL_FIELD


@pytest.fixture
def keys(tmp_path, capsys):
    """Broker and service key directories; the service's and one client's keys allowed by the broker."""
    broker, service, clients = tmp_path / "broker-keys", tmp_path / "service-keys", tmp_path / "client-keys"
    assert main(["keys", "new", "server", "--dir", str(broker)]) == 0
    assert main(["keys", "new", "server", "--dir", str(service)]) == 0
    for name in ("client", "stranger"):
        assert main(["keys", "new", name, "--dir", str(clients)]) == 0
    for allowed in (service / "server.key", clients / "client.key"):
        assert main(["keys", "allow", str(allowed), "--dir", str(broker)]) == 0
    capsys.readouterr()
    return {"broker": broker, "service": service, "clients": clients}


def key_texts(*directories) -> list[str]:
    """Every public and secret key (z85 text) in the key files of these directories."""
    texts = []
    for directory in directories:
        for path in directory.glob("*.key_secret"):
            pair = load_keys(path)
            texts += [pair.public.decode(), pair.secret.decode()]
    return texts


def test_plaintext_and_unknown_keys_get_nothing_and_keys_never_reach_a_log(lab, keys, caplog):
    caplog.set_level(logging.DEBUG)
    broker = lab.start_broker("--curve", "--keys", str(keys["broker"]))
    service = lab.start_service("--curve", "--keys", str(keys["service"]),
                                "--broker-key", str(keys["broker"] / "server.key"))
    server_key = keys["broker"] / "server.key"
    app = lab.connect(client_key=keys["clients"] / "client.key_secret", server_key=server_key)
    counted = app._connection.call("status", service="mmi")["requests"]
    strangers = [Connection("127.0.0.1", lab.port, "imspector", timeout=0.5, retries=0),  # plaintext
                 Connection("127.0.0.1", lab.port, "imspector", timeout=0.5, retries=0,
                            keys=load_keys(keys["clients"] / "stranger.key_secret"),
                            server_key=load_keys(server_key).public)]
    try:
        for stranger in strangers:
            for op, service_name in (("version", None), ("endpoints", "mmi"), ("create_measurement", None)):
                with pytest.raises(RequestTimeout):
                    stranger.call(op, service=service_name, idempotent=False)
    finally:
        for stranger in strangers:
            stranger.close()
    assert app._connection.call("status", service="mmi")["requests"] == counted + 1  # only this status request
    assert app.measurement_names() == []  # nothing the strangers sent reached the service
    steps = []
    app.connect_end(lambda: steps.append(1), 1)
    m = app.create_measurement()
    m.set_parameters("", SMALL_FIELD)
    m.set_parameters("steps/time_points", 3)
    assert app.run(m) == 0 and steps == [1, 1, 1]  # the allowed client gets replies and events
    lab.stop()
    logs = [(process.process.args, "".join(process.stderr)) for process in (broker, service)]
    logs += [("service log", (lab.root / "service2" / "logs" / "specpy-serve.log").read_text()),
             ("broker log", (lab.root / "broker1" / "logs" / "specpy-serve.log").read_text()),
             ("this process", caplog.text)]
    assert "registered" in logs[3][1]  # the logs are there, and they say things
    for text in key_texts(keys["broker"], keys["service"], keys["clients"]):
        for where, log in logs:
            assert text not in log, f"a key appears in {where}"
