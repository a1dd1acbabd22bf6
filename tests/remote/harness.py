"""Running `specpy serve` in a subprocess for the remote tests: start, wait for ready, stop, kill."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port the OS says is free now (for the SPEC_SERVER_PORT tests only)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """`python -m specpy.cli serve ...` in its own session (so kill -9 reaches its simulator too)."""

    def __init__(self, arguments: list[str], data: Path, env: dict[str, str] | None = None) -> None:
        environment = dict(os.environ, SPECPY_DATA=str(data), PYTHONPATH=str(REPO), **(env or {}))
        environment.pop("SPECPY_RIG", None)
        self.process = subprocess.Popen([sys.executable, "-m", "specpy.cli", "serve", *arguments],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                                        start_new_session=True)
        self._lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.process.stdout, self._lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr.append), daemon=True).start()
        self.port = 0

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink(line)

    def ready(self, timeout: float = 60.0) -> int:
        """Wait for the `ready ...` line; return the client port it names."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the service never said ready:\n" + "".join(self.stderr[-30:])) from None
        words = line.split()
        self.port = int(words[words.index("port") + 1])
        return self.port

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, and wait for a clean exit (SIGKILL to the whole session if it does not come)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("the service did not stop on SIGTERM") from None
        self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """kill -9 the service and everything it started (its simulator)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)
