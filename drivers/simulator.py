"""The simulated rig as a subprocess (`python -m device_sim RIG.toml --json`): started, its one JSON line of
addresses read, and stopped. The drivers never import the simulator; they meet it only at the wire."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from specpy.errors import Error


class SimulatorError(Error, RuntimeError):
    """The simulator subprocess did not start or did not say where its instruments are."""


class SimulatorProcess:
    """One `python -m device_sim` process serving a rig file; `addresses` maps instrument -> its address entry."""

    def __init__(self, rig_text: str, *, firmware: bool = True, start_timeout: float = 120.0):
        self.run_dir = tempfile.mkdtemp(prefix="specpy-sim-")
        self.rig_path = os.path.join(self.run_dir, "rig.toml")
        with open(self.rig_path, "w", encoding="utf-8") as stream:
            stream.write(rig_text)
        self._stderr = open(os.path.join(self.run_dir, "simulator.log"), "w+b")
        command = [sys.executable, "-m", "device_sim", self.rig_path, "--json", "--run-dir",
                   os.path.join(self.run_dir, "dev")]
        if not firmware:
            command.append("--no-firmware")
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, start_new_session=True)
        try:
            report = self._first_line(start_timeout)
        except BaseException:
            self.stop()
            raise
        self.addresses: dict[str, dict[str, str]] = report["instruments"]
        self.control: str = report["control"]

    def _first_line(self, timeout: float) -> dict[str, Any]:
        """The JSON line the simulator prints once every instrument is up (the firmware may build first)."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([proc.stdout], [], [], max(left, 0))
            if not ready:
                raise SimulatorError(f"the simulator said nothing within {timeout:g} s{self._log_tail()}")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise SimulatorError(f"the simulator exited with status {proc.wait()}{self._log_tail()}")
            line += chunk
        try:
            report = json.loads(line)
            report["instruments"], report["control"]  # noqa: B018 - both must be there
        except (ValueError, KeyError, TypeError) as error:
            raise SimulatorError(f"the simulator's address line {line[:200]!r} is not what was expected") from error
        return report

    def _log_tail(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        return f"; its log ends:\n{tail}" if tail else ""

    @property
    def running(self) -> bool:
        """Whether the simulator process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the simulator (SIGTERM, then SIGKILL), close its pipes and remove its run directory (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if not self._stderr.closed:
            self._stderr.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)
