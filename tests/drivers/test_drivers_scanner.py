"""The galvo scanner driver against the simulated scan controller over pyvisa-py (TCPIP SOCKET)."""

import astropy.units as u
import pytest

from drivers import DeviceError
from drivers.galvo_scanner import GalvoScanner
from specpy.errors import ValidationError


@pytest.fixture
def scanner(sim, connect):
    return connect(GalvoScanner, sim, "scanner", timeout=1.0)


def test_connect_reads_the_raster_in_si(scanner):
    assert scanner.identity.startswith("SPECSIM,GS-2")
    assert scanner.parameters.get() == {"pixels": {"x": 64, "y": 64}, "pixel_size": {"x": 50e-9, "y": 50e-9},
                                        "offset": {"x": 0.0, "y": 0.0}, "dwell_time": 10e-6}
    assert scanner.states.get("scanning") is False
    assert scanner.parameters.describe("dwell_time")["unit"] == "s"


def test_configure_sets_the_whole_raster(scanner, sim):
    scanner.configure(128, 32, 80 * u.nm, 100e-9, 1e-6, -2e-6, 5 * u.us)
    raster = sim["scanner"].settings
    assert (raster.nx, raster.ny, raster.pixel_x, raster.pixel_y) == (128, 32, 80e-9, 100e-9)
    assert (raster.offset_x, raster.offset_y, raster.dwell) == pytest.approx((1e-6, -2e-6, 5e-6))
    assert scanner.frame_time() == pytest.approx(128 * 32 * 5e-6)
    assert scanner.expected_frame_time() == pytest.approx(scanner.frame_time())
    assert scanner.states.read("pixel_clock") == pytest.approx(2e5)


def test_a_bad_raster_is_refused_whole_and_never_sent(scanner, sim):
    with pytest.raises(ValidationError) as caught:
        scanner.configure(0, 64, 50e-9, 50e-9, 0.0, 0.0, 1.0)
    message = str(caught.value)
    assert "nothing was set; 2 problem(s)" in message
    assert "pixels/x: 0 is out of range" in message and "dwell_time: 1.0 is out of range" in message
    assert sim["scanner"].settings.nx == 64 and sim["scanner"].settings.dwell == 10e-6


def test_a_frame_runs_and_a_second_start_is_a_device_error(scanner, sim):
    sim.world.clock.freeze()
    scanner.start()
    assert scanner.is_scanning()
    with pytest.raises(DeviceError) as caught:
        scanner.start()
    assert caught.value.code == -213 and caught.value.command == "INIT" and caught.value.device == "scanner"
    with pytest.raises(DeviceError, match="-221"):
        scanner.parameters.set("pixels/x", 32)  # the instrument refuses raster changes mid-frame
    sim.world.clock.advance(scanner.frame_time())
    scanner.wait_until_idle(timeout=5.0)
    assert not scanner.is_scanning()


def test_park_the_beam(scanner, sim):
    scanner.states.set("beam/x", 2e-6)
    scanner.states.set("beam/y", -1e-6)
    assert sim.world.beam == (2e-6, -1e-6)
    assert scanner.states.read("beam") == {"x": 2e-6, "y": -1e-6}
