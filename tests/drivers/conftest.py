"""Fixtures: a loopback SCPI instrument on a real TCP socket, one on a real pty, and a test laser driver."""

from __future__ import annotations

import os
import threading

import pytest

from drivers import Control
from drivers.scpi import ScpiInstrument
from specpy.tree import Bool, Enum, Float

from .loopback import PtyDevice, ScpiServer


class LoopbackLaser(ScpiInstrument):
    """A laser-like instrument as the loopback server implements it."""

    PARAMETERS = {
        "power": Control(Float(unit="W", min=0.0, max=0.5), get="SOUR:POW?", set="SOUR:POW {}"),
        "mode": Control(Enum(["cw", "pulsed"]), get="MODE?", set="MODE {}", wire={"cw": "CW", "pulsed": "PULS"}),
        # Declared wider than the instrument allows (1 Hz .. 1 MHz), so the instrument's own refusal can be seen.
        "frequency": Control(Float(unit="Hz", min=0.0, max=1e7), get="FREQ?", set="FREQ {}"),
    }
    STATES = {
        "emission": Control(Bool(), get="OUTP?", set="OUTP {}"),
        "temperature": Control(Float(unit="K", read_only=True), get="TEMP?"),
        "wavelength": Control(Float(unit="m", read_only=True), get="WAV?"),
    }


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def server():
    with ScpiServer() as running:
        yield running


@pytest.fixture
def pty_device(tmp_path):
    device = PtyDevice(str(tmp_path / "ttyLOOP"))
    yield device
    device.close()


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    """Every thread a test starts must be gone when it ends."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leaked:
        thread.join(timeout=2)
    assert not [t for t in leaked if t.is_alive()], f"threads left running: {leaked}"


# -- the simulated rig (tests may import device_sim; the drivers never do) ------------------------------
@pytest.fixture(scope="session")
def firmware_binary(tmp_path_factory):
    """The shutter/wheel firmware, built once per session with the machine's C compiler."""
    from device_sim.firmware import build

    return build(tmp_path_factory.mktemp("firmware"))


def bead_world(seed: int = 11):
    """A seeded World with three known emitters near the field centre (shutter closed, lasers off)."""
    from device_sim import Sample, World

    sample = Sample([[0.0, 0.0, 0.0], [0.8e-6, -0.5e-6, 0.0], [-1e-6, 1e-6, 0.0]],
                    [2e6, 1e6, 1e6], [0.0, 20e-9, 0.0])
    return World(sample, seed=seed, time_scale=1000.0)


@pytest.fixture
def sim(tmp_path):
    """The simulated rig without the firmware (lasers, stage, scanner, counter), stopped afterwards."""
    from device_sim import Rig

    with Rig(world=bead_world(), run_dir=tmp_path / "run", firmware=False) as rig:
        yield rig


@pytest.fixture
def full_sim(tmp_path, firmware_binary):
    """The whole simulated rig including the firmware-driven shutter/filter wheel."""
    from device_sim import Rig

    with Rig(world=bead_world(), run_dir=tmp_path / "run", firmware_binary=firmware_binary) as rig:
        yield rig


@pytest.fixture
def connect():
    """Connect drivers to simulated instruments; every one is closed afterwards."""
    opened = []

    def opener(cls, rig, name, **options):
        entry = rig.addresses()[name]
        resource = entry["path"] if "serial" in cls.RESOURCE_KINDS and "path" in entry else entry["resource"]
        driver = cls(resource, name=name, **options).connect()
        opened.append(driver)
        return driver

    yield opener
    for driver in opened:
        driver.close()
