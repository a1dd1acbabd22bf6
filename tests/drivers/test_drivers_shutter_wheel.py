"""The shutter/filter-wheel driver against the C firmware on a pty: echo and prompt, shutter, filters, faults."""

import pytest

from drivers import DeviceError
from drivers.shutter_wheel import ShutterWheel
from specpy.errors import ValidationError


@pytest.fixture
def wheel(full_sim, connect):
    return connect(ShutterWheel, full_sim, "shutter_wheel", timeout=1.0)


def test_connect_reads_identity_filter_count_and_states(wheel):
    assert wheel.identity == "SPECSIM SWC102 shutter + filter wheel controller v1.0"
    assert wheel.filter_count() == 6
    assert wheel.parameters.describe("filter/position")["max"] == 6
    assert wheel.parameters.get("filter/position") == 1
    assert wheel.states.get() == {"shutter": {"open": False}, "status": "settled", "error": 0}


def test_shutter_and_filter_move_the_world(wheel, full_sim):
    world = full_sim.world
    wheel.open_shutter()
    assert world.shutter.open is True and wheel.states.read("shutter/open") is True
    wheel.select_filter(4)
    assert wheel.parameters.get("filter/position") == 4 and world.truth()["filter_position"] == 3
    wheel.close_shutter()
    assert world.shutter.open is False


def test_the_filter_in_the_beam_is_not_moved_again(wheel, full_sim):
    wheel.select_filter(1, wait=False)  # settled at filter 1 already: no steps, so nothing to settle
    assert wheel.states.read("status") == "settled" and full_sim.world.truth()["filter_position"] == 0


def test_a_bad_filter_never_reaches_the_controller(wheel, full_sim):
    with pytest.raises(ValidationError, match=r"filter/position: 7 is out of range; allowed: an integer in 1 \.\. 6"):
        wheel.select_filter(7)
    assert wheel.parameters.read("filter/position") == 1


def test_a_stuck_shutter_is_a_fault_that_can_be_cleared(wheel, full_sim):
    full_sim.inject("shutter_wheel", "stuck_shutter", True)
    with pytest.raises(DeviceError, match="shutter sensor timeout") as caught:
        wheel.open_shutter()
    assert caught.value.code == 1
    assert wheel.health().problems == ("fault 1: shutter sensor timeout",)
    full_sim.inject("shutter_wheel", "stuck_shutter", False)
    wheel.clear_fault()
    assert wheel.states.read("status") == "settled" and wheel.health().ok


def test_a_move_while_moving_is_the_controllers_busy_error(wheel):
    wheel.select_filter(5, wait=False)
    with pytest.raises(DeviceError, match="CMD_BUSY"):
        wheel.send("pos=2")
    wheel.wait_until_settled(timeout=5.0)
