"""Seeded fuzz against the running stack: malformed messages at both broker sides during a measurement,
corrupted .obf files and malformed parameter values sent to the service, malformed rig files. Every one is
rejected with a clear, typed error; nothing crashes and the measurement in flight loses no step."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from drivers.rigconfig import RigConfigError, parse_rig
from drivers.rig import default_rig_path
from specpy import Error, FormatError, ValidationError
from specpy.remote import protocol as wire
from specpy.remote.connection import Connection
from tests.obf.test_bad_files import mutate, valid_file
from tests.remote.harness import REPO, fire

from .harness import SMALL_FIELD, assert_every_frame_once_and_plausible

MESSAGES = 3000  # per broker side
FILES = 1000
VALUES = 2000
RIGS = 2000


@pytest.fixture
def app(lab):
    """A broker and a service in their own processes, and a client."""
    lab.start_broker()
    lab.start_service()
    return lab.connect(timeout=20)


def test_malformed_messages_at_both_broker_sides_during_a_measurement_lose_nothing(app, lab):
    m = app.create_measurement()
    m.set_parameters("", SMALL_FIELD)
    m.set_parameters("", {"steps": {"time_points": 40, "interval": 0.05}})
    app.start(m)
    connection = Connection("127.0.0.1", lab.port, "imspector", timeout=20)
    try:
        ports = connection.call("endpoints", service="mmi")
        fire(connection, connection.endpoint(), wire.CLIENT, seed=11, count=MESSAGES)
        fire(connection, connection.endpoint(ports["workers"]), wire.WORKER, seed=12, count=MESSAGES)
        status = connection.call("status", service="mmi")
        assert connection.call("services", service="mmi") == {"imspector": 1}
    finally:
        connection.close()
    assert sum(status["malformed"].values()) >= MESSAGES  # counted, not fatal
    assert app.run(m) == 0
    assert_every_frame_once_and_plausible(m.stack(0), 40)
    assert app.status()["malformed"] > 0  # what reached the service (bad headers, unknown ops) was refused there


def test_corrupted_obf_files_opened_by_the_service_are_format_errors(app, tmp_path):
    rng = np.random.default_rng(7)
    seeds = [valid_file(tmp_path / "a.obf", True, 2), valid_file(tmp_path / "b.obf", False, 1)]
    outcomes = {"opened": 0, "refused": 0}
    for case in range(FILES):
        path = tmp_path / f"mutant{case % 10}.obf"
        path.write_bytes(mutate(seeds[case % len(seeds)], rng, seeds))
        try:
            opened = app.open(str(path))
            for index in range(opened.number_of_stacks()):
                opened.stack(index).data()
            app.close(opened)
            outcomes["opened"] += 1
        except FormatError as error:  # typed across the wire, naming the file and the byte
            assert str(path) in str(error) and "at byte" in str(error)
            outcomes["refused"] += 1
    assert outcomes["refused"] > FILES // 4, outcomes
    assert app.measurement_names() == []


def bad_value(rng: random.Random) -> tuple[str, object]:
    """A measurement parameter and a value it must refuse (wrong kind, out of range, not finite, unknown path)."""
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(["scan/x/length", "scan/dwell_time", "channels/sted/power"]), rng.choice(
            [float("nan"), float("inf"), -float("inf"), -rng.random(), 10.0 ** rng.randrange(4, 300)])
    if kind == 1:
        return rng.choice(["steps/time_points", "scan/line_repetitions", "channels/filter"]), rng.choice(
            [0, -rng.randrange(1, 1 << 62), 1 << rng.randrange(40, 63), 2.5, "three", None])
    if kind == 2:
        return rng.choice(["scan/axes", "channels/detector"]), rng.choice([1, [], {"a": 1}, 2.5, None])
    if kind == 3:
        return rng.choice(["channels/sted/enabled", "channels/excitation/enabled"]), rng.choice(["yes", 2, 0.5, []])
    if kind == 4:
        return "/".join(rng.choice(["scan", "x", "nope", "..", "", "__class__"]) for _ in range(rng.randrange(1, 5))), 1
    if kind == 5:
        return "scan/x", {"length": "long", "pixel_size": -1}
    return "", {"scan": {"x": {"length": rng.choice([-1.0, "a", None])}}, "steps": {"time_points": 0}}


def test_malformed_parameter_values_are_refused_with_the_path_and_change_nothing(app):
    m = app.create_measurement()
    before = m.parameters("")
    rng = random.Random(2026)
    for _ in range(VALUES):
        path, value = bad_value(rng)
        with pytest.raises(ValidationError) as caught:
            m.set_parameters(path, value)
        assert str(caught.value), (path, value)
    assert m.parameters("") == before
    m.set_parameters("", SMALL_FIELD)
    assert app.run(m) == 0


def mutate_text(text: str, rng: random.Random) -> str:
    """One seeded mutation of a rig file: a line dropped, duplicated or cut, characters replaced, or junk."""
    lines = text.splitlines()
    at = rng.randrange(len(lines))
    kind = rng.randrange(5)
    if kind == 0:
        del lines[at]
    elif kind == 1:
        lines.insert(at, lines[rng.randrange(len(lines))])
    elif kind == 2:
        lines[at] = lines[at][: rng.randrange(len(lines[at]) + 1)]
    elif kind == 3:
        line = list(lines[at])
        for _ in range(rng.randrange(1, 4)):
            if line:
                line[rng.randrange(len(line))] = rng.choice('=[]"\'.#\\ \x00é{}0x-')
        lines[at] = "".join(line)
    else:
        lines.insert(at, rng.choice(["[devices.x]", "driver = 3", "role = 'scanner'", "simulated = 'yes'",
                                     "[rig]", "resource = ''", "options = { timeout = '-1 s' }", "[[devices]]"]))
    return "\n".join(lines)


def test_malformed_rig_files_are_reported_with_their_lines_and_the_service_refuses_them(tmp_path):
    text = default_rig_path().read_text()
    rng = random.Random(5)
    outcomes = {"accepted": 0, "refused": 0}
    for _ in range(RIGS):
        try:
            parse_rig(mutate_text(text, rng), "rig.toml")
            outcomes["accepted"] += 1
        except RigConfigError as error:
            assert str(error).startswith("rig.toml") and error.problems, str(error)
            outcomes["refused"] += 1
    assert outcomes["refused"] > RIGS // 4, outcomes
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('driver = "drivers.galvo_scanner:GalvoScanner"', 'driver = 3'))
    done = subprocess.run([sys.executable, "-m", "specpy.cli", "serve", str(bad), "--port", "0"], capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(REPO), "SPECPY_DATA": str(tmp_path / "data"),
                                                      "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "bad.toml" in done.stderr and "devices.scanner.driver" in done.stderr, done.stderr
