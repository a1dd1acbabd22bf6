"""The OBIS laser driver over a pty: power limited to the head's maximum, emission with warm-up, interlock."""

import astropy.units as u
import pytest

from drivers import DeviceError
from drivers.errors import InterlockOpen
from drivers.obis_laser import ObisLaser
from specpy.errors import ValidationError


@pytest.fixture
def laser(sim, connect):
    return connect(ObisLaser, sim, "sted_laser", timeout=1.0)


def test_connect_reads_identity_limit_and_states(laser):
    assert laser.identity.startswith("Coherent, Inc - OBIS 775nm")
    assert laser.max_power() == 1.0
    assert laser.parameters.describe("power") == {
        "kind": "float", "read_only": False, "unit": "W", "min": 0.0, "max": 1.0, "description": "power setpoint"}
    assert laser.states.get("emission") is False and laser.states.get("interlock") is True
    assert laser.states.get("wavelength") == pytest.approx(775e-9)


def test_power_and_emission_reach_the_world(laser, sim):
    laser.parameters.set("power", 300 * u.mW)
    laser.states.set("emission", True)
    laser.wait_until_emitting(timeout=5.0)
    assert sim.world.lasers["sted"].output(sim.world.clock.now()) == pytest.approx(0.3)
    assert laser.states.read("output_power") == pytest.approx(0.3)
    laser.states.set("emission", False)
    assert laser.states.read("output_power") == 0.0


def test_power_above_the_heads_maximum_never_reaches_it(laser, sim):
    with pytest.raises(ValidationError, match=r"power: 1.5 is out of range; allowed: .* 0 \.\. 1 W"):
        laser.parameters.set("power", 1.5)
    assert sim.world.lasers["sted"].setpoint == 0.0


def test_an_open_interlock_is_a_readable_typed_error(laser, sim):
    laser.parameters.set("power", 0.1)
    laser.states.set("emission", True)
    sim.inject("sted_laser", "interlock", "open")
    assert laser.states.read("interlock") is False and laser.states.read("emission") is False
    with pytest.raises(InterlockOpen) as caught:
        laser.states.set("emission", True)
    assert isinstance(caught.value, DeviceError) and caught.value.code == 310
    assert "sted_laser" in str(caught.value) and "interlock open" in str(caught.value)
    assert laser.health().problems == ("interlock open", "fault word 00080000")
    sim.inject("sted_laser", "interlock", "closed")
    laser.states.set("emission", True)
    laser.wait_until_emitting(timeout=5.0)
    assert laser.health().ok


def test_an_unknown_command_is_a_device_error(laser):
    with pytest.raises(DeviceError) as caught:
        laser.ask("SOUR:BOGUS?")
    assert caught.value.code == 100 and "ERR-100" in str(caught.value)
    assert laser.states.read("interlock") is True  # the exchange stayed aligned
