"""Running the demo and the examples as a user would: each in its own process, stopped by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_process(arguments: list[str], env: dict[str, str], cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run a Python process to its end; on a timeout interrupt it (so it shuts its simulator down), then kill it by PID."""
    process = subprocess.Popen([sys.executable, *arguments], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # KeyboardInterrupt: the application shuts its rig down
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        pytest.fail(f"{arguments} did not finish within {timeout:g} s\nstdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def user_environment(directory: Path) -> dict[str, str]:
    """The environment of a user's shell, with every specpy file (data, config) under `directory`."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("SPECPY_RIG", "SPECPY_DATABASE_URL", "SPECPY_PRODUCT_ROOT")}
    env.update(SPECPY_DATA=str(directory / "data"), XDG_CONFIG_HOME=str(directory / "config"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return env
