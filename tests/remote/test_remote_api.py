"""The local API suite (tests/app) against a service in a subprocess: the same test functions, remote.

Tests that hold only for a local application (host() == '', an Imspector built in-process) are
mirrored with their remote meaning.
"""

import numpy as np
import pytest

import specpy
from specpy import Error, File

from tests.app.test_app_api import (  # noqa: F401  (collected here, run with the remote fixtures)
    test_bad_device_values_never_reach_the_device,
    test_configurations,
    test_create_stack_and_unique_names,
    test_device_parameters_and_states,
    test_measurements_and_activation,
    test_parameter_errors_name_path_value_and_allowed,
    test_run_save_and_reopen,
)


def test_application_basics(app, service):
    assert app.host() == f"127.0.0.1:{service.port}"
    assert app.version() == specpy.__version__
    assert app.device_drivers()["scanner"] == "GalvoScanner"
    assert set(app.device_drivers()) >= {"excitation_laser", "sted_laser", "stage", "counter", "shutter_wheel"}


def test_nothing_active_raises_runtime_error_remotely(app):
    from specpy.application import NoActiveObject

    for name in app.measurement_names():
        app.close(app.measurement(name))
    with pytest.raises(NoActiveObject, match="no measurement is active") as caught:
        app.active_measurement()
    assert isinstance(caught.value, RuntimeError)
    assert "application.py" in caught.value.remote_traceback or caught.value.remote_traceback == ""


def test_stack_data_and_metadata_arrive_intact(app, measurement):
    stack = measurement.create_stack(np.float32, [5, 4, 3, 2])
    stack.set_lengths([1.0, 2.0, 3.0, 4.0])
    stack.set_description("from afar")
    data = stack.data()
    assert data.shape == (2, 3, 4, 5) and data.dtype == np.float32 and data.flags.c_contiguous
    assert stack.type() is np.float32
    assert stack.sizes() == [5, 4, 3, 2] and stack.lengths() == [1.0, 2.0, 3.0, 4.0]
    assert stack.description() == "from afar"
    assert measurement.stack(stack.name()) is stack
    assert isinstance(stack.meta_data(), dict)


def test_remote_objects_are_handles_with_clear_errors(app, measurement):
    other = app.create_measurement()
    app.close(other)
    assert other.status() == "closed"
    with pytest.raises(specpy.ValidationError, match="not an open measurement"):
        app.activate(other)
    with pytest.raises(Error, match="no operation '__class__'"):
        app._connection.call("__class__", measurement)
    with pytest.raises(specpy.StackIndexError):
        measurement.stack(7)
    with pytest.raises(TypeError):
        measurement.name("unexpected")


def test_status_reports_the_service(app, measurement):
    report = app.status()
    assert report["service"] == "imspector" and report["simulated"]
    assert measurement.name() in [m["name"] for m in report["measurements"]]
    pool = [name for name in report["threads"] if name.startswith("specpy-service")]
    assert len(pool) == 4  # the whole pool from the start: a soak sees no thread creep


def test_the_autosave_is_on_the_service_side(app, measurement):
    measurement.set_parameters("steps/time_points", 2)
    assert app.run(measurement) == 0
    with File(measurement.path(), File.Read) as f:  # same machine here: the service's file is readable
        np.testing.assert_array_equal(f.read(0).data(), measurement.stack(0).data())


def test_specpy_status_prints_what_the_service_does(service, measurement, capsys):
    from specpy.cli import main

    assert main(["status", f"127.0.0.1:{service.port}"]) == 0
    out = capsys.readouterr().out
    assert "service 'imspector'" in out and "(simulated)" in out
    assert f"measurement {measurement.name()!r}: idle" in out
    assert "broker services: imspector (1 worker(s))" in out


def test_specpy_status_fails_fast_where_nothing_serves(capsys):
    from specpy.cli import main

    from .harness import free_port

    assert main(["status", f"127.0.0.1:{free_port()}", "--timeout", "0.3"]) == 1
    assert "no reply" in capsys.readouterr().err


def test_path_arguments_travel_as_file_names(app, measurement, tmp_path):
    path = tmp_path / "as-path.obf"
    measurement.save_as(path)  # a pathlib.Path, as a local script would pass it
    reopened = app.open(path)
    assert reopened.path() == str(path)
    assert app.open(path) is reopened
    app.close(reopened)
