"""Every `specpy` command has a useful --help: its purpose, its arguments, and it exits 0."""

from __future__ import annotations

import pytest

from specpy.cli import COMMANDS, main

EXPECTED = {"demo": "--local", "sim": "device_sim", "serve": "--port", "status": "HOST", "drivers": "--rig",
            "keys": "allow", "db": "check", "info": "file", "convert": "OME-TIFF", "fit": "--out"}


def test_every_command_is_listed_in_the_top_level_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert set(EXPECTED) == set(COMMANDS)
    for name in COMMANDS:
        assert f"    {name}" in text


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_each_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: specpy {command}")
    assert COMMANDS[command][0].split(":")[0][:30] in " ".join(text.split())  # the purpose, rewrapped
    assert EXPECTED[command] in text
