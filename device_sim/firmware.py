"""Build the shutter/filter-wheel firmware (firmware_stubs/) with the machine's C compiler and
run it on a pty, its GPIO wired into the World in lock step."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from device_sim.pty_port import PtyPort
from device_sim.world import World

SOURCE = Path(__file__).resolve().parent.parent / "firmware_stubs" / "shutter_wheel"
PIN_SHUTTER_DRIVE, PIN_WHEEL_STEP, PIN_WHEEL_DIR, PIN_SHUTTER_SENSE, PIN_WHEEL_INDEX = range(5)
WIRE_FAULTS = {"latency": "latency_ms", "drop": "drop", "garble": "garble"}


def cache_dir() -> Path:
    """Where builds go: $DEVICE_SIM_CACHE, else ~/.cache/device_sim (never the source tree)."""
    return Path(os.environ.get("DEVICE_SIM_CACHE") or Path.home() / ".cache" / "device_sim")


def build(where: Path | None = None) -> Path:
    """Build the firmware with make (once per source version); the path of the executable."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    out = (where or cache_dir()) / f"shutter_wheel-{digest.hexdigest()[:16]}"
    binary = out / "shutter_wheel"
    if not binary.exists():
        result = subprocess.run(["make", "-C", str(SOURCE), f"BUILD={out}"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"firmware build failed:\n{result.stdout}\n{result.stderr}")
    return binary


class FirmwareFaults:
    """Wire faults of the firmware's UART, applied inside the host HAL (same API as Faults)."""

    def __init__(self, send: Callable[[str], None]) -> None:
        """`send` writes one control line to the running firmware."""
        self._send = send

    def set(self, **settings: float) -> None:
        """latency (s), drop (next n responses), garble (next n responses)."""
        for name, value in settings.items():
            if name not in WIRE_FAULTS or value < 0:
                raise ValueError(f"firmware fault {name}={value!r}: expected one of {sorted(WIRE_FAULTS)} >= 0")
            self._send(f"F {WIRE_FAULTS[name]} {round(value * 1000) if name == 'latency' else int(value)}")

    def clear(self) -> None:
        """No faults."""
        self.set(latency=0, drop=0, garble=0)


class ShutterWheelController:
    """The firmware process serving a pty behind `link`; its pins move the World's shutter and
    wheel, and the World's sensors answer back. Unplug powers it off, replug boots it again."""

    def __init__(self, world: World, link: Path, binary: Path | None = None) -> None:
        """Use `binary` or build the firmware on demand at start()."""
        self.world = world
        self.port = PtyPort(link)
        self.binary = binary
        self.faults = FirmwareFaults(self._send)
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._send_lock = threading.Lock()

    @property
    def path(self) -> str:
        """The stable path clients open."""
        return str(self.port.link)

    @property
    def pty(self) -> PtyPort:
        """The pty the firmware serves."""
        return self.port

    @property
    def address(self) -> str:
        """The VISA resource string (pyvisa-py ASRL with a device path)."""
        return f"ASRL{self.path}::INSTR"

    def start(self) -> None:
        """Power on: a fresh pty and a fresh firmware process (the wheel homes itself)."""
        if self.binary is None:
            self.binary = build()
        master = self.port.open()
        self._proc = subprocess.Popen([str(self.binary), str(master)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, pass_fds=(master,))
        self._reader = threading.Thread(target=self._serve, args=(self._proc,), daemon=True,
                                        name="sim-firmware")
        self._reader.start()

    def stop(self) -> None:
        """Power off: end the process, join the reader, close the pty, remove the link."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with self._send_lock:
                proc.stdin.close()  # type: ignore[union-attr]
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
            self._reader = None
        if proc is not None:
            proc.stdout.close()  # type: ignore[union-attr]
        self.port.close()

    def unplug(self) -> None:
        """Pull the USB cable: the controller loses power and the device path disappears."""
        self.stop()

    def replug(self) -> None:
        """Plug it back in: the firmware boots again behind the same path."""
        if self._proc is None:
            self.start()

    def inputs(self) -> int:
        """The input-pin bitmask as the World's sensors see it now."""
        with self.world.lock:
            return (self.world.shutter.open << PIN_SHUTTER_SENSE) \
                | (self.world.wheel.index_sensor() << PIN_WHEEL_INDEX)

    def _send(self, line: str) -> None:
        with self._send_lock:
            proc = self._proc
            if proc is None:
                raise RuntimeError("the shutter/wheel controller is not running")
            proc.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]

    def sensors_changed(self) -> None:
        """Tell the firmware that an input changed on its own (e.g. a stuck blade was freed)."""
        self._send(f"I {self.inputs()}")

    def _serve(self, proc: subprocess.Popen[bytes]) -> None:
        levels = {PIN_WHEEL_DIR: 1, PIN_WHEEL_STEP: 0}
        for raw in proc.stdout:  # type: ignore[union-attr]
            parts = raw.split()
            if len(parts) != 4 or parts[0] != b"G":
                print(f"device_sim: firmware said {raw[:80]!r}", file=sys.stderr)
                continue
            pin, level, seq = int(parts[1]), int(parts[2]), int(parts[3])
            with self.world.lock:
                if pin == PIN_SHUTTER_DRIVE:
                    self.world.shutter.drive(bool(level))
                elif pin == PIN_WHEEL_STEP and level and not levels[PIN_WHEEL_STEP]:
                    self.world.wheel.pulse(forward=bool(levels[PIN_WHEEL_DIR]))
                levels[pin] = level
            try:
                self._send(f"A {seq} {self.inputs()}")
            except (RuntimeError, OSError, ValueError):
                return

    def device_error(self, kind: str, value: object = True) -> None:
        """"stuck_shutter" (the blade ignores its drive) or "jam_wheel" (steps are lost); value
        False frees it again."""
        stuck = value not in (False, "false", "off", 0)
        with self.world.lock:
            if kind == "stuck_shutter":
                self.world.shutter.stuck = stuck
            elif kind == "jam_wheel":
                self.world.wheel.jammed = stuck
            else:
                raise ValueError(f"shutter/wheel controller has no device error {kind!r}")
