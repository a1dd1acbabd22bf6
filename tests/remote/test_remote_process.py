"""Whole processes: a lab script with get_application("localhost"), kill -9 of the service mid-step
and its restart, and a broker restart under a connected service and client."""

import subprocess
import sys
import textwrap
import threading

import pytest

from specpy.remote.client import connect
from specpy.remote.errors import ServiceLost, ServiceUnavailable, StaleHandle

from ..app.test_app_process import LAB_SCRIPT as LOCAL_LAB_SCRIPT
from .harness import REPO, Service, eventually, free_port, run_past_steps

# The local suite's lab script, unchanged but for the host it names.
LAB_SCRIPT = LOCAL_LAB_SCRIPT.replace("get_application()", 'get_application("localhost")')
assert LAB_SCRIPT != LOCAL_LAB_SCRIPT


def test_a_lab_script_runs_against_the_service_on_spec_server_port(tmp_path):
    port = str(free_port())
    service = Service(["--heartbeat", "0.2"], tmp_path / "service", env={"SPEC_SERVER_PORT": port})
    try:
        assert service.ready() == int(port)
        script = tmp_path / "script.py"
        script.write_text(textwrap.dedent(LAB_SCRIPT.format(path=tmp_path / "saved.obf")))
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                                env={"SPEC_SERVER_PORT": port, "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stderr
        assert f"host 'localhost'" in result.stdout
        assert "steps 3" in result.stdout
        assert "stack Configuration counts [32, 32, 1, 3] 1" in result.stdout
        assert "reopened [32, 32, 1, 3] 1" in result.stdout
    finally:
        assert service.stop() == 0


def test_kill_9_mid_step_gives_service_lost_and_a_restarted_service_serves(tmp_path):
    broker = Service(["--broker-only", "--port", "0", "--heartbeat", "0.2"], tmp_path / "broker")
    services = []
    try:
        port = broker.ready()
        services.append(Service(["--broker", f"127.0.0.1:{port}", "--heartbeat", "0.2"], tmp_path / "s1"))
        services[-1].ready()
        app = eventually(lambda: connect(f"127.0.0.1:{port}", timeout=5))  # the worker may still be registering
        try:
            m = app.create_measurement()
            m.set_parameters("", {"scan": {"x": {"length": 3.2e-6, "pixel_size": 100e-9},
                                           "y": {"length": 3.2e-6, "pixel_size": 100e-9}},
                                  "steps": {"time_points": 200, "interval": 0.05}})
            runner, outcome, hook = run_past_steps(app, m, 3)
            services[-1].kill()  # kill -9, mid-run
            runner.join(15)
            assert not runner.is_alive()
            assert isinstance(outcome[0], ServiceLost), outcome
            with pytest.raises(ServiceUnavailable):
                app.version()
            services.append(Service(["--broker", f"127.0.0.1:{port}", "--heartbeat", "0.2"], tmp_path / "s2"))
            services[-1].ready()
            assert eventually(app.version)
            with pytest.raises(StaleHandle, match="earlier run of the service"):
                m.name()
            fresh = app.create_measurement()
            fresh.set_parameters("steps/time_points", 2)
            assert app.run(fresh) == 0
            app.disconnect_end(hook, 1)
        finally:
            app.close_connection()
    finally:
        for service in services:
            service.stop()
        assert broker.stop() == 0


def test_a_broker_restart_is_survived_by_service_and_client(tmp_path):
    port = free_port()
    broker = Service(["--broker-only", "--port", str(port), "--heartbeat", "0.2"], tmp_path / "b1")
    service = None
    try:
        broker.ready()
        service = Service(["--broker", f"127.0.0.1:{port}", "--heartbeat", "0.2"], tmp_path / "service")
        service.ready()
        app = connect(f"127.0.0.1:{port}", timeout=2)
        try:
            ends = []
            app.connect_end(lambda: ends.append(1), 0)
            m = app.create_measurement()
            broker.kill()
            broker = Service(["--broker-only", "--port", str(port), "--heartbeat", "0.2"], tmp_path / "b2")
            broker.ready()
            assert eventually(lambda: m.name()) == "Measurement 1"  # same service, same handles
            m.set_parameters("steps/time_points", 2)
            assert app.run(m) == 0
            assert ends == [1]  # the event thread found the new broker
        finally:
            app.close_connection()
    finally:
        if service is not None:
            assert service.stop() == 0
        assert broker.stop() == 0


def test_sigterm_mid_run_pauses_after_the_step_saves_and_exits_cleanly(tmp_path):
    from specpy import File

    service = Service(["--port", "0", "--heartbeat", "0.2"], tmp_path / "service")
    try:
        app = connect(f"127.0.0.1:{service.ready()}", timeout=5)
        try:
            m = app.create_measurement()
            m.set_parameters("", {"scan": {"x": {"length": 3.2e-6, "pixel_size": 100e-9},
                                           "y": {"length": 3.2e-6, "pixel_size": 100e-9}},
                                  "steps": {"time_points": 200, "interval": 0.05}})
            steps = threading.Semaphore(0)
            app.connect_end(steps.release, 1)
            app.start(m)
            for _ in range(3):
                assert steps.acquire(timeout=30)
            path = m.path()
        finally:
            app.close_connection()
    finally:
        assert service.stop() == 0  # SIGTERM
    log = (tmp_path / "service" / "logs" / "specpy-serve.log").read_text()
    assert "SIGTERM: stopping" in log and "paused" in log and "stopped" in log
    with File(path, File.Read) as f:
        stack = f.read(0)
        frames = stack.meta_data()["samples_written"] // (32 * 32)
        assert 3 <= frames < 200
        assert all(stack.data()[t].sum() > 0 for t in range(frames))
