"""A laser head speaking the Coherent OBIS serial protocol (SCPI-like, CR LF, OK / ERR-xxx)."""

from __future__ import annotations

import sys
from pathlib import Path

from device_sim.commands import CommandError, CommandTable, dispatch, split_units
from device_sim.endpoint import Served
from device_sim.errors import DeviceError
from device_sim.faults import Faults
from device_sim.serial_server import SerialLineServer
from device_sim.world import World

EOL = b"\r\n"


class ObisLaser(Served):
    """One World laser behind a pty. With handshaking ON (the default) every command is
    acknowledged: a query answers its value line then "OK", a setting answers "OK"."""

    def __init__(self, world: World, laser: str, link: Path, serial: str,
                 faults: Faults | None = None) -> None:
        """Serve World laser `laser` ("excitation" or "sted") on a pty reached via `link`."""
        self.world = world
        self.laser = world.lasers[laser]
        self.serial = serial
        self.handshake = True
        self.table = CommandTable.load("obis_laser")
        self.table.check_handlers(self)
        self.server = SerialLineServer(link, self.process, faults, EOL)

    def process(self, raw: bytes) -> bytes | None:
        """Execute one command line; the reply lines (CR LF each) or None."""
        lines: list[str] = []
        with self.world.lock:
            try:
                for unit in split_units(raw.decode("ascii")):
                    value = dispatch(self.table, self, unit)
                    if value is not None:
                        lines.append(value)
                    if self.handshake:
                        lines.append("OK")
            except UnicodeDecodeError:
                lines.append(self.table.sections["errors"]["syntax"])
            except CommandError as exc:
                lines.append(self.table.sections["errors"][exc.kind])
            except DeviceError:
                lines.append(self.table.sections["errors"]["execution"])
            except Exception as exc:  # a handler bug is a device error, never a dead port
                print(f"device_sim: OBIS {self.laser.name}: {exc!r}", file=sys.stderr)
                lines.append(self.table.sections["errors"]["device"])
        return b"".join(line.encode() + EOL for line in lines) if lines else None

    def _info(self) -> dict[str, object]:
        return {"nm": round(self.laser.wavelength * 1e9), "mw": round(self.laser.max_power * 1e3),
                "serial": self.serial}

    def q_idn(self) -> str:
        """*IDN?: maker, model, serial, firmware."""
        return self.table.sections["instrument"]["idn"].format_map(self._info())

    def q_model(self) -> str:
        """SYST:INF:MOD?: the model name."""
        return self.table.sections["instrument"]["model"].format_map(self._info())

    def q_serial(self) -> str:
        """SYST:INF:SNUM?: the serial number."""
        return self.serial

    def q_wavelength(self) -> float:
        """SYST:INF:WAV?: the wavelength in nm."""
        return self.laser.wavelength * 1e9

    def q_setpoint(self) -> float:
        """SOUR:POW:LEV:IMM:AMPL?: the power setpoint in W."""
        return self.laser.setpoint

    def do_power(self, watts: float) -> None:
        """SOUR:POW:LEV:IMM:AMPL <W>: set the power (0 .. the head's maximum)."""
        self.laser.set_power(watts)

    def q_output(self) -> float:
        """SOUR:POW:LEV?: the power emitted now in W (0 while off or warming up)."""
        return self.laser.output(self.world.clock.now())

    def q_max_power(self) -> float:
        """SOUR:POW:LIM:HIGH?: the maximum power in W."""
        return self.laser.max_power

    def q_min_power(self) -> float:
        """SOUR:POW:LIM:LOW?: the minimum power in W."""
        return 0.0

    def q_emission(self) -> bool:
        """SOUR:AM:STAT?: emission enabled."""
        return self.laser.enabled

    def do_emission(self, on: bool) -> None:
        """SOUR:AM:STAT ON|OFF: emission on (after the warm-up delay) or off."""
        self.laser.enable(on, self.world.clock.now())

    def q_interlock(self) -> bool:
        """SYST:LOCK?: ON when the interlock is closed (the laser may emit)."""
        return self.laser.interlock_closed

    def q_status(self) -> int:
        """SYST:STAT?: the status word (bits in the table)."""
        bits, now, laser = self.table.sections["status_bits"], self.world.clock.now(), self.laser
        word = bits["emission"] if laser.output(now) > 0 else 0
        word |= bits["standby"] if not laser.enabled else 0
        word |= bits["warming_up"] if laser.warming_up(now) else 0
        word |= bits["fault"] if not laser.interlock_closed else bits["ready"]
        return word

    def q_fault(self) -> int:
        """SYST:FAUL?: the fault word (bits in the table)."""
        return 0 if self.laser.interlock_closed else self.table.sections["fault_bits"]["interlock"]

    def q_handshake(self) -> bool:
        """SYST:COMM:HAND?: whether commands are acknowledged with OK."""
        return self.handshake

    def do_handshake(self, on: bool) -> None:
        """SYST:COMM:HAND ON|OFF."""
        self.handshake = on

    def do_rst(self, _: None) -> None:
        """*RST: emission off, setpoint 0, handshaking on."""
        self.laser.reset()
        self.handshake = True

    def q_tst(self) -> int:
        """*TST?: self-test, 0 = passed."""
        return 0

    def device_error(self, kind: str, value: object = None) -> None:
        """"interlock": open (value True/"open") or close (False/"closed") the interlock."""
        if kind != "interlock":
            super().device_error(kind, value)
        with self.world.lock:
            self.laser.set_interlock(closed=value in (False, "closed", "close", 0))
