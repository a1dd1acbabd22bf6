"""An application on the default simulated rig (device_sim in a subprocess, real transports)."""

from __future__ import annotations

import pytest

from device_sim.control import request
from drivers.rig import connect_rig, default_rig_path
from specpy.application import Imspector

from .fields import fresh_measurement


@pytest.fixture(scope="module")
def app():
    """One application per test module; every measurement is closed and the rig shut down after."""
    application = Imspector(connect_rig(default_rig_path()))
    yield application
    application.shutdown()


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Autosaves go to the test's own directory."""
    monkeypatch.setenv("SPECPY_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def measurement(app):
    """A fresh measurement on a field with beads, closed after the test."""
    yield from fresh_measurement(app)


def inject(app: Imspector, instrument: str, fault: str, value=None) -> None:
    """A fault injected into the running simulator through its control channel."""
    reply = request(app.rig().simulator.control, {"instrument": instrument, "fault": fault, "value": value})
    assert "ok" in reply, reply
