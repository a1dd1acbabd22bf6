"""Loopback instruments for the driver tests: a small SCPI instrument served on a real TCP socket
(127.0.0.1, port 0) or on a real pty behind a stable symlink that can be unplugged and replugged.

Run as a script it serves the SCPI instrument and prints its port (the benchmark uses this to keep
the server out of the measuring process).
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time
import tty
from collections import deque

import numpy as np

IDN = "SpecPy,Loopback,LB-0001,1.0"


class LoopbackInstrument:
    """The instrument's behaviour: a few SCPI settings, an error queue, blocks and fault commands.

    handle(line) returns (reply or None, seconds to wait before replying, close the connection?).
    """

    DEFAULTS = {"SOUR:POW": "0", "MODE": "CW", "OUTP": "0", "VAL": "none", "FREQ": "1000"}
    LIMITS = {"SOUR:POW": (0.0, 1.0), "FREQ": (1.0, 1e6)}

    def __init__(self) -> None:
        self.values = dict(self.DEFAULTS)
        self.errors: deque[str] = deque()
        self.log: list[str] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        """Back to power-on state (as after a power cycle); the log is kept."""
        with self.lock:
            self.values = dict(self.DEFAULTS)
            self.errors.clear()

    def handle(self, line: str) -> tuple[bytes | None, float, bool]:
        with self.lock:
            self.log.append(line)
            return self._handle(line.strip())

    def _handle(self, line: str) -> tuple[bytes | None, float, bool]:
        header, _, argument = line.partition(" ")
        header = header.upper()
        if header == "*IDN?":
            return IDN.encode(), 0.0, False
        if header == "*RST":
            self.values = dict(self.DEFAULTS)
            return None, 0.0, False
        if header == "*CLS":
            self.errors.clear()
            return None, 0.0, False
        if header == "*OPC?":
            return b"1", 0.0, False
        if header in ("SYST:ERR?", "SYSTEM:ERROR?"):
            return (self.errors.popleft() if self.errors else '0,"No error"').encode(), 0.0, False
        if header == "ECHO?":
            return argument.encode(), 0.0, False
        if header == "LATE?":  # LATE? <seconds> <token>: the reply comes after a delay
            delay, _, token = argument.partition(" ")
            return token.encode(), float(delay), False
        if header == "TEMP?":
            return b"295.5", 0.0, False
        if header == "WAV?":
            return b"6.4E-07", 0.0, False
        if header == "DATA?":  # DATA? <n>: n float64 (little-endian) 0, 0.5, 1.0, ... as a definite-length block
            return _block(int(argument), int(argument)), 0.0, False
        if header in ("SHORT?", "CUT?"):  # <n> <m>: a block announcing n float64 that stops after m of them;
            announced, sent = (int(v) for v in argument.split())  # SHORT? then waits, CUT? closes the connection
            return _block(announced, sent), 0.0, header == "CUT?"
        if header == "GARBLE?":
            return b"\xff\xfe\xfd", 0.0, False
        if header == "DROP":
            return None, 0.0, True
        if header.endswith("?") and header[:-1] in self.values:
            return self.values[header[:-1]].encode(), 0.0, False
        if header in self.values and argument:
            limits = self.LIMITS.get(header)
            if limits and not limits[0] <= float(argument) <= limits[1]:
                self.errors.append('-222,"Data out of range"')
            else:
                self.values[header] = argument
            return None, 0.0, False
        self.errors.append(f'-113,"Undefined header; {header}"')
        return None, 0.0, False  # like a real instrument: no reply, the client's query times out


def _block(announced: int, sent: int) -> bytes:
    """A definite-length block header for `announced` float64 and the first `sent` of them (0, 0.5, 1.0, ...)."""
    payload = (np.arange(sent) * 0.5).astype("<f8").tobytes()
    digits = str(announced * 8).encode()
    return b"#" + str(len(digits)).encode() + digits + payload


class ScpiServer:
    """The loopback instrument on a TCP socket at 127.0.0.1 (port 0), one thread per connection."""

    def __init__(self, instrument: LoopbackInstrument | None = None, termination: bytes = b"\n"):
        self.instrument = instrument or LoopbackInstrument()
        self.termination = termination
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._clients: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closing = False
        self._acceptor = threading.Thread(target=self._accept, name="scpi-accept", daemon=True)
        self._acceptor.start()

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            with self._lock:
                if self._closing:
                    client.close()
                    return
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._clients.add(client)
                thread = threading.Thread(target=self._serve, args=(client,), name="scpi-client", daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    return
                buffer += data
                while self.termination in buffer:
                    raw, buffer = buffer.split(self.termination, 1)
                    reply, delay, drop = self.instrument.handle(raw.decode("ascii", "replace"))
                    if drop:  # whatever part of a reply there is goes out first, without its termination
                        if reply is not None:
                            client.sendall(reply)
                        return
                    if delay:
                        time.sleep(delay)
                    if reply is not None:
                        client.sendall(reply + self.termination)
        except OSError:
            return  # connection reset or shut down by close()
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()

    def drop_clients(self) -> None:
        """Close every open connection from the server side (an instrument rebooting, a cable pulled)."""
        with self._lock:
            clients, threads = list(self._clients), list(self._threads)
        for client in clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its own thread
        for thread in threads:
            thread.join(timeout=5)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]

    def close(self) -> None:
        """Stop accepting, close every connection and join every thread."""
        with self._lock:
            self._closing = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self._listener.close()
        self._acceptor.join(timeout=5)
        self.drop_clients()

    def __enter__(self) -> ScpiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PtyDevice:
    """The loopback instrument on a pty, reached through a stable symlink (like /dev/serial/by-id/...).

    unplug() closes the pty (the client sees the port vanish); plug() makes a new pty and re-points
    the symlink at it, as a USB-serial adapter pulled and plugged back gets a new tty.
    """

    def __init__(self, link: str, instrument: LoopbackInstrument | None = None, termination: bytes = b"\n"):
        self.link = link
        self.instrument = instrument or LoopbackInstrument()
        self.termination = termination
        self._fds: list[int] = []
        self._thread: threading.Thread | None = None
        self.plug()

    def plug(self, *, power_cycle: bool = False) -> None:
        """Attach a fresh pty at the link; with power_cycle the instrument forgets its settings."""
        if self._thread is not None:
            raise RuntimeError("already plugged")
        if power_cycle:
            self.instrument.reset()
        master, slave = os.openpty()
        tty.setraw(slave)
        stop_r, stop_w = os.pipe()
        self._fds = [master, slave, stop_r, stop_w]
        temporary = f"{self.link}.new"
        os.symlink(os.ttyname(slave), temporary)
        os.replace(temporary, self.link)
        self._thread = threading.Thread(target=self._serve, args=(master, stop_r), name="pty-device", daemon=True)
        self._thread.start()

    def _serve(self, master: int, stop: int) -> None:
        buffer = b""
        while True:
            ready, _, _ = select.select([master, stop], [], [])
            if stop in ready:
                return
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            buffer += data
            while self.termination in buffer:
                raw, buffer = buffer.split(self.termination, 1)
                reply, delay, _ = self.instrument.handle(raw.decode("ascii", "replace"))
                if delay:
                    time.sleep(delay)
                if reply is not None:
                    os.write(master, reply + self.termination)

    def unplug(self) -> None:
        """Pull the adapter: stop serving and close the pty; the link now points at nothing of ours."""
        if self._thread is None:
            return
        os.write(self._fds[3], b"x")
        self._thread.join(timeout=5)
        self._thread = None
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def close(self) -> None:
        """Unplug and remove the link."""
        self.unplug()
        if os.path.lexists(self.link):
            os.unlink(self.link)


def _main() -> int:
    """Serve one loopback instrument on a TCP port until stdin closes; print the port first."""
    with ScpiServer() as server:
        print(server.port, flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
