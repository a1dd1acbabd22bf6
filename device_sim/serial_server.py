"""A line-oriented serial device on a pty, shared by the lasers and the stage: reads lines
ending in CR or LF, answers through the protocol's handler, applies wire faults."""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from device_sim.faults import Faults
from device_sim.pty_port import PtyPort

MAX_LINE = 256  # longer input is answered as one bad command, like a full UART buffer


class SerialLineServer:
    """Serve `process(line) -> reply bytes | None` on a pty reached through `link`."""

    def __init__(self, link: Path, process: Callable[[bytes], bytes | None],
                 faults: Faults | None = None, terminator: bytes = b"\r\n") -> None:
        """`terminator` ends every reply line (garbling never touches the last one)."""
        self.port = PtyPort(link)
        self.process = process
        self.faults = faults or Faults()
        self.terminator = terminator
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        """The stable path clients open."""
        return str(self.port.link)

    @property
    def address(self) -> str:
        """The VISA resource string (pyvisa-py ASRL with a device path)."""
        return f"ASRL{self.path}::INSTR"

    def start(self) -> None:
        """Create the pty and serve it from a thread."""
        with self._lock:
            self.port.open()
            self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"sim-serial-{self.port.link.name}")
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, close the pty, remove the link."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        with self._lock:
            self.port.close()

    def unplug(self) -> None:
        """Pull the adapter: the pty closes and the link disappears until replug()."""
        with self._lock:
            self.port.close()

    def replug(self) -> None:
        """Plug it back in: a new pty behind the same link (clients must reopen the path)."""
        with self._lock:
            if self.port.master is None:
                self.port.open()

    def _serve(self) -> None:
        buffer = b""
        while self._running:
            with self._lock:
                fd = self.port.master
                if fd is not None:
                    buffer = self._poll(fd, buffer)
                else:
                    buffer = b""
            if fd is None:
                time.sleep(0.02)

    def _poll(self, fd: int, buffer: bytes) -> bytes:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            return buffer
        try:
            buffer += os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return buffer
        except OSError:  # no slave open at the moment: nothing to read
            return b""
        while True:
            cut = min((i for i in (buffer.find(b"\r"), buffer.find(b"\n")) if i >= 0), default=-1)
            if cut < 0:
                break
            line, buffer = buffer[:cut], buffer[cut + 1:]
            if line:
                self._answer(fd, line)
        if len(buffer) > MAX_LINE:
            self._answer(fd, buffer[:MAX_LINE])
            buffer = b""
        return buffer

    def _answer(self, fd: int, line: bytes) -> None:
        try:
            reply = self.process(line)
        except Exception as exc:  # the device must outlive any handler bug
            print(f"device_sim: serial handler failed on {line[:80]!r}: {exc!r}", file=sys.stderr)
            return
        if reply is None:
            return
        delivered = self.faults.apply(reply, keep_tail=len(self.terminator))
        if delivered is None:
            return
        view = memoryview(delivered)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                select.select([], [fd], [], 0.05)
            except OSError:
                return
