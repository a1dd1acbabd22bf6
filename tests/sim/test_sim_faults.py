"""Each fault kind on each transport: latency, dropped replies, garbled bytes, unplug/replug,
device errors; from the Python API and from the command line of a running rig."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import serial

from tests.sim.test_sim_firmware import fw, wait_for
from tests.sim.test_sim_serial import asi, obis

ROOT = Path(__file__).resolve().parents[2]


def test_scpi_latency_drop_and_garble(rig, visa) -> None:
    scanner = visa(rig["scanner"].address, timeout_ms=3000)
    rig.inject("scanner", "drop", 1)
    scanner.timeout = 200
    with pytest.raises(Exception):
        scanner.query("*IDN?")
    assert scanner.query("*IDN?").startswith("SPECSIM")  # only one reply was lost
    rig.inject("scanner", "garble", 1)
    scanner.write("*IDN?")
    raw = scanner.read_raw()
    assert raw.endswith(b"\n") and all(b >= 0x80 for b in raw[:-1])
    rig.inject("scanner", "latency", 0.5)
    scanner.write("SCAN:X:PIX?")
    with pytest.raises(Exception):  # the reply is late: a short timeout expires first
        scanner.read()
    scanner.timeout = 5000
    assert scanner.read() == "64"  # ... and it still arrives
    rig.inject("scanner", "clear")
    assert scanner.query("*OPC?") == "1"


def test_scpi_injected_device_error_refuses_settings_but_not_queries(rig, visa) -> None:
    scanner = visa(rig["scanner"].address)
    rig.inject("scanner", "error", 2)
    assert scanner.query("*IDN?").startswith("SPECSIM")  # queries still answer
    scanner.write("INIT")
    scanner.write("*CLS")  # refused too: the error stays queued
    assert scanner.query("SYST:ERR?").startswith('-300,"Device-specific error;injected fault: INIT refused')
    scanner.write("*CLS")  # the count is used up: accepted
    assert scanner.query("SYST:ERR?") == '0,"No error"'
    with pytest.raises(ValueError, match="no device error 'melt'"):
        rig.inject("scanner", "melt")


def test_scpi_unplug_and_replug_on_the_same_port(rig, visa) -> None:
    address = rig["counter"].address
    counter = visa(address)
    assert counter.query("*IDN?").startswith("SPECSIM")
    rig.inject("counter", "unplug")
    counter.timeout = 300
    with pytest.raises(Exception):
        counter.query("*IDN?")
    rig.inject("counter", "replug")
    assert rig["counter"].address == address
    assert visa(address).query("*IDN?").startswith("SPECSIM")


def test_serial_latency_drop_and_garble(rig, open_serial) -> None:
    stage = open_serial(rig["stage"].server.path, timeout=2.0)
    rig.inject("stage", "drop", 1)
    stage.write(b"WHO\r")
    stage.timeout = 0.2
    assert stage.readline() == b""
    stage.timeout = 2.0
    assert asi(stage, "WHO").startswith(":A")
    rig.inject("stage", "garble", 1)
    stage.write(b"WHO\r")
    line = stage.readline()
    assert line.endswith(b"\r\n") and all(b >= 0x80 for b in line[:-2])
    rig.inject("stage", "latency", 0.5)
    stage.write(b"/\r")
    stage.timeout = 0.05
    assert stage.readline() == b""
    stage.timeout = 5.0
    assert stage.readline() == b"N\r\n"
    rig.inject("stage", "clear")


def test_serial_unplug_and_replug_behind_the_same_path(rig, open_serial) -> None:
    path = rig["sted_laser"].server.path
    laser = open_serial(path)
    assert obis(laser, "*IDN?")[-1] == "OK"
    rig.inject("sted_laser", "unplug")
    assert not os.path.exists(path)
    with pytest.raises(serial.SerialException):
        laser.write(b"*IDN?\r\n")
        laser.readline()
    laser.close()
    with pytest.raises(serial.SerialException):
        serial.Serial(path, 115200, timeout=1)
    rig.inject("sted_laser", "replug")
    assert os.path.islink(path) and rig.addresses()["sted_laser"]["device"] == os.readlink(path)
    again = open_serial(path)
    assert obis(again, "*IDN?")[-1] == "OK"


def test_laser_interlock_is_a_device_error(rig, open_serial) -> None:
    laser = open_serial(rig["sted_laser"].server.path)
    assert obis(laser, "SOUR:POW:LEV:IMM:AMPL 0.1") == ["OK"]
    assert obis(laser, "SOUR:AM:STAT ON") == ["OK"]
    rig.inject("sted_laser", "interlock", "open")
    assert obis(laser, "SYST:LOCK?") == ["OFF", "OK"]
    assert obis(laser, "SOUR:AM:STAT?") == ["OFF", "OK"]
    assert int(obis(laser, "SYST:STAT?")[0], 16) & 0x1  # fault bit
    assert int(obis(laser, "SYST:FAUL?")[0], 16) == 0x80000
    assert obis(laser, "SOUR:AM:STAT ON") == ["ERR-310"]
    rig.inject("sted_laser", "interlock", "closed")
    assert obis(laser, "SOUR:AM:STAT ON") == ["OK"] and obis(laser, "SYST:FAUL?")[0] == "00000000"


def test_stage_limit_hit_is_a_device_error(rig, open_serial) -> None:
    rig.world.clock.freeze()
    stage = open_serial(rig["stage"].server.path)
    assert asi(stage, "M Y=20000") == ":A"
    rig.world.clock.advance(0.5)
    rig.inject("stage", "limit", "y")
    assert asi(stage, "/") == "N" and asi(stage, "W Y") == ":A 10000.0"  # stopped where it hit
    assert asi(stage, "M Y=0") == ":N-5" and asi(stage, "M X=100") == ":A"
    assert asi(stage, "HOME Y") == ":A"
    rig.world.clock.advance(1.0)
    assert asi(stage, "M Y=100") == ":A"
    with pytest.raises(ValueError):
        rig.inject("stage", "limit", "w")


def test_firmware_wire_faults_and_power_cycle(full_rig, open_serial) -> None:
    path = full_rig["shutter_wheel"].path
    port = open_serial(path, timeout=2.0)
    wait_for(port, "SETTLED")
    full_rig.inject("shutter_wheel", "drop", 1)
    port.write(b"pos?\r")
    port.timeout = 0.3
    assert port.read_until(b"> ") == b""
    port.timeout = 2.0
    assert fw(port, "pos?") == ["1"]
    full_rig.inject("shutter_wheel", "garble", 1)
    port.write(b"pos?\r")
    reply = port.read_until(b"> ")
    assert reply.endswith(b"> ") and all(b >= 0x80 for b in reply[:-2])
    full_rig.inject("shutter_wheel", "latency", 0.4)
    port.write(b"pcount?\r")
    port.timeout = 0.05
    assert port.read_until(b"> ") == b""
    port.timeout = 5.0
    assert port.read_until(b"> ").endswith(b"6\r> ")
    full_rig.inject("shutter_wheel", "clear")
    assert fw(port, "pos=3") == []
    wait_for(port, "SETTLED")
    full_rig.inject("shutter_wheel", "unplug")
    assert not os.path.exists(path)
    port.close()
    full_rig.inject("shutter_wheel", "replug")  # the controller boots again and re-homes
    again = open_serial(path)
    wait_for(again, "SETTLED")
    assert fw(again, "pos?") == ["1"] and full_rig.world.wheel.position() == 0


def test_command_line_rig_and_fault_injection(no_leaks, tmp_path: Path) -> None:
    rig_toml = tmp_path / "rig.toml"
    rig_toml.write_text("[simulation]\nseed = 3\ntime_scale = 1000.0\n"
                        "[simulation.faults.stage]\nlatency = 0.0\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "device_sim", str(rig_toml), "--json", "--no-firmware",
                             "--run-dir", str(tmp_path / "run")], stdout=subprocess.PIPE, text=True, env=env)
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info["instruments"]) == {"excitation_laser", "sted_laser", "stage", "scanner", "counter"}
        assert info["instruments"]["scanner"]["resource"].startswith("TCPIP::127.0.0.1::")
        stage_path = info["instruments"]["stage"]["path"]
        done = subprocess.run([sys.executable, "-m", "device_sim", "fault", info["control"], "stage",
                               "drop", "1"], capture_output=True, text=True, env=env)
        assert done.returncode == 0 and json.loads(done.stdout) == {"ok": True}
        bad = subprocess.run([sys.executable, "-m", "device_sim", "fault", info["control"], "stage",
                              "melt"], capture_output=True, text=True, env=env)
        assert bad.returncode == 1 and "error" in json.loads(bad.stdout)
        with serial.Serial(stage_path, 9600, timeout=0.3) as stage:
            stage.write(b"WHO\r")
            assert stage.readline() == b""  # dropped
            stage.timeout = 2.0
            assert asi(stage, "WHO").startswith(":A ASI")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not os.path.exists(stage_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
