"""Whole processes: a lab script written only from the reference document, and kill -9 mid-run."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from specpy import File

REPO = Path(__file__).resolve().parents[2]

LAB_SCRIPT = """
from specpy import *

im = get_application()
print("version", im.version(), "host", repr(im.host()))
m = im.create_measurement()
m.set_parameters("scan/x/length", 3.2e-6)
m.set_parameters("scan/y/length", 3.2e-6)
m.set_parameters("scan/x/pixel_size", 100e-9)
m.set_parameters("scan/y/pixel_size", 100e-9)
m.set_parameters("steps/time_points", 3)
steps = []
im.connect_end(lambda: steps.append(1), 1)
im.run(m)
print("steps", len(steps))
stack = m.stack(0)
print("stack", stack.name(), stack.sizes(), int(stack.data().sum() > 0))
m.save_as("{path}")
again = im.open("{path}")
print("reopened", again.stack(0).sizes(), int((again.stack(0).data() == stack.data()).all()))
"""


def run_script(text: str, tmp_path: Path, **kwargs) -> subprocess.Popen:
    environment = dict(os.environ, SPECPY_DATA=str(tmp_path / "data"), PYTHONPATH=str(REPO))
    environment.pop("SPECPY_RIG", None)
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(text))
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=environment,
                            start_new_session=True, **kwargs)


def test_a_lab_script_from_the_reference_runs_unchanged(tmp_path):
    process = run_script(LAB_SCRIPT.format(path=tmp_path / "saved.obf"), tmp_path)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "host ''" in output
    assert "steps 3" in output
    assert "stack Configuration counts [32, 32, 1, 3] 1" in output
    assert "reopened [32, 32, 1, 3] 1" in output


KILLED = """
from specpy import *

im = get_application()
m = im.create_measurement()
m.set_parameters("", {"scan": {"x": {"length": 3.2e-6, "pixel_size": 100e-9},
                               "y": {"length": 3.2e-6, "pixel_size": 100e-9}},
                      "steps": {"time_points": 200, "interval": 0.05}})
print("path", m.path(), flush=True)
im.connect_end(lambda: print("step", flush=True), 1)
im.run(m)
"""


def test_kill_9_mid_run_leaves_every_completed_step_in_the_autosave(tmp_path):
    process = run_script(KILLED, tmp_path)
    try:
        path = process.stdout.readline().split(" ", 1)[1].strip()
        for _ in range(4):
            assert process.stdout.readline().strip() == "step"
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the script and its simulator
        process.communicate(timeout=30)
    with File(path, File.Read) as f:
        stack = f.read(0)
        written = stack.meta_data()["samples_written"]
        frames = written // (32 * 32)
        assert 4 <= frames < 200
        data = stack.data()
        assert all(data[t].sum() > 0 for t in range(frames))
        assert not data[frames:].any()
        assert stack.parameters("configuration/parameters/steps/time_points") == 200
    np.testing.assert_array_equal(data.shape, (200, 1, 32, 32))
