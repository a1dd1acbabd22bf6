"""The demo's service on loopback: started on a free port, stopped by PID however the job ends (errors, Ctrl-C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from drivers.rig import default_rig_path
from specpy.demo.rig import write_rig
from specpy.demo.service import SERVICE_LOG, ServiceFailed, loopback_service

from .conftest import user_environment


def gone(pid: int) -> bool:
    """True once no process has this PID."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_service_serves_a_remote_application_and_stops_cleanly_after_an_error(tmp_path, monkeypatch):
    from specpy import get_application

    monkeypatch.setenv("SPECPY_DATA", str(tmp_path / "client"))
    rig = write_rig(tmp_path / "rig.toml", default_rig_path(), seed=3)
    with pytest.raises(RuntimeError, match="the job failed"):
        with loopback_service(rig, tmp_path / "service") as service:
            assert service.port > 0
            application = get_application(f"localhost:{service.port}")
            try:
                assert application.version() and application.host() == f"localhost:{service.port}"
            finally:
                application.close_connection()
            raise RuntimeError("the job failed")
    assert service.process.returncode == 0  # SIGTERM was enough: a clean stop
    assert gone(service.pid)
    log = (tmp_path / "service" / SERVICE_LOG).read_text()
    assert "SIGTERM: stopping" in log


def test_a_service_that_cannot_start_says_why_and_leaves_nothing_running(tmp_path):
    rig = tmp_path / "broken.toml"
    rig.write_text("[rig]\nname = 'broken'\n[devices.laser]\ndriver = 'no_such_driver'\nresource = 'x'\n")
    with pytest.raises(ServiceFailed, match="no_such_driver") as caught:
        with loopback_service(rig, tmp_path / "service", timeout=60):
            pytest.fail("the service cannot have become ready")
    pid = int(str(caught.value).split("pid ")[1].split(")")[0])
    assert gone(pid)


def test_ctrl_c_on_the_demo_stops_its_service(tmp_path):
    out = tmp_path / "out"
    log = out / "service" / SERVICE_LOG
    demo = subprocess.Popen([sys.executable, "-m", "specpy.cli", "demo", "--out", str(out)], cwd=tmp_path,
                            env=user_environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60  # a bound on waiting, not an assertion on time
        while not (log.is_file() and "service imspector port" in log.read_text()):
            assert demo.poll() is None and time.monotonic() < deadline, demo.communicate(timeout=30)
            time.sleep(0.05)
        demo.send_signal(signal.SIGINT)
        # A bound, not a speed assertion: stopping the service may take its 30 s SIGTERM grace plus 30 s more.
        _, err = demo.communicate(timeout=150)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(30)
    assert demo.returncode == 130 and "specpy demo: interrupted" in err
    text = log.read_text()
    pid = int(text.split(" pid ")[1].split()[0])
    assert "SIGTERM: stopping" in text and text.rstrip().endswith("stopped")
    assert gone(pid)


def test_a_killed_demo_leaves_no_service_behind(tmp_path):
    """kill -9 of the demo: its service (in its own session) notices the orphaning and stops."""
    out = tmp_path / "out"
    log = out / "service" / SERVICE_LOG
    demo = subprocess.Popen([sys.executable, "-m", "specpy.cli", "demo", "--out", str(out)], cwd=tmp_path,
                            env=user_environment(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60  # a bound on waiting, not an assertion on time
        while not (log.is_file() and "service imspector port" in log.read_text()):
            assert demo.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        demo.kill()
        demo.wait(30)
    text = log.read_text()
    pid = int(text.split(" pid ")[1].split()[0])
    deadline = time.monotonic() + 60
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(pid), "the service outlived the demo that started it"
    assert "the parent process" in log.read_text()
