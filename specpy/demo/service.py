"""A `specpy serve` subprocess on loopback: started on a free port, waited for, and stopped by its PID.

The service runs in its own session (so a Ctrl-C on the terminal reaches only the demo, which
then stops the service itself): SIGTERM first (the service pauses, closes its measurements and
stops its simulator), then, if it has not exited in time, SIGKILL to its process group (its PID).
"""

from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..errors import Error

SERVICE_LOG = "specpy-serve.log"  # in the service's data directory
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # where specpy, drivers and device_sim are importable from


class ServiceFailed(Error, RuntimeError):
    """The service did not start (its last log lines are in the message)."""


class ServiceProcess:
    """One `python -m specpy.cli serve RIG --host 127.0.0.1 --port 0` process, its data under `data`."""

    def __init__(self, rig: Path | None, data: Path) -> None:
        data.mkdir(parents=True, exist_ok=True)
        environment = {key: value for key, value in os.environ.items() if key not in ("SPECPY_RIG", "SPEC_SERVER_PORT")}
        environment["SPECPY_DATA"] = str(data)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "specpy.cli", "serve", *([str(rig)] if rig else []),
                   "--host", "127.0.0.1", "--port", "0", "--log", str(data / SERVICE_LOG), "--exit-with-parent"]
        self.log = data / SERVICE_LOG
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=environment, start_new_session=True)
        self.pid = self.process.pid
        self.port = 0
        self._killed = False
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        threading.Thread(target=_pump, args=(self.process.stdout, self._lines.put, None), daemon=True).start()
        self._stderr_pump = threading.Thread(target=_pump, args=(self.process.stderr, self._stderr.append, ""),
                                             daemon=True)
        self._stderr_pump.start()

    def wait_ready(self, timeout: float = 60.0) -> int:
        """Wait for the service's `ready ... port N ...` line and return its port; ServiceFailed otherwise."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        words = (line or "").split()
        if not words or words[0] != "ready" or "port" not in words[:-1]:
            self.stop()
            self._stderr_pump.join(5)  # everything it said before it exited
            raise ServiceFailed(f"`specpy serve` (pid {self.pid}) did not become ready within {timeout:g} s "
                                f"(exit status {self.process.returncode}):\n" + "".join(self._stderr))
        self.port = int(words[words.index("port") + 1])
        return self.port

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL the service's process group (its PID) if it has not exited. The exit status."""
        if self.process.poll() is None:
            self._signal(self.process.send_signal, signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if not self._killed:  # hung or died on its own: its simulator may still run in its group
            self._killed = True
            self._signal(lambda number: os.killpg(self.pid, number), signal.SIGKILL)
        return self.process.wait(timeout)

    @staticmethod
    def _signal(send: Callable[[int], None], number: signal.Signals) -> None:
        try:
            send(number)
        except ProcessLookupError:
            pass


def _pump(stream: IO[str], sink: Callable[[str | None], None], end: str | None) -> None:
    """Copy a pipe's lines to `sink`, then `end` (None tells a waiter that stdout closed)."""
    for line in stream:
        sink(line)
    sink(end)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt (as Ctrl-C does), so `finally` blocks stop the service."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_number: int, _frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def loopback_service(rig: Path | None, data: Path, timeout: float = 60.0) -> Iterator[ServiceProcess]:
    """A ready service on 127.0.0.1 (a free port: `.port`), stopped on leaving, however the block ends."""
    with _sigterm_interrupts():
        service = ServiceProcess(rig, data)
        try:
            service.wait_ready(timeout)
            yield service
        finally:
            service.stop()
