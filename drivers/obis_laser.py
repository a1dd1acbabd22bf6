"""Coherent OBIS-style laser heads over serial: power setpoint in W (up to the head's own maximum), emission,
interlock and status; every command acknowledged with OK or refused with ERR-<code>."""

from __future__ import annotations

import re

from specpy.tree import Bool, Float, Int, Str

from .control import Control
from .errors import DeviceError, InterlockOpen, TransportError
from .base import Driver
from .waiting import poll_until

_ERR = re.compile(r"ERR-?(\d+)\s*\Z")
#: The OBIS error codes the driver names (from the OBIS operator's manual).
ERROR_TEXT = {100: "unknown command", 102: "bad or missing parameter", 310: "execution refused",
              500: "value out of range"}
#: SYST:STAT? bits.
STATUS_EMISSION, STATUS_READY, STATUS_WARMING_UP = 0x2, 0x4, 0x10


def _hex(text: str) -> int:
    return int(text.strip(), 16)


_ONOFF = {True: "ON", False: "OFF"}


class ObisLaser(Driver):
    """An OBIS-style CW laser head (serial, OK/ERR-handshaking): power in W, emission, interlock, status."""

    RESOURCE_KINDS = ("serial",)
    OPTIONS = {
        "read_termination": Str(default="\r\n", description="end of every reply line"),
        "write_termination": Str(default="\r", description="end of every command"),
        "baud_rate": Int(min=50, max=4_000_000, default=115200, description="serial ports only"),
    }
    PARAMETERS = {
        "power": Control(Float(unit="W", min=0.0, description="power setpoint (max: the head's, read at connect)"),
                         get="SOUR:POW:LEV:IMM:AMPL?", set="SOUR:POW:LEV:IMM:AMPL {}"),
    }
    STATES = {
        "emission": Control(Bool(description="emission enabled"), get="SOUR:AM:STAT?", set=lambda d, on: d._emit(on),
                            wire=_ONOFF),
        "interlock": Control(Bool(read_only=True, description="closed (True) means the laser may emit"),
                             get="SYST:LOCK?", wire=_ONOFF),
        "output_power": Control(Float(unit="W", read_only=True, description="power emitted now"), get="SOUR:POW:LEV?"),
        "status": Control(Int(read_only=True, description="OBIS status word (SYST:STAT?)"), get="SYST:STAT?",
                          parse=_hex),
        "fault": Control(Int(read_only=True, description="OBIS fault word, 0 = none (SYST:FAUL?)"), get="SYST:FAUL?",
                         parse=_hex),
        "wavelength": Control(Float(unit="m", read_only=True), get="SYST:INF:WAV?", scale=1e-9),
    }

    def on_connect(self) -> None:
        """Read the head's maximum power and make it the power parameter's limit, then read every value."""
        maximum = float(self.ask("SOUR:POW:LIM:HIGH?", idempotent=True))
        self._max_power = maximum
        self.refine("power", Float(unit="W", min=0.0, max=maximum, description="power setpoint"))
        self.refresh()

    def max_power(self) -> float:
        """The head's maximum power in W (read at connect)."""
        return self._max_power

    # -- the OBIS exchange: '<value>' 'OK' for a query, 'OK' for a setting, 'ERR-<code>' for a refusal ------
    def _reply_line(self, command: str, line: str) -> str:
        match = _ERR.match(line.strip())
        if match:
            code = int(match.group(1))
            raise DeviceError(self.name, command, code, f"ERR-{code} {ERROR_TEXT.get(code, 'device error')}")
        return line.strip()

    def _acknowledged(self, command: str) -> None:
        transport = self._io()
        ack = transport.read().strip()
        if ack != "OK":
            self._desynced = True
            raise TransportError(self.resource, command, f"expected the acknowledgement 'OK', got {ack!r}")

    def _query(self, command: str) -> str:
        value = self._reply_line(command, self._io().query(command))
        self._acknowledged(command)
        return value

    def _command(self, command: str) -> None:
        reply = self._reply_line(command, self._io().query(command))
        if reply != "OK":
            self._desynced = True
            raise TransportError(self.resource, command, f"expected the acknowledgement 'OK', got {reply!r}")

    def _after_sync(self) -> None:
        self._acknowledged(self.IDENTIFY or "")

    # -- emission -----------------------------------------------------------------------------------
    def _emit(self, on: bool) -> None:
        """Switch emission; a refusal with the interlock open is an InterlockOpen error saying so."""
        command = f"SOUR:AM:STAT {_ONOFF[on]}"
        try:
            self.send(command)
        except DeviceError as error:
            if on and error.code == 310 and not self.states.read("interlock"):
                raise InterlockOpen(self.name, command, 310, "interlock open: emission refused (ERR-310)") from error
            raise

    def wait_until_emitting(self, timeout: float = 10.0) -> None:
        """Block until the head emits at its setpoint's level (warm-up over); InterlockOpen if it cannot."""
        def emitting() -> tuple[bool, str]:
            status = self.states.read("status")
            if not self.states.read("interlock"):
                raise InterlockOpen(self.name, "SYST:LOCK?", None, "interlock open: the laser cannot emit")
            return bool(status & STATUS_EMISSION), f"status {status:08X}"

        poll_until(self.name, "emitting", emitting, timeout)

    def device_problems(self) -> list[str]:
        """The fault word and the interlock, as text."""
        problems = []
        if not self.states.read("interlock"):
            problems.append("interlock open")
        fault = self.states.read("fault")
        if fault:
            problems.append(f"fault word {fault:08X}")
        return problems
