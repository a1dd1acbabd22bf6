"""Rig configuration in TOML: a good file gives checked devices; a bad one lists every problem at once,
each with its line and key."""

import pytest

from drivers.rigconfig import RigConfigError, load_rig, parse_rig
from specpy.cli import main

from .conftest import LoopbackLaser
from .loopback import IDN

LASER = "tests.drivers.conftest:LoopbackLaser"


def test_a_good_rig_gives_checked_devices_with_defaults_filled_in(tmp_path, server):
    path = tmp_path / "rig.toml"
    path.write_text(f'''
[rig]
name = "sted-1"
description = "the loopback rig"

[devices.laser]
driver = "{LASER}"
resource = "{server.resource}"
description = "depletion laser"
options = {{ timeout = "250 ms", check_errors = false }}

[devices.shutter]
driver = "drivers.scpi:ScpiInstrument"
resource = "socket://127.0.0.1:{server.port}"
''')
    rig = load_rig(path)
    assert rig.name == "sted-1" and rig.description == "the loopback rig"
    assert list(rig.devices) == ["laser", "shutter"]
    laser = rig.devices["laser"]
    assert laser.driver is LoopbackLaser and laser.description == "depletion laser"
    assert laser.options["timeout"] == pytest.approx(0.25) and laser.options["check_errors"] is False
    assert laser.options["baud_rate"] == 9600
    with laser.create() as driver:
        assert driver.name == "laser" and driver.identity == IDN


def test_every_problem_is_reported_at_once_with_its_line(tmp_path):
    text = f'''[rig]
name = "broken"
colour = "red"

[devices.laser]
driver = "{LASER}"
resource = "TCPIP::10.0.0.5::5025::SOCKET"
options = {{ timout = 1, baud_rate = 12 }}

[devices.stage]
driver = "no_such_driver"
resource = "/dev/ttyUSB0"

[devices.camera]
resource = "GPIB0::notanumber::INSTR"

[devices.laser2]
driver = "{LASER}"
resource = "TCPIP::10.0.0.5::5025::SOCKET"
speed = 3
'''
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RigConfigError) as caught:
        load_rig(path)
    problems = {(p.line, p.key): p.message for p in caught.value.problems}
    assert "unknown key" in problems[(3, "rig.colour")]
    assert "did you mean 'timeout'" in problems[(8, "devices.laser.options.timout")]
    assert "baud_rate: 12 is out of range" in problems[(8, "devices.laser.options.baud_rate")]
    assert "no driver named 'no_such_driver'" in problems[(11, "devices.stage.driver")]
    assert "'driver' is missing" in problems[(14, "devices.camera")]
    assert "unknown key; allowed: driver, resource, options, description" in problems[(20, "devices.laser2.speed")]
    assert "already used by 'laser'" not in str(caught.value)  # laser had problems, so it claimed nothing
    assert len(caught.value.problems) == 6
    message = str(caught.value)
    assert message.startswith(f"{path}: 6 problem(s) in the rig configuration:")
    assert f"{path}: line 8 [devices.laser.options.timout]" in message


def test_resources_are_checked_against_the_driver_and_each_other():
    text = f'''
[devices.a]
driver = "{LASER}"
resource = "TCPIP::10.0.0.5::5025::SOCKET"

[devices.b]
driver = "{LASER}"
resource = "TCPIP::10.0.0.5::5025::SOCKET"

[devices.c]
driver = "{LASER}"
resource = "USB::broken"

[devices."bad name"]
driver = "{LASER}"
resource = "/dev/ttyUSB1"
'''
    with pytest.raises(RigConfigError) as caught:
        parse_rig(text, "rig.toml")
    problems = {(p.line, p.key): p.message for p in caught.value.problems}
    assert problems[(8, "devices.b.resource")] == "'TCPIP::10.0.0.5::5025::SOCKET' is already used by 'a'"
    assert "not a well-formed VISA resource" in problems[(12, "devices.c.resource")]
    assert "a device name starts with a letter" in problems[(14, "devices.bad name")]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("devices = 3", "line 1 [devices]: a rig needs at least one [devices.NAME] table"),
        ("[devices.a]\ndriver = \n", "not valid TOML"),
        ("", "a rig needs at least one"),
    ],
)
def test_malformed_files_are_reported(text, fragment):
    with pytest.raises(RigConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        parse_rig(text)


def test_cli_checks_a_rig_file(tmp_path, capsys, server):
    good = tmp_path / "good.toml"
    good.write_text(f'[devices.laser]\ndriver = "{LASER}"\nresource = "{server.resource}"\n')
    assert main(["drivers", "--rig", str(good)]) == 0
    assert "laser: LoopbackLaser at TCPIP::127.0.0.1::" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[devices.laser]\ndriver = "nope"\n')
    assert main(["drivers", "--rig", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "'resource' is missing" in err and "no driver named 'nope'" in err
