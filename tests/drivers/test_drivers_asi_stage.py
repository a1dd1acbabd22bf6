"""The ASI stage driver over a pty: travel from the controller, moves refused before sending, limits, homing."""

import astropy.units as u
import pytest

from drivers import DeviceError
from drivers.asi_stage import AsiStage
from drivers.errors import LimitSwitchHit, WaitTimeout
from specpy.errors import ValidationError


@pytest.fixture
def stage(sim, connect):
    return connect(AsiStage, sim, "stage", timeout=1.0)


def test_connect_reads_travel_speeds_and_positions(stage):
    assert stage.identity == "ASI-MS2000-XYZ SIM"
    assert stage.travel() == {"x": (-0.01, 0.01), "y": (-0.01, 0.01), "z": (-0.001, 0.001)}
    assert stage.states.describe("position/z")["max"] == 0.001
    assert stage.parameters.get("speed") == pytest.approx({"x": 2e-3, "y": 2e-3, "z": 2e-4})
    assert stage.position() == (0.0, 0.0, 0.0) and stage.is_busy() is False


def test_moves_absolute_and_relative(stage, sim):
    stage.move_to(x=1 * u.mm, y=-0.5e-3, timeout=10.0)
    assert stage.position() == pytest.approx((1e-3, -0.5e-3, 0.0))
    stage.move_by(dx=-250 * u.um, dz=20e-6, timeout=10.0)
    assert stage.position() == pytest.approx((0.75e-3, -0.5e-3, 20e-6))
    assert sim.world.stage.position(sim.world.clock.now()) == pytest.approx((0.75e-3, -0.5e-3, 20e-6))
    assert stage.states.get("position/x") == pytest.approx(0.75e-3)


def test_a_move_outside_the_travel_is_refused_before_anything_is_sent(stage, sim):
    axes = sim.world.stage.axes
    with pytest.raises(ValidationError) as caught:
        stage.move_to(x=1e-3, z=5e-3)
    assert "position/z: 0.005 is out of range" in str(caught.value) and "-0.001 .. 0.001 m" in str(caught.value)
    with pytest.raises(ValidationError, match="position/x: 'far' is not a number"):
        stage.move_to(x="far")
    with pytest.raises(ValidationError, match="position/y: .* out of range"):
        stage.move_by(dy=0.05)
    assert axes["x"].target == 0.0 and axes["z"].target == 0.0 and axes["y"].target == 0.0


def test_a_limit_switch_is_a_typed_error_until_homed(stage, sim):
    sim.inject("stage", "limit", "y")
    with pytest.raises(LimitSwitchHit) as caught:
        stage.move_to(y=1e-3)
    assert isinstance(caught.value, DeviceError) and caught.value.code == -5
    assert "limit switch hit on axis y" in str(caught.value)
    stage.home(timeout=10.0)
    stage.move_to(y=1e-4, timeout=10.0)
    assert stage.position()[1] == pytest.approx(1e-4)


def test_speed_is_set_in_si_and_limited(stage, sim):
    stage.parameters.set("speed/x", 5 * u.mm / u.s)
    assert sim.world.stage.axes["x"].speed == pytest.approx(5e-3)
    with pytest.raises(ValidationError, match="speed/z: 0.005 is out of range"):
        stage.parameters.set("speed/z", 5e-3)


def test_waiting_for_a_move_that_cannot_end_times_out(stage, sim):
    sim.world.clock.freeze()
    stage.move_to(x=1e-3, wait=False)
    assert stage.is_busy()
    with pytest.raises(WaitTimeout, match="stage: not idle after 0.2 s"):
        stage.wait_until_idle(timeout=0.2)
    stage.halt()
    assert not stage.is_busy()
