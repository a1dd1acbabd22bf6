"""The OBIS-style lasers and the ASI-style stage through pyserial on their ptys."""

from __future__ import annotations

import os

import pytest


def obis(port, command: str) -> list[str]:
    """Send one OBIS command; the reply lines up to and including OK or ERR-xxx."""
    port.write(command.encode() + b"\r\n")
    lines = []
    while True:
        line = port.readline()
        assert line.endswith(b"\r\n"), f"no complete reply to {command!r}: {line!r}"
        lines.append(line[:-2].decode())
        if lines[-1] == "OK" or lines[-1].startswith("ERR-"):
            return lines


def asi(port, command: str) -> str:
    """Send one ASI command (CR-terminated); its single reply line."""
    port.write(command.encode() + b"\r")
    line = port.readline()
    assert line.endswith(b"\r\n"), f"no complete reply to {command!r}: {line!r}"
    return line[:-2].decode()


def test_serial_endpoints_are_stable_symlinks_to_ptys(rig) -> None:
    for name in ("excitation_laser", "sted_laser", "stage"):
        entry = rig.addresses()[name]
        assert os.path.islink(entry["path"]) and os.readlink(entry["path"]) == entry["device"]
        assert entry["device"].startswith("/dev/pts/") and entry["resource"] == f"ASRL{entry['path']}::INSTR"


def test_obis_identity_power_emission_and_limits(rig, open_serial) -> None:
    laser = open_serial(rig["sted_laser"].server.path)
    assert obis(laser, "*IDN?") == ["Coherent, Inc - OBIS 775nm 1000mW LX - SIM-OBIS-0002 - V3.1.0", "OK"]
    assert obis(laser, "SYST:INF:WAV?") == ["775", "OK"]
    assert float(obis(laser, "SOUR:POW:LIM:HIGH?")[0]) == 1.0
    assert float(obis(laser, "SOURce:POWer:LIMit:LOW?")[0]) == 0.0
    assert obis(laser, "SOUR:POW:LEV:IMM:AMPL 0.25") == ["OK"]
    assert float(obis(laser, "SOUR:POW:LEV:IMM:AMPL?")[0]) == 0.25
    assert rig.world.lasers["sted"].setpoint == 0.25
    assert obis(laser, "SOUR:POW:LEV:IMM:AMPL 1.5") == ["ERR-500"]
    assert obis(laser, "SOUR:POW:LEV:IMM:AMPL lots") == ["ERR-102"]
    assert obis(laser, "SOUR:AM:STAT MAYBE") == ["ERR-102"]
    assert obis(laser, "SOUR:BOGUS?") == ["ERR-100"]
    assert obis(laser, "SYST:LOCK?") == ["ON", "OK"]


def test_obis_warm_up_status_word_and_handshake(rig, open_serial) -> None:
    rig.world.clock.freeze()
    laser = open_serial(rig["excitation_laser"].server.path)
    assert obis(laser, "SOUR:POW:LEV:IMM:AMPL 0.01") == ["OK"]
    assert obis(laser, "SYST:STAT?")[0] == "0000000C"  # ready + standby
    assert obis(laser, "SOUR:AM:STAT ON") == ["OK"]
    assert obis(laser, "SOUR:AM:STAT?") == ["ON", "OK"]
    assert float(obis(laser, "SOUR:POW:LEV?")[0]) == 0.0  # warming up
    assert obis(laser, "SYST:STAT?")[0] == "00000014"  # ready + warming up
    rig.world.clock.advance(rig.world.lasers["excitation"].warmup)
    assert float(obis(laser, "SOUR:POW:LEV?")[0]) == 0.01
    assert obis(laser, "SYST:STAT?")[0] == "00000006"  # ready + emission
    laser.write(b"SYST:COMM:HAND OFF\r\nSOUR:AM:STAT OFF\r\nSOUR:AM:STAT?\r\n")  # no OKs now
    assert laser.readline() == b"OFF\r\n"
    assert obis(laser, "SYST:COMM:HAND ON") == ["OK"]
    assert obis(laser, "*RST") == ["OK"]
    assert float(obis(laser, "SOUR:POW:LEV:IMM:AMPL?")[0]) == 0.0


def test_asi_stage_moves_polls_busy_and_reports_position(rig, open_serial) -> None:
    rig.world.clock.freeze()
    stage = open_serial(rig["stage"].server.path)
    assert asi(stage, "WHO") == ":A ASI-MS2000-XYZ SIM"
    assert asi(stage, "W X Y Z") == ":A 0.0 0.0 0.0"
    assert asi(stage, "MOVE X=10000 Y=-5000") == ":A"  # 1 mm, -0.5 mm
    assert asi(stage, "STATUS") == "B" and asi(stage, "/") == "B"
    rig.world.clock.advance(0.25)  # 2 mm/s: x is half way
    assert asi(stage, "WHERE X Y") == ":A 5000.0 -5000.0"
    rig.world.clock.advance(1.0)
    assert asi(stage, "/") == "N" and asi(stage, "W X") == ":A 10000.0"
    assert asi(stage, "R X=-2500") == ":A"
    rig.world.clock.advance(1.0)
    assert asi(stage, "where x") == ":A 7500.0"
    assert rig.world.stage.position(rig.world.clock.now())[0] == pytest.approx(0.75e-3)


def test_asi_stage_speed_limits_home_halt_and_errors(rig, open_serial) -> None:
    rig.world.clock.freeze()
    stage = open_serial(rig["stage"].server.path)
    assert asi(stage, "S X=5 Y=4") == ":A" and asi(stage, "SPEED X? Y?") == ":A X=5.000000 Y=4.000000"
    assert asi(stage, "S X=500") == ":N-4"
    assert asi(stage, "SL X=-1") == ":A" and asi(stage, "SU X=1") == ":A"
    assert asi(stage, "SL X?") == ":A X=-1.000000" and asi(stage, "SU X?") == ":A X=1.000000"
    assert asi(stage, "M X=20000") == ":N-4"  # 2 mm is beyond the 1 mm soft limit
    assert asi(stage, "M X=5000") == ":A"
    rig.world.clock.advance(0.05)
    assert asi(stage, "\\") == ":A" and asi(stage, "/") == "N"
    assert asi(stage, "! X") == ":A" and asi(stage, "/") == "B"
    rig.world.clock.advance(1.0)
    assert asi(stage, "W X") == ":A 0.0" and rig.world.stage.axes["x"].homed(rig.world.clock.now())
    assert asi(stage, "FLY X=1") == ":N-1"
    assert asi(stage, "M Q=1") == ":N-2"
    assert asi(stage, "M") == ":N-3"
    assert asi(stage, "M X=abc") == ":N-4"
    assert asi(stage, "M X") == ":N-3"
