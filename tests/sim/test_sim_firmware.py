"""The shutter/filter-wheel firmware: built with the machine's C compiler, run on a pty,
driven through pyserial, its GPIO moving the World's shutter and wheel."""

from __future__ import annotations

import time

from device_sim.firmware import build


def fw(port, command: str) -> list[str]:
    """Send one command; the lines between the echo and the "> " prompt."""
    port.write(command.encode() + b"\r")
    reply = port.read_until(b"> ")
    assert reply.endswith(b"> "), f"no prompt after {command!r}: {reply!r}"
    lines = reply[:-2].decode().split("\r")
    assert lines[0] == command[:64] or lines[0] == command, f"bad echo {lines[0]!r}"
    return [line for line in lines[1:] if line]


def wait_for(port, state: str, timeout: float = 5.0) -> None:
    """Poll stat? until the controller reports `state` (the firmware runs in real time)."""
    deadline = time.monotonic() + timeout
    while fw(port, "stat?") != [state]:
        assert time.monotonic() < deadline, f"controller never reached {state}"
        time.sleep(0.01)


def test_build_is_cached_and_outside_the_source_tree(firmware_binary, tmp_path) -> None:
    assert firmware_binary.is_file() and "firmware_stubs" not in str(firmware_binary.parent)
    again = build(firmware_binary.parent.parent)
    assert again == firmware_binary


def test_boot_homes_the_wheel_and_moves_filters(full_rig, open_serial) -> None:
    port = open_serial(full_rig["shutter_wheel"].path)
    assert fw(port, "*idn?") == ["SPECSIM SWC102 shutter + filter wheel controller v1.0"]
    assert fw(port, "pcount?") == ["6"]
    wait_for(port, "SETTLED")
    assert fw(port, "pos?") == ["1"] and full_rig.world.wheel.position() == 0
    assert fw(port, "pos=4") == []
    assert fw(port, "pos=2") in (["CMD_BUSY"], [])  # refused while moving (or already there)
    wait_for(port, "SETTLED")
    assert fw(port, "pos?") == ["4"]
    assert full_rig.world.wheel.position() == 3 and full_rig.world.wheel.transmission() == 0.1
    assert fw(port, "pos=6") == []
    wait_for(port, "SETTLED")
    assert full_rig.world.wheel.position() == 5 and fw(port, "pos?") == ["6"]


def test_shutter_opens_and_closes_the_light_path(full_rig, open_serial) -> None:
    port = open_serial(full_rig["shutter_wheel"].path)
    wait_for(port, "SETTLED")
    assert fw(port, "ens?") == ["0"] and not full_rig.world.shutter.open
    assert fw(port, "ens=1") == []
    wait_for(port, "SETTLED")
    assert fw(port, "ens?") == ["1"] and full_rig.world.shutter.open
    assert fw(port, "ens") == []  # SC10-style toggle
    wait_for(port, "SETTLED")
    assert not full_rig.world.shutter.open and fw(port, "ens?") == ["0"]


def test_bad_commands_get_errors(full_rig, open_serial) -> None:
    port = open_serial(full_rig["shutter_wheel"].path)
    assert fw(port, "fly") == ["CMD_NOT_DEFINED"]
    assert fw(port, "pos=9") == ["CMD_ARG_INVALID"]
    assert fw(port, "pos=x") == ["CMD_ARG_INVALID"]
    assert fw(port, "ens=2") == ["CMD_ARG_INVALID"]
    assert fw(port, "x" * 100) == ["CMD_TOO_LONG"]
    assert fw(port, "*idn?")[0].startswith("SPECSIM")


def test_stuck_shutter_times_out_into_fault_and_clears(full_rig, open_serial) -> None:
    port = open_serial(full_rig["shutter_wheel"].path)
    wait_for(port, "SETTLED")
    full_rig.inject("shutter_wheel", "stuck_shutter", True)
    assert fw(port, "ens=1") == []
    wait_for(port, "FAULT")
    assert fw(port, "err?") == ["1"] and fw(port, "ens=1") == ["CMD_FAULT"]
    assert not full_rig.world.shutter.open
    full_rig.inject("shutter_wheel", "stuck_shutter", False)
    assert fw(port, "clr") == []
    wait_for(port, "SETTLED")
    assert fw(port, "err?") == ["0"]


def test_jammed_wheel_fails_homing(full_rig, open_serial) -> None:
    port = open_serial(full_rig["shutter_wheel"].path)
    wait_for(port, "SETTLED")
    assert fw(port, "pos=3") == []
    wait_for(port, "SETTLED")
    full_rig.inject("shutter_wheel", "jam_wheel", True)
    assert fw(port, "home") == []
    wait_for(port, "FAULT")
    assert fw(port, "err?") == ["2"] and fw(port, "pos?") == ["0"]
    full_rig.inject("shutter_wheel", "jam_wheel", False)
    assert fw(port, "clr") == []
    wait_for(port, "SETTLED")
    assert fw(port, "pos?") == ["1"] and full_rig.world.wheel.position() == 0
