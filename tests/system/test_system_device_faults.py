"""Device faults mid-measurement, through the whole stack (client -> broker -> service -> simulated rig):
the measurement pauses with a typed reason, resumes on `start`, and the stack holds every step once."""

from __future__ import annotations

import re
import time

import pytest

from specpy.engine import MeasurementFault
from tests.remote.conftest import inject

from .harness import SMALL_FIELD, EventTap, Lab, assert_every_frame_once_and_plausible


@pytest.fixture(scope="module")
def stack_lab(tmp_path_factory):
    """One broker and one service (and its simulator) for the module's device-fault scenarios."""
    lab = Lab(tmp_path_factory.mktemp("device-faults"))
    try:
        lab.start_broker()
        lab.start_service()
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def app(stack_lab):
    """The remote application."""
    return stack_lab.clients[0] if stack_lab.clients else stack_lab.connect()


@pytest.fixture
def tap(app):
    """A raw subscriber of the service's step signals."""
    recorder = EventTap(app)
    yield recorder
    recorder.close()


def measurement_of(app, steps: int):
    """A small measurement of `steps` time points."""
    m = app.create_measurement()
    m.set_parameters("", SMALL_FIELD)
    m.set_parameters("steps/time_points", steps)
    return m


def after_steps(app, steps: set[int], action):
    """A blocking end-of-step hook running `action()` after the given (1-based) step counts; disconnect it after."""
    done = []

    def hook() -> None:
        done.append(1)
        if len(done) in steps:
            action()

    app.connect_end(hook, 1, blocking=True)
    return hook


def assert_steps_exactly_once(tap: EventTap, app, steps: int) -> None:
    """Every step began and ended exactly once, in order."""
    tap.sync(app)
    assert tap.steps("begin") == list(range(steps))
    assert tap.steps("end") == list(range(steps))


def fault_then_retry(app, tap, fault, match: str, recover=lambda: None, steps: int = 5) -> None:
    """A fault after step 2 pauses the run with a typed reason (`match`); after `recover`, every step once."""
    m = measurement_of(app, steps)
    hook = after_steps(app, {2}, fault)
    try:
        with pytest.raises(MeasurementFault, match=match):
            app.run(m)
        recover()
        assert app.run(m) == 0
    finally:
        app.disconnect_end(hook, 1)
    assert_steps_exactly_once(tap, app, steps)
    assert_every_frame_once_and_plausible(m.stack(0), steps)
    app.close(m)


def test_a_serial_laser_unplugged_ten_times_mid_run_pauses_resumes_and_keeps_every_step_once(app, tap):
    m = measurement_of(app, 12)
    unplugs = []
    hook = after_steps(app, set(range(1, 11)), lambda: (inject(app, "excitation_laser", "unplug"), unplugs.append(1)))
    try:
        for cycle in range(10):
            with pytest.raises(MeasurementFault, match=rf"step {cycle + 2} of 12 failed: DeviceDisconnected"):
                app.run(m)
            assert m.status() == "paused" and "DeviceDisconnected" in m.status_message()
            assert app.state("shutter_wheel/shutter/open") is False  # made safe while paused
            inject(app, "excitation_laser", "replug")
        assert app.run(m) == 0
    finally:
        app.disconnect_end(hook, 1)
    assert len(unplugs) == 10
    assert_steps_exactly_once(tap, app, 12)
    assert_every_frame_once_and_plausible(m.stack(0), 12)
    app.close(m)


def test_a_scpi_instrument_silent_for_5_s_is_a_timeout_then_the_step_is_retried(app, tap):
    silent_since = []

    def silence() -> None:
        inject(app, "scanner", "drop_rate", 1.0)
        silent_since.append(time.monotonic())

    def answer_again() -> None:
        time.sleep(max(0.0, silent_since[0] + 5.0 - time.monotonic()))  # silent for 5 s in all
        inject(app, "scanner", "clear")

    fault_then_retry(app, tap, silence, "step 3 of 5 failed: TransportTimeout", answer_again)


def test_a_garbled_reply_is_a_typed_fault_and_the_step_is_retried(app, tap):
    fault_then_retry(app, tap, lambda: inject(app, "counter", "garble", 1),
                     "step 3 of 5 failed: TransportError: .* reply is not ascii text")


def test_a_counter_garbling_a_tenth_of_its_replies_never_puts_wrong_data_in_the_stack(app, tap):
    m = measurement_of(app, 4)
    inject(app, "counter", "garble_rate", 0.1)  # text replies and count blocks alike (seeded)
    faults = []
    try:
        for _ in range(100):  # bounded: each attempt makes at least one step of progress or fails typed
            try:
                assert app.run(m) == 0
                break
            except MeasurementFault as fault:
                faults.append(str(fault))
    finally:
        inject(app, "counter", "clear")
    assert m.status() == "finished", faults[-3:]
    typed = re.compile(r"failed: (TransportError|TransportTimeout|DeviceDisconnected|DeviceError): ")
    assert all(typed.search(fault) for fault in faults), faults
    assert_steps_exactly_once(tap, app, 4)
    assert_every_frame_once_and_plausible(m.stack(0), 4)
    app.close(m)


def test_a_scpi_device_error_is_a_typed_fault_naming_the_instrument_and_the_step_is_retried(app, tap):
    def injected_fault_is_named() -> None:
        assert "injected fault" in app.current_measurement().status_message()

    fault_then_retry(app, tap, lambda: inject(app, "scanner", "error", 1),
                     r"step 3 of 5 failed: DeviceError: scanner: instrument error -300", injected_fault_is_named)
