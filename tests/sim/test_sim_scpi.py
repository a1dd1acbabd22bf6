"""The scan controller and the photon counter through their real transport: pyvisa-py
TCPIP SOCKET sessions and raw sockets, the error queue, and the frame as a binary block."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from device_sim import Raster
from tests.sim.test_sim_physics import switch_on


def raw_query(port: int, message: bytes) -> bytes:
    """Send one line on a fresh raw socket and read one reply (a block is read to its length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(message + b"\n")
        data = b""
        while True:
            data += sock.recv(1 << 20)
            if data.startswith(b"#") and len(data) > 2:
                digits = int(data[1:2])
                if len(data) >= 2 + digits:
                    total = 2 + digits + int(data[2:2 + digits]) + 1
                    if len(data) >= total:
                        return data
            elif data.endswith(b"\n"):
                return data


def test_common_commands_and_error_queue(rig, visa) -> None:
    for name in ("scanner", "counter"):
        inst = visa(rig[name].address)
        assert inst.query("*IDN?").startswith("SPECSIM,")
        assert inst.query("*TST?") == "0" and inst.query("*OPC?") == "1"
        assert inst.query("SYST:ERR?") == '0,"No error"'
        inst.write("NOT:A:COMMAND 1")
        inst.write("*IDN")  # a query-only header used as a command
        assert inst.query("SYSTem:ERRor:NEXT?").startswith('-113,"Undefined header')
        assert inst.query("syst:err?").startswith("-113,")
        assert inst.query("SYST:ERR?") == '0,"No error"'
        assert int(inst.query("*ESR?")) & 32  # command error bit
        assert inst.query("*ESR?") == "0"  # read and cleared
        for _ in range(40):
            inst.write("BAD")
        errors = [inst.query("SYST:ERR?") for _ in range(31)]
        assert errors[28].startswith("-113") and errors[29].startswith("-350,\"Queue overflow")
        assert errors[30] == '0,"No error"'
        inst.write("BAD;*CLS")  # the error discards the rest of the message ...
        assert inst.query("SYST:ERR?").startswith("-113")
        inst.write("BAD")
        inst.write("*CLS")  # ... while a separate *CLS clears the queue
        assert inst.query("SYST:ERR?") == '0,"No error"'


def test_scanner_settings_forms_ranges_and_reset(rig, visa) -> None:
    scanner = visa(rig["scanner"].address)
    scanner.write("SCAN:X:PIXels 256;:scan:y:pix 128;SCAN:DWELL 2e-6")
    assert scanner.query("SCAN:X:PIX?;SCAN:Y:PIX?") == "256;128"
    assert float(scanner.query("SCAN:FRAM:TIME?")) == pytest.approx(256 * 128 * 2e-6)
    assert float(scanner.query("SCAN:CLOC:FREQ?")) == pytest.approx(5e5)
    scanner.write("SCAN:DWEL MAX")
    assert float(scanner.query("SCAN:DWEL?")) == 1e-2
    scanner.write("SCAN:DWEL 1")
    assert scanner.query("SYST:ERR?").startswith("-222,")
    scanner.write("SCAN:X:PIX 1.5")
    assert scanner.query("SYST:ERR?").startswith("-104,")
    scanner.write("SCAN:X:PIX")
    assert scanner.query("SYST:ERR?").startswith("-109,")
    scanner.write("SCAN:STAT? 3")
    assert scanner.query("SYST:ERR?").startswith("-108,")
    scanner.write("*RST")
    assert scanner.query("SCAN:X:PIX?") == "64"


def test_settings_conflict_init_ignored_and_abort(rig, visa) -> None:
    rig.world.clock.freeze()
    scanner, counter = visa(rig["scanner"].address), visa(rig["counter"].address)
    assert counter.query("SAMP:COUN 4096;INIT;*OPC?") == "1"  # armed before the scanner starts
    scanner.write("SCAN:X:PIX 64;SCAN:Y:PIX 64;SCAN:DWEL 1e-3;INIT")
    assert scanner.query("SCAN:STAT?") == "SCANNING" and counter.query("ACQ:STAT?") == "RUNNING"
    scanner.write("SCAN:DWEL 1e-5")
    assert scanner.query("SYST:ERR?").startswith("-221,")
    scanner.write("INIT")
    assert scanner.query("SYST:ERR?").startswith("-213,")
    counter.write("SAMP:COUN 5")
    assert counter.query("SYST:ERR?").startswith("-221,")
    rig.world.clock.advance(1.0)
    scanner.write("ABOR")
    assert scanner.query("SCAN:STAT?") == "IDLE" and counter.query("ACQ:STAT?") == "ABORTED"
    counter.timeout = 300
    with pytest.raises(Exception):  # a failed query sends nothing: the client times out
        counter.query("FETC?")
    assert counter.query("SYST:ERR?").startswith("-230,")


def configure_frame(rig, visa, fmt: str, nx: int = 96, ny: int = 80):
    """Configure scanner and counter for one frame of nx x ny at 40 nm pixels, 0.5 ms dwell."""
    switch_on(rig.world, "excitation", rig.world.optics.p_ref)
    rig.world.clock.resume()
    scanner, counter = visa(rig["scanner"].address), visa(rig["counter"].address)
    scanner.write(f"SCAN:X:PIX {nx};SCAN:Y:PIX {ny};SCAN:X:PSIZ 40e-9;SCAN:Y:PSIZ 40e-9;SCAN:DWEL 5e-4")
    assert counter.query(f"SAMP:COUN {nx * ny};TRIG:SOUR EXT;FORM {fmt};INIT;*OPC?") == "1"
    scanner.write("INIT")
    return scanner, counter, Raster(nx, ny, 40e-9, 40e-9, dwell=5e-4)


@pytest.mark.parametrize("fmt,datatype", [("UINT16", "H"), ("UINT32", "I")])
def test_frame_fetch_as_binary_block_matches_the_world(rig, visa, fmt: str, datatype: str) -> None:
    scanner, counter, raster = configure_frame(rig, visa, fmt)
    counts = counter.query_binary_values("FETC?", datatype=datatype, is_big_endian=False,
                                         container=np.array)
    assert scanner.query("*OPC?") == "1" and counter.query("ACQ:STAT?") == "DONE"
    image = counts.reshape(raster.ny, raster.nx)
    # the brightest pixel sits on the brightest emitter (the World's truth, stage at 0)
    xs, ys = raster.axes()
    iy, ix = np.unravel_index(np.argmax(image), image.shape)
    truth = rig.world.truth()
    k = int(np.argmax(truth["brightness"]))
    assert abs(xs[ix] - truth["positions"][k, 0]) <= 40e-9 and abs(ys[iy] - truth["positions"][k, 1]) <= 40e-9
    # the total matches the expected mean image within Poisson error
    rate = rig.world.true_rate(xs, ys)
    mean = rig.world.detector.measured_rate(rate) * raster.dwell
    assert abs(image.sum() - mean.sum()) < 5 * np.sqrt(mean.sum())
    assert counter.query("SYST:ERR?") == '0,"No error"'


def test_binary_block_over_a_raw_socket_and_ascii_format(rig, visa) -> None:
    scanner, counter, raster = configure_frame(rig, visa, "UINT32", nx=32, ny=16)
    counter.query("*OPC?")
    reply = raw_query(rig["counter"].server.port, b"FETC?")
    digits = int(reply[1:2])
    length = int(reply[2:2 + digits])
    assert reply[:1] == b"#" and length == 32 * 16 * 4 and reply.endswith(b"\n")
    block = np.frombuffer(reply[2 + digits:2 + digits + length], dtype="<u4")
    ascii_counter = visa(rig["counter"].address)
    ascii_counter.write("FORM ASC")
    assert ascii_counter.query_ascii_values("FETC?", converter="d") == block.tolist()


def test_bus_trigger_counts_at_the_parked_beam(rig, visa) -> None:
    switch_on(rig.world, "excitation", rig.world.optics.p_ref)
    scanner, counter = visa(rig["scanner"].address), visa(rig["counter"].address)
    scanner.write("SCAN:POS:X 0;SCAN:POS:Y 0")
    counter.write("TRIG:SOUR BUS;GATE:TIME 1e-3;SAMP:COUN 500;FORM ASC")
    counter.write("*TRG")
    assert counter.query("SYST:ERR?").startswith("-211,")  # not armed
    counter.write("INIT;*TRG")
    rig.world.clock.resume()  # FETCh? waits for the 0.5 s (simulated) acquisition to end
    counts = np.array(counter.query_ascii_values("FETC?", converter="d"))
    truth = rig.world.truth()
    light = truth["brightness"][0] + truth["background_rate"] + truth["dark_rate"]
    mu = light / (1 + light * truth["dead_time"]) * 1e-3
    assert abs(counts.mean() - mu) < 4 * np.sqrt(mu / 500)


def test_bad_bytes_get_errors_and_the_server_survives(rig, visa) -> None:
    port = rig["scanner"].server.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"\xff\xfe\x00garbage\n" + b"SCAN:(X):PIX 3\n" + b"SYST:ERR?\n" + b"SYST:ERR?\n")
        data = b""
        while data.count(b"\n") < 2:
            data += sock.recv(4096)
    first, second = data.decode().splitlines()
    assert first.startswith("-102,") and second.startswith("-102,")
    assert visa(rig["scanner"].address).query("*IDN?").startswith("SPECSIM")
