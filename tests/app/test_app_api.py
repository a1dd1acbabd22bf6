"""The reference document's API on the simulated rig: application, measurements, configurations, stacks."""

import numpy as np
import pytest

import specpy
from specpy import Error, File, StackIndexError, ValidationError
from specpy.application import NoActiveObject


def test_application_basics(app):
    assert app.host() == ""
    assert app.version() == specpy.__version__
    assert app.device_drivers()["scanner"] == "GalvoScanner"
    assert set(app.device_drivers()) >= {"excitation_laser", "sted_laser", "stage", "counter", "shutter_wheel"}


def test_device_parameters_and_states(app):
    app.set_parameters("excitation_laser/power", 3e-3)
    assert app.parameters("excitation_laser/power") == pytest.approx(3e-3)
    assert app.parameters("")["excitation_laser"]["power"] == pytest.approx(3e-3)
    app.set_state("shutter_wheel/shutter/open", True)
    assert app.state("shutter_wheel/shutter/open") is True
    app.set_state("shutter_wheel/shutter/open", False)
    assert app.state("shutter_wheel")["shutter"]["open"] is False
    assert set(app.state("stage/position")) == {"x", "y", "z"}


def test_bad_device_values_never_reach_the_device(app):
    before = app.parameters("excitation_laser/power")
    with pytest.raises(ValidationError, match="excitation_laser/power.*allowed|power: 5.0 .*allowed"):
        app.set_parameters("excitation_laser/power", 5.0)
    with pytest.raises(ValidationError, match="nothing was set; 1 problem"):
        app.set_parameters("", {"excitation_laser": {"power": 1e-3}, "sted_laser": {"power": -1.0}})
    assert app.parameters("excitation_laser/power") == before
    with pytest.raises(ValidationError, match="excitation_lazer.*excitation_laser"):
        app.parameters("excitation_lazer/power")


def test_measurements_and_activation(app):
    first, second = app.create_measurement(), app.create_measurement()
    try:
        assert app.active_measurement() is second
        assert {first.name(), second.name()} <= set(app.measurement_names())
        app.activate(first)
        assert app.active_measurement() is first
        assert app.measurement(second.name()) is second
        with pytest.raises(Error, match="no open measurement named 'nope'"):
            app.measurement("nope")
    finally:
        app.close(first)
        app.close(second)


def test_nothing_active_raises_runtime_error():
    from drivers.rig import ConnectedRig
    from drivers.rigconfig import RigConfig
    from specpy.application import Imspector

    empty = Imspector(ConnectedRig(RigConfig("empty", "", False, {}, {}, "<test>"), {}, None))
    with pytest.raises(NoActiveObject, match="no measurement is active") as caught:
        empty.active_measurement()
    assert isinstance(caught.value, RuntimeError)
    with pytest.raises(RuntimeError):
        empty.active_stack()


def test_configurations(measurement):
    m = measurement
    assert m.number_of_configurations() == 1
    base = m.active_configuration()
    assert m.configuration(0) is base and m.configuration(base.name()) is base
    m.set_parameters("scan/dwell_time", 20e-6)
    clone = m.clone(base)
    assert m.active_configuration() is clone and clone.parameters("scan/dwell_time") == 20e-6
    clone.set_parameters("channels/sted/enabled", True)
    assert base.parameters("channels/sted/enabled") is False
    clone.set_name("STED")
    assert m.configuration_names() == [base.name(), "STED"]
    with pytest.raises(ValidationError, match="already has a configuration"):
        base.set_name("STED")
    m.activate(base)
    assert m.parameters("scan/dwell_time") == 20e-6
    m.remove(clone)
    assert m.number_of_configurations() == 1
    with pytest.raises(Error, match="only configuration"):
        m.remove(base)
    with pytest.raises(StackIndexError, match="no configuration at position 3; positions: 0..0"):
        m.configuration(3)


def test_parameter_errors_name_path_value_and_allowed(measurement):
    with pytest.raises(ValidationError, match="scan/dwell_time: 2.0 .*allowed"):
        measurement.set_parameters("scan/dwell_time", 2.0)
    with pytest.raises(ValidationError, match="scan/dwel_time.*scan/dwell_time"):
        measurement.parameters("scan/dwel_time")
    with pytest.raises(ValidationError, match="allowed: one of 'xy', 'xyz'"):
        measurement.set_parameters("scan/axes", "xzy")


def test_create_stack_and_unique_names(measurement):
    m = measurement
    with pytest.raises(ValidationError, match="exactly four sizes"):
        m.create_stack(np.uint16, [4, 4])
    a = m.create_stack(np.uint16, [4, 3, 1, 1])
    b = m.create_stack(np.float32, [2, 2, 2, 2])
    assert a.data().shape == (1, 1, 3, 4)
    assert m.stack_names() == ["Stack", "Stack [1]"]
    b.set_name("Stack")
    assert b.name() == "Stack [1]"
    a.set_name("raw")
    b.set_name("raw")
    assert m.stack_names() == ["raw", "raw [1]"]
    assert m.stack("raw [1]") is b and m.stack(0) is a
    assert m.active_configuration().stack_names() == ["raw", "raw [1]"]
    m.update()


def test_run_save_and_reopen(app, measurement, tmp_path):
    m = measurement
    m.set_parameters("steps/time_points", 2)
    assert app.run(m) == 0
    assert m.status() == "finished"
    stack = app.active_stack()
    assert stack.shape() == [32, 32, 1, 2]
    assert stack.labels() == ["x", "y", "z", "t"]
    assert stack.unit(0) == "m" and stack.pixel_size(0) == pytest.approx(100e-9)
    assert stack.data().sum() > 0
    path = tmp_path / "saved.obf"
    m.save_as(str(path), False)
    reopened = app.open(str(path))
    try:
        assert app.open(str(path)) is reopened
        np.testing.assert_array_equal(reopened.stack(0).data(), stack.data())
        assert reopened.parameters("scan/dwell_time") == 50e-6
        assert reopened.configuration_names() == m.configuration_names()
    finally:
        app.close(reopened)
    with File(m.path(), File.Read) as f:  # the autosave holds the same
        np.testing.assert_array_equal(f.read(0).data(), stack.data())
    acquired = stack.data().copy()
    stack.data()[...] = 0  # the run is over: the stack's buffer (the autosave's region while it ran) is its own
    with File(m.path(), File.Read) as f:
        np.testing.assert_array_equal(f.read(0).data(), acquired)


def test_get_application_is_one_per_process_until_shut_down(monkeypatch, tmp_path):
    from specpy import get_application

    monkeypatch.delenv("SPECPY_RIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user rig file
    first = get_application()
    try:
        assert get_application() is first
        with pytest.raises(Error, match="pass rig= only on the first"):
            get_application(rig="other.toml")
    finally:
        first.shutdown()
    second = get_application()
    try:
        assert second is not first and second.device_drivers()["scanner"] == "GalvoScanner"
    finally:
        second.shutdown()
