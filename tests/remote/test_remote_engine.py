"""The engine suite remotely: signals as client callbacks, blocking step hooks, pause, faults, close."""

import threading
import time

import msgpack
import numpy as np
import pytest

from specpy.engine import MeasurementFault
from specpy.remote import protocol as wire

from tests.app.test_app_engine import (  # noqa: F401  (collected here, run with the remote fixtures)
    recorder,
    test_a_callback_that_raises_does_not_stop_the_run,
    test_close_stops_a_running_measurement,
    test_refused_at_start_with_every_reason,
    test_signals_fire_once_per_step_in_order,
)

from .conftest import inject


def wait_for(condition, timeout: float = 30.0) -> bool:
    """Poll `condition` until it holds (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_a_blocking_step_hook_changes_the_next_step(app, measurement):
    measurement.set_parameters("steps/time_points", 4)
    steps = []

    def brighter():
        steps.append(len(steps))
        if len(steps) == 2:  # runs on the engine thread of the service, between steps 2 and 3
            measurement.set_parameters("channels/excitation/power", 8e-3)

    app.connect_end(brighter, 1, blocking=True, timeout=20)
    try:
        assert app.run(measurement) == 0
    finally:
        assert app.disconnect_end(brighter, 1)
    assert len(steps) == 4
    sums = measurement.stack(0).data().reshape(4, -1).sum(axis=1).astype(float)
    assert sums[0] > 100
    assert sums[2] / sums[1] == pytest.approx(4.0, rel=0.25)
    assert sums[3] / sums[0] == pytest.approx(4.0, rel=0.25)


def test_a_non_blocking_callback_cannot_change_a_running_measurement(app, measurement):
    measurement.set_parameters("steps/time_points", 3)
    errors = []

    def too_late():
        try:
            measurement.set_parameters("channels/excitation/power", 8e-3)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    app.connect_begin(too_late, 1)
    try:
        app.run(measurement)
    finally:
        app.disconnect_begin(too_late, 1)
    assert errors and "while" in str(errors[0]) and "running" in str(errors[0])


def test_pause_from_a_hook_and_resume_keep_every_step_exactly_once(app, measurement):
    measurement.set_parameters("steps/time_points", 6)
    measurement.set_parameters("steps/interval", 0.05)
    events, disconnect = recorder(app)

    def pause_after_two():
        if events.count("end1") == 2:
            app.pause(measurement)

    app.connect_end(pause_after_two, 1, blocking=True)
    try:
        app.start(measurement)
        assert wait_for(lambda: measurement.status() == "paused")
        assert measurement.status_message() == "paused by pause()"
        app.events().sync()
        assert events.count("end1") == 2
        assert app.run(measurement) == 0
    finally:
        app.disconnect_end(pause_after_two, 1)
        disconnect()
    assert events == ["begin0"] + ["begin1", "end1"] * 6 + ["end0"]
    assert all(measurement.stack(0).data()[t].sum() > 0 for t in range(6))


def test_a_hook_that_overruns_its_timeout_is_left_behind_and_told(app, measurement):
    measurement.set_parameters("steps/time_points", 2)
    release = threading.Event()
    app.connect_begin(lambda: release.wait(1.0), 0, blocking=True, timeout=0.2)
    listener = app.events()
    before = listener.hook_timeouts
    try:
        assert app.run(measurement) == 0  # the engine did not wait for the stuck hook
        assert measurement.status() == "finished"
    finally:
        release.set()
        for callback, _ in list(listener._callbacks.get(("begin", 0), [])):
            app.disconnect_begin(callback, 0)
    assert wait_for(lambda: listener.hook_timeouts > before and listener.late_hooks >= 1)


def test_a_device_unplugged_mid_run_pauses_and_the_step_is_retried(app, measurement):
    measurement.set_parameters("steps/time_points", 5)
    events, disconnect = recorder(app)

    def unplug_after_two():
        if events.count("end1") == 2:
            inject(app, "counter", "unplug")

    app.connect_end(unplug_after_two, 1, blocking=True)
    try:
        with pytest.raises(MeasurementFault, match="step 3 of 5 failed"):
            app.run(measurement)
        assert measurement.status() == "paused"
        inject(app, "counter", "replug")
        assert app.run(measurement) == 0
    finally:
        app.disconnect_end(unplug_after_two, 1)
        disconnect()
    assert events == ["begin0"] + ["begin1", "end1"] * 5 + ["end0"]
    assert np.all(measurement.stack(0).data().reshape(5, -1).sum(axis=1) > 0)


def test_a_subscriber_that_falls_behind_learns_how_many_events_it_missed(app):
    listener = app.events() or app.connect_end(print, 0) or app.events()
    app.disconnect_end(print, 0)
    before = listener.missed

    def arrives(kind: str, **event) -> int:  # what `missed` grew by when this event came in
        missed = listener.missed
        listener._receive([f"imspector/{kind}".encode(), msgpack.packb({"v": wire.VERSION, "pub": "p", **event})])
        return listener.missed - missed

    assert arrives("hook_timeout", seq=1) == 0
    assert arrives("hook_timeout", seq=5) == 3  # 2, 3 and 4 never arrived
    assert arrives("sync", seq=7, last={"hook_timeout": 5, "sync": 6}) == 0  # a lost sync is its caller's
    assert arrives("sync", seq=9, last={"hook_timeout": 8, "signal": 40}) == 3  # the tail, lost with nothing after
    assert arrives("signal", seq=42) == 1  # a topic first seen in a sync counts from there
    assert arrives("sync", seq=10, last={"signal": "many", "hook_timeout": [9]}) == 0  # malformed: ignored
    assert arrives("hook_timeout", seq=9) == 0
    assert listener.missed - before == 7
