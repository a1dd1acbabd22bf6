"""Every fault the simulator injects, seen through the drivers: a typed, readable error, and recovery where
it is possible (a retried idempotent query, realigned replies, reconnect with re-applied parameters)."""

import time

import numpy as np
import pytest

from drivers import DeviceDisconnected, DeviceError, TransportError, TransportTimeout
from drivers.asi_stage import AsiStage
from drivers.galvo_scanner import GalvoScanner
from drivers.obis_laser import ObisLaser
from drivers.photon_counter import PhotonCounter
from drivers.shutter_wheel import ShutterWheel


def until_reconnected(call, limit=50):
    """Call until the transport has reconnected (each failure is DeviceDisconnected); the result."""
    for _ in range(limit):
        try:
            return call()
        except DeviceDisconnected:
            time.sleep(0.05)
    return call()


def test_latency_beyond_the_timeout_is_a_timeout_and_replies_realign(sim, connect):
    scanner = connect(GalvoScanner, sim, "scanner", timeout=0.2)
    sim.inject("scanner", "latency", 0.5)
    with pytest.raises(TransportTimeout, match="during 'SCAN:DWEL\\?'"):
        scanner.parameters.read("dwell_time")
    sim.inject("scanner", "clear")
    assert scanner.parameters.read("pixels/x") == 64  # not the late dwell reply
    assert scanner.parameters.read("dwell_time") == 10e-6
    sim.inject("scanner", "latency", 0.05)  # shorter than the timeout: only slower
    assert scanner.frame_time() == pytest.approx(64 * 64 * 10e-6)


def test_a_dropped_reply_is_asked_again_only_for_idempotent_queries(sim, connect):
    scanner = connect(GalvoScanner, sim, "scanner", timeout=0.2)
    sim.inject("scanner", "drop", 1)
    assert scanner.parameters.read("pixels/y") == 64  # lost once, asked again
    sim.inject("scanner", "drop", 1)
    with pytest.raises(TransportTimeout):  # INIT then SYST:ERR?, whose reply is lost: never repeated
        scanner.start()
    sim.world.clock.advance(1.0)
    scanner.wait_until_idle(timeout=5.0)
    assert scanner.errors() == []


def test_serial_drop_and_garble_recover(sim, connect):
    stage = connect(AsiStage, sim, "stage", timeout=0.2)
    laser = connect(ObisLaser, sim, "excitation_laser", timeout=0.2)
    stage.move_to(x=1e-3, timeout=10.0)
    sim.inject("stage", "drop", 1)
    assert stage.position() == pytest.approx((1e-3, 0.0, 0.0))
    sim.inject("stage", "garble", 1)
    assert stage.position() == pytest.approx((1e-3, 0.0, 0.0))
    sim.inject("excitation_laser", "garble", 1)
    assert laser.states.read("interlock") is True
    sim.inject("excitation_laser", "drop", 1)
    with pytest.raises(TransportTimeout):  # a setting's acknowledgement lost: not repeated
        laser.parameters.set("power", 0.01)
    assert laser.parameters.read("power") == pytest.approx(0.01)


def test_a_garbled_block_is_fetched_again(sim, connect):
    scanner = connect(GalvoScanner, sim, "scanner", timeout=0.5)
    counter = connect(PhotonCounter, sim, "counter", timeout=0.5)
    scanner.configure(32, 16, 50e-9, 50e-9, 0.0, 0.0, 1e-5)
    counter.arm(32 * 16)
    scanner.start()
    first = counter.fetch()
    sim.inject("counter", "garble", 1)
    again = counter.fetch()
    np.testing.assert_array_equal(first, again)
    sim.inject("counter", "drop", 1)
    np.testing.assert_array_equal(counter.fetch(), first)


def test_a_frame_that_failed_after_arming_leaves_no_armed_counter_behind(sim, connect):
    scanner = connect(GalvoScanner, sim, "scanner", timeout=0.5)
    counter = connect(PhotonCounter, sim, "counter", timeout=0.5)
    scanner.configure(16, 8, 50e-9, 50e-9, 0.0, 0.0, 1e-5)
    first = counter.acquire_frame(scanner)
    sim.inject("counter", "garble", 1)  # the error check after INIT: the counter is armed, the driver cannot know
    with pytest.raises(TransportError, match="not ascii text"):
        counter.acquire_frame(scanner)
    again = counter.acquire_frame(scanner)  # disarmed first, not refused with -213 'Init ignored'
    assert again.shape == first.shape == (8, 16)
    assert counter.errors() == []


@pytest.mark.parametrize("fault", ["refused", "unplugged"])
def test_a_scanner_that_does_not_start_leaves_no_fetch_waiting_for_its_trigger(sim, connect, fault):
    scanner = connect(GalvoScanner, sim, "scanner", timeout=0.5)
    counter = connect(PhotonCounter, sim, "counter", timeout=0.5)
    scanner.configure(16, 8, 50e-9, 50e-9, 0.0, 0.0, 1e-5)
    first = counter.acquire_frame(scanner)
    reconnects = counter.transport.reconnects
    if fault == "refused":
        sim.inject("scanner", "error", 1)  # INIT refused, after the counter's FETC? went out
        with pytest.raises(DeviceError, match="INIT"):
            counter.acquire_frame(scanner)
    else:
        sim.inject("scanner", "unplug")
        with pytest.raises(DeviceDisconnected):
            counter.acquire_frame(scanner)
        sim.inject("scanner", "replug")
    # The FETC? owed went with the hung-up connection: the counter answers at once, disarmed, with no error left.
    again = until_reconnected(lambda: counter.acquire_frame(scanner))
    assert again.shape == first.shape == (8, 16)
    assert counter.transport.reconnects > reconnects  # hung up (once per failed start)
    assert counter.errors() == [] and scanner.errors() == []


def test_garbled_text_is_a_transport_error_without_retry(sim, connect):
    scanner = connect(GalvoScanner, sim, "scanner", timeout=0.3)
    sim.inject("scanner", "garble", 1)
    with pytest.raises(TransportError) as caught:
        scanner.ask("SCAN:STAT?")  # not declared idempotent here: surfaced as it is
    assert "not ascii text" in str(caught.value) and not isinstance(caught.value, DeviceDisconnected)
    assert scanner.ask("SCAN:STAT?") == "IDLE"


def test_scpi_unplug_and_replug_reapplies_parameters(sim, connect):
    scanner = connect(GalvoScanner, sim, "scanner", timeout=0.3)
    scanner.configure(128, 96, 40e-9, 40e-9, 0.0, 0.0, 2e-6)
    sim.inject("scanner", "unplug")
    with pytest.raises(DeviceDisconnected) as caught:
        scanner.parameters.read("pixels/x")
    assert "connection lost" in str(caught.value) or "closed the connection" in str(caught.value)
    sim["scanner"].reset()  # the instrument power-cycled while unplugged
    sim.inject("scanner", "replug")
    assert until_reconnected(lambda: scanner.parameters.read("pixels/x")) == 128
    raster = sim["scanner"].settings
    assert (raster.nx, raster.ny, raster.dwell) == (128, 96, pytest.approx(2e-6))
    assert scanner.transport.reconnects == 1


def test_serial_unplug_and_replug_reapplies_power_but_not_emission(sim, connect):
    laser = connect(ObisLaser, sim, "excitation_laser", timeout=0.3)
    laser.parameters.set("power", 0.02)
    laser.states.set("emission", True)
    sim.inject("excitation_laser", "unplug")
    with pytest.raises(DeviceDisconnected):
        laser.states.read("emission")
    sim.world.lasers["excitation"].reset()
    sim.inject("excitation_laser", "replug")
    assert until_reconnected(lambda: laser.states.read("emission")) is False  # a switch is never re-applied
    assert sim.world.lasers["excitation"].setpoint == pytest.approx(0.02)


def test_device_errors_are_typed_and_name_device_command_and_message(sim, connect):
    scanner = connect(GalvoScanner, sim, "scanner", timeout=0.5)
    with pytest.raises(DeviceError) as caught:
        scanner.send("SCAN:BOGUS 1")
    assert (caught.value.device, caught.value.command, caught.value.code) == ("scanner", "SCAN:BOGUS 1", -113)
    assert "Undefined header" in str(caught.value)


def test_firmware_faults_drop_garble_unplug_and_jam(full_sim, connect):
    wheel = connect(ShutterWheel, full_sim, "shutter_wheel", timeout=0.3)
    wheel.select_filter(3)
    full_sim.inject("shutter_wheel", "drop", 1)
    assert wheel.parameters.read("filter/position") == 3
    full_sim.inject("shutter_wheel", "garble", 1)
    assert wheel.states.read("status") == "settled"
    full_sim.inject("shutter_wheel", "unplug")
    with pytest.raises(DeviceDisconnected):
        wheel.states.read("status")
    full_sim.inject("shutter_wheel", "replug")  # boots, homes to filter 1; the driver re-applies filter 3
    until_reconnected(lambda: wheel.states.read("status"))
    wheel.wait_until_settled(timeout=5.0)
    assert wheel.parameters.read("filter/position") == 3 and full_sim.world.truth()["filter_position"] == 2
    full_sim.inject("shutter_wheel", "jam_wheel", True)
    with pytest.raises(DeviceError, match="wheel homing failed"):
        wheel.clear_fault()  # re-homing a jammed wheel fails
        wheel.send("home")
        wheel.wait_until_settled(timeout=5.0)
    full_sim.inject("shutter_wheel", "jam_wheel", False)
    wheel.clear_fault()
    assert wheel.health().ok
