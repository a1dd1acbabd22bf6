"""The photon counter driver: arm, fetch a definite-length block, and acquire_frame with the scanner, checked
against the World's ground truth."""

import numpy as np
import pytest

from drivers import DeviceError
from drivers.galvo_scanner import GalvoScanner
from drivers.photon_counter import PhotonCounter
from specpy.errors import ValidationError


@pytest.fixture
def pair(sim, connect):
    scanner = connect(GalvoScanner, sim, "scanner", timeout=1.0)
    counter = connect(PhotonCounter, sim, "counter", timeout=1.0)
    return scanner, counter


def light_on(world):
    """Open the World's light path directly (the driver-level script does it through the drivers)."""
    with world.lock:
        world.shutter.open = True
        world.wheel.step = 0
        world.lasers["excitation"].set_power(world.optics.p_ref)
        world.lasers["excitation"].enable(True, world.clock.now() - 1e3)


def test_acquire_frame_shapes_the_counts_and_fills_out_in_place(pair, sim):
    scanner, counter = pair
    scanner.configure(48, 32, 100e-9, 100e-9, 0.0, 0.0, 20e-6)
    frame = counter.acquire_frame(scanner)
    assert frame.shape == (32, 48) and frame.dtype == np.dtype("<u4")
    out = np.zeros((32, 48), np.uint32)
    assert counter.acquire_frame(scanner, out) is out
    wide = np.zeros((32, 48), np.float64)  # another dtype: converted into the caller's buffer
    assert counter.acquire_frame(scanner, wide) is wide
    assert counter.parameters.get("samples") == 48 * 32
    assert counter.states.read("acquisition/state") == "DONE"
    with pytest.raises(ValidationError, match=r"out has shape \(48, 32\); the scanner's frame is"):
        counter.acquire_frame(scanner, np.zeros((48, 32), np.uint32))


def test_a_check_while_counting_runs_once_during_the_frame_and_fails_it_after_the_counts(pair, sim):
    scanner, counter = pair
    light_on(sim.world)
    scanner.configure(32, 16, 50e-9, 50e-9, 0.0, 0.0, 1e-5)
    states = []

    def check():
        states.append(scanner.states.read("scanning"))  # another instrument may be asked meanwhile
        raise RuntimeError("interlock open")

    out = np.zeros((16, 32), np.uint32)
    with pytest.raises(RuntimeError, match="interlock open"):
        counter.acquire_frame(scanner, out, while_counting=check)
    assert len(states) == 1 and out.sum() > 0  # the counts were read before the check's error was raised
    assert counter.acquire_frame(scanner).shape == (16, 32)  # still in step
    assert counter.errors() == [] and scanner.errors() == []


def test_counts_match_the_world_within_poisson_error(pair, sim):
    scanner, counter = pair
    light_on(sim.world)
    dwell = 50e-6
    scanner.configure(40, 40, 60e-9, 60e-9, 0.0, 0.0, dwell)
    total = sum(counter.acquire_frame(scanner).astype(np.int64).sum() for _ in range(3))
    xs = (np.arange(40) - 19.5) * 60e-9
    rate = sim.world.true_rate(xs, xs)
    tau = sim.world.detector.dead_time
    expected = 3 * (rate / (1 + rate * tau)).sum() * dwell
    assert expected > 1000
    assert abs(total - expected) < 5 * np.sqrt(expected)


def test_formats_uint16_and_ascii(pair, sim):
    scanner, counter = pair
    light_on(sim.world)
    scanner.configure(16, 8, 50e-9, 50e-9, 0.0, 0.0, 1e-3)
    for fmt, dtype in [("uint16", np.dtype("<u2")), ("ascii", np.dtype(np.int64))]:
        counter.parameters.set("format", fmt)
        frame = counter.acquire_frame(scanner)
        assert frame.shape == (8, 16) and frame.dtype == dtype and frame.sum() > 0


def test_fetch_without_data_is_the_counters_own_error(pair):
    _, counter = pair
    with pytest.raises(DeviceError) as caught:
        counter.fetch(timeout=0.3)
    assert caught.value.code == -230 and "No error" not in str(caught.value)


def test_bad_sample_count_never_reaches_the_counter(pair, sim):
    _, counter = pair
    with pytest.raises(ValidationError, match="samples: 0 is out of range"):
        counter.arm(0)
    assert sim["counter"].state == "IDLE" and sim["counter"].settings.samples == 1


def test_bus_triggered_point_counts(pair, sim):
    _, counter = pair
    light_on(sim.world)
    counter.parameters.set("", {"trigger_source": "bus", "gate_time": 1e-4})
    counter.arm(100)
    counter.execute("*TRG")
    counts = counter.fetch(timeout=2.0)
    assert counts.shape == (100,) and counts.sum() > 0
