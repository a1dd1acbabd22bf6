"""The acquisition engine on the simulated rig: signals, pause/resume, callbacks, faults, refusals."""

import gc
import os
import threading
import weakref

import numpy as np
import pytest

from specpy import ValidationError
from specpy.engine import MeasurementFault

from .conftest import inject


def recorder(app):
    """Connect begin/end callbacks for both flags; return the event list and a disconnect function."""
    events = []
    callbacks = {(kind, flag): (lambda k=kind, f=flag: events.append(f"{k}{f}"))
                 for kind in ("begin", "end") for flag in (0, 1)}
    for (kind, flag), callback in callbacks.items():
        getattr(app, f"connect_{kind}")(callback, flag)

    def disconnect():
        for (kind, flag), callback in callbacks.items():
            assert getattr(app, f"disconnect_{kind}")(callback, flag)

    return events, disconnect


def test_signals_fire_once_per_step_in_order(app, measurement):
    measurement.set_parameters("steps/time_points", 3)
    clone = measurement.clone(measurement.active_configuration())  # two configurations alternate
    clone.set_parameters("channels/excitation/power", 4e-3)
    events, disconnect = recorder(app)
    try:
        app.run(measurement)
    finally:
        disconnect()
    assert events == ["begin0"] + ["begin1", "end1"] * 6 + ["end0"]
    first, second = (measurement.configuration(k).stack(0).data() for k in (0, 1))
    assert first.shape == second.shape == (3, 1, 32, 32)
    assert all(first[t].sum() > 0 and second[t].sum() > 0 for t in range(3))


def test_a_step_callback_changes_the_next_step(app, measurement):
    measurement.set_parameters("steps/time_points", 4)
    steps = []

    def brighter():
        steps.append(len(steps))
        if len(steps) == 2:  # after step 2: four times the excitation from step 3 on
            measurement.set_parameters("channels/excitation/power", 8e-3)

    app.connect_end(brighter, 1)
    try:
        app.run(measurement)
    finally:
        app.disconnect_end(brighter, 1)
    sums = measurement.stack(0).data().reshape(4, -1).sum(axis=1).astype(float)
    assert sums[0] > 100  # enough counts for the ratio to mean something
    assert sums[2] / sums[1] == pytest.approx(4.0, rel=0.25)
    assert sums[3] / sums[0] == pytest.approx(4.0, rel=0.25)


def test_pause_and_resume_keep_every_step_exactly_once(app, measurement):
    measurement.set_parameters("steps/time_points", 6)
    measurement.set_parameters("steps/interval", 0.05)
    events, disconnect = recorder(app)
    paused = threading.Event()

    def pause_after_two():
        if events.count("end1") == 2:
            app.pause(measurement)
            paused.set()

    app.connect_end(pause_after_two, 1)
    try:
        app.start(measurement)
        assert paused.wait(30)
        state = measurement.run_state
        with state.changed:
            assert state.changed.wait_for(lambda: measurement.status() != "running", 30)
        assert measurement.status() == "paused"
        assert events.count("end1") == 2
        assert measurement.status_message() == "paused by pause()"
        assert app.run(measurement) == 0  # resumes, and waits for the end
    finally:
        app.disconnect_end(pause_after_two, 1)
        disconnect()
    assert events == ["begin0"] + ["begin1", "end1"] * 6 + ["end0"]
    data = measurement.stack(0).data()
    assert all(data[t].sum() > 0 for t in range(6))


def test_a_callback_that_raises_does_not_stop_the_run(app, measurement, caplog):
    def broken():
        raise ZeroDivisionError("a bug in a lab script")

    app.connect_begin(broken, 1)
    try:
        assert app.run(measurement) == 0
    finally:
        app.disconnect_begin(broken, 1)
    assert "a bug in a lab script" in caplog.text


def test_refused_at_start_with_every_reason(app, measurement):
    measurement.set_parameters("", {"scan": {"axes": "xyz", "dwell_time": 1e-8,
                                             "z": {"offset": 1e-3, "length": 2e-6}},
                                    "channels": {"sted": {"enabled": True, "power": 5.0}}})
    with pytest.raises(ValidationError) as caught:
        app.start(measurement)
    message = str(caught.value)
    assert "3 problem(s)" in message
    assert "scan/dwell_time" in message and "channels/sted/power" in message and "z range" in message
    assert measurement.status() == "idle"


def test_a_device_unplugged_mid_run_pauses_and_the_step_is_retried(app, measurement):
    measurement.set_parameters("steps/time_points", 5)
    events, disconnect = recorder(app)

    def unplug_after_two():
        if events.count("end1") == 2:
            inject(app, "counter", "unplug")

    app.connect_end(unplug_after_two, 1)
    try:
        with pytest.raises(MeasurementFault, match="step 3 of 5 failed") as caught:
            app.run(measurement)
        assert "counter" in str(caught.value) or "TCPIP" in str(caught.value)
        assert measurement.status() == "paused"
        inject(app, "counter", "replug")
        assert app.run(measurement) == 0  # start() again: the failed step is retried
    finally:
        app.disconnect_end(unplug_after_two, 1)
        disconnect()
    assert events == ["begin0"] + ["begin1", "end1"] * 5 + ["end0"]
    data = measurement.stack(0).data()
    assert all(data[t].sum() > 0 for t in range(5))


def test_an_interlock_opening_mid_run_pauses(app, measurement):
    measurement.set_parameters("steps/time_points", 3)
    done = []

    def open_interlock():
        done.append(1)
        if len(done) == 1:
            inject(app, "excitation_laser", "interlock", True)

    app.connect_end(open_interlock, 1)
    try:
        with pytest.raises(MeasurementFault, match="interlock is open"):
            app.run(measurement)
        assert app.state("excitation_laser/emission") is False  # made safe while paused
        inject(app, "excitation_laser", "interlock", False)
        assert app.run(measurement) == 0
    finally:
        app.disconnect_end(open_interlock, 1)
    assert np.all(measurement.stack(0).data().reshape(3, -1).sum(axis=1) > 0)


def test_a_jammed_shutter_still_leaves_the_lasers_off(app, measurement):
    """Making safe switches the lasers off first and tries every part: a shutter that cannot move (its
    controller faults) must not keep a laser emitting."""
    wheel = app.rig().by_role("shutter_wheel")
    inject(app, "shutter_wheel", "stuck_shutter", True)
    try:
        with pytest.raises(MeasurementFault, match="FAULT"):
            app.run(measurement)  # the laser is switched on, then the shutter cannot open: the step fails
        assert app.state("excitation_laser/emission") is False
    finally:
        inject(app, "shutter_wheel", "stuck_shutter", False)
        wheel.clear_fault()
    assert app.run(measurement) == 0


def test_closing_frees_the_stacks_and_their_autosave_descriptors_at_once(app, measurement):
    """No reference cycle keeps a closed measurement's stacks (their data maps the autosave file) until a gc."""
    assert app.run(measurement) == 0
    stack = weakref.ref(measurement.stack(0))
    autosave = os.path.realpath(measurement.path())
    gc.disable()
    try:
        app.close(measurement)
        assert stack() is None
        assert autosave not in {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    finally:
        gc.enable()


def test_a_new_run_frees_the_last_runs_stack_and_its_replaced_autosave_at_once(app, measurement):
    """Each run replaces the stack and the autosave file (unlinked); the old ones must not wait for a gc."""
    assert app.run(measurement) == 0
    stack = weakref.ref(measurement.stack(0))
    gc.disable()
    try:
        assert app.run(measurement) == 0
        assert stack() is None and measurement.stack(0) is not None
        with open("/proc/self/maps") as maps:
            assert not [line for line in maps if line.rstrip().endswith("(deleted)") and ".obf" in line]
    finally:
        gc.enable()


def test_close_stops_a_running_measurement(app, measurement):
    measurement.set_parameters("steps/time_points", 50)
    measurement.set_parameters("steps/interval", 0.05)
    started = threading.Event()
    app.connect_end(started.set, 1)
    try:
        app.start(measurement)
        assert started.wait(30)
        app.close(measurement)
    finally:
        app.disconnect_end(started.set, 1)
    assert measurement.status() == "closed"
    assert app.state("shutter_wheel/shutter/open") is False
