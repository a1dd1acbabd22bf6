"""Fixtures for the simulator tests: a seeded World, rigs started and stopped per test, the
firmware built once, and a leak check on threads and file descriptors."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import serial

from device_sim import Rig, Sample, World
from device_sim.firmware import build


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def sim_threads() -> list[threading.Thread]:
    """The simulator's live threads."""
    return [t for t in threading.enumerate() if t.name.startswith("sim-")]


@pytest.fixture(scope="session")
def firmware_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shutter/wheel firmware, built once with the machine's C compiler."""
    return build(tmp_path_factory.mktemp("firmware"))


@pytest.fixture
def no_leaks():
    """Fail a test that leaves simulator threads or file descriptors behind."""
    before = open_fds()
    yield
    deadline = time.monotonic() + 3.0
    while (sim_threads() or open_fds() > before) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not sim_threads(), f"threads left running: {sim_threads()}"
    assert open_fds() <= before, f"{open_fds() - before} file descriptors leaked"


def bead_world(seed: int = 7, time_scale: float = 1000.0) -> World:
    """A World with a few known emitters near the field centre, the light path open."""
    sample = Sample([[0.0, 0.0, 0.0], [1.5e-6, -1.0e-6, 0.0], [-2e-6, 2e-6, 0.0]],
                    [1e6, 5e5, 5e5], [0.0, 20e-9, 0.0])
    world = World(sample, seed=seed, time_scale=time_scale)
    world.shutter.open = True
    world.wheel.step = 0
    return world


@pytest.fixture
def world() -> World:
    """A seeded World with known emitters, shutter open, filter 1 (transmission 1)."""
    return bead_world()


@pytest.fixture
def rig(no_leaks, world: World, tmp_path: Path):
    """The rig without the firmware (scanner, counter, lasers, stage), stopped afterwards."""
    with Rig(world=world, run_dir=tmp_path / "run", firmware=False) as started:
        yield started


@pytest.fixture
def full_rig(no_leaks, world: World, tmp_path: Path, firmware_binary: Path):
    """The whole rig including the firmware-driven shutter/filter wheel."""
    with Rig(world=world, run_dir=tmp_path / "run", firmware_binary=firmware_binary) as started:
        yield started


@pytest.fixture
def open_serial():
    """Open pyserial ports on rig paths; every port is closed afterwards."""
    ports: list[serial.Serial] = []

    def opener(path: str, timeout: float = 2.0) -> serial.Serial:
        port = serial.Serial(path, 115200, timeout=timeout)
        ports.append(port)
        return port

    yield opener
    for port in ports:
        port.close()


@pytest.fixture
def visa():
    """Open pyvisa-py TCPIP SOCKET sessions; all closed afterwards."""
    import pyvisa

    manager = pyvisa.ResourceManager("@py")
    sessions = []

    def opener(resource: str, timeout_ms: int = 3000):
        session = manager.open_resource(resource, read_termination="\n", write_termination="\n",
                                        timeout=timeout_ms)
        sessions.append(session)
        return session

    yield opener
    for session in sessions:
        session.close()
    manager.close()
