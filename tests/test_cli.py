"""The `specpy` command line: `demo --help`, `info`, and errors as messages with an exit code."""

import json
import signal
import socket
import subprocess
import sys

import numpy as np

from specpy import File, Stack
from specpy.cli import main


def test_demo_help_names_its_options():
    # The demo itself runs end to end in tests/demo.
    result = subprocess.run([sys.executable, "-m", "specpy.cli", "demo", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and all(option in result.stdout for option in ("--out", "--local", "--seed"))


def test_info_reports_partial_stacks_tags_and_units(tmp_path, capsys):
    path = tmp_path / "p.obf"
    stack = Stack(np.uint16, [4, 4, 3])
    stack.set_tag("operator", "ana")
    stack.set_unit(0, "um")
    with File(path, File.Write) as f:
        f.begin_stack(stack).flush(16)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "partial: 16 of 48 samples written" in out
    assert "tags: operator" in out
    assert "axis 0: 4 x 1 1e-06 m" in out


def test_errors_are_messages_with_exit_code(tmp_path, capsys):
    (tmp_path / "bad.obf").write_bytes(b"not an obf file at all, no")
    assert main(["info", str(tmp_path / "bad.obf")]) == 1
    assert "not an OBF file" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "missing.obf")]) == 1
    assert "No such file" in capsys.readouterr().err


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "specpy.cli", "info", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "an .obf or .msr file" in result.stdout


def test_sim_brings_up_the_rig_and_stops_on_sigterm():
    process = subprocess.Popen([sys.executable, "-m", "specpy.cli", "sim", "--json", "--no-firmware"],
                               stdout=subprocess.PIPE, text=True)
    try:
        addresses = json.loads(process.stdout.readline())["instruments"]
        assert {"excitation_laser", "sted_laser", "stage", "scanner", "counter"} <= set(addresses)
        port = int(addresses["scanner"]["resource"].split("::")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"*IDN?\n")
            assert b"," in connection.recv(256)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        process.stdout.close()
