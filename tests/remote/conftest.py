"""A `specpy serve` subprocess on loopback (simulated rig) and a remote application connected to it."""

from __future__ import annotations

import pytest

from specpy.remote.client import connect

from ..app.fields import fresh_measurement
from .harness import Service

HEARTBEAT = "0.2"


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    """One service for the API tests; stopped with SIGTERM (a clean exit is part of the test)."""
    process = Service(["--port", "0", "--heartbeat", HEARTBEAT], tmp_path_factory.mktemp("service"))
    process.ready()
    yield process
    assert process.stop() == 0, "".join(process.stderr[-30:])


@pytest.fixture(scope="module")
def app(service):
    """A remote application (the proxy), its sockets closed and context terminated after the module."""
    remote = connect(f"127.0.0.1:{service.port}")
    yield remote
    remote.close_connection()


@pytest.fixture
def data_dir(tmp_path):
    """Where the local tests put autosaves; the service keeps its own data directory."""
    return tmp_path / "data"


@pytest.fixture
def measurement(app):
    """A fresh measurement on a field with beads, closed after the test."""
    yield from fresh_measurement(app)


def inject(app, instrument: str, fault: str, value=None) -> None:
    """A fault injected into the service's simulator through its control channel."""
    from device_sim.control import request

    reply = request(app.status()["simulator_control"], {"instrument": instrument, "fault": fault, "value": value})
    assert "ok" in reply, reply
