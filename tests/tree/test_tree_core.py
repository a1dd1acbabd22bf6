"""The Tree: paths, get/set, atomic multi-set, device failures part-way, change events, snapshots."""

import json
import random
import threading

import astropy.units as u
import numpy as np
import pytest

from specpy.errors import ValidationError
from specpy.tree import Array, Bool, Enum, Float, Int, PartialSetError, Str, Tree


def laser_tree(io=None):
    return Tree(
        {
            "laser": {
                "power": Float(unit="W", min=0, max=0.5, default=0.0),
                "mode": Enum(["cw", "pulsed"], default="cw"),
                "serial": Str(read_only=True, default="L-1"),
            },
            "stage/x": Float(unit="m", min=-0.01, max=0.01, default=0.0),
            "stage/y": Float(unit="m", min=-0.01, max=0.01, default=0.0),
            "frames": Int(min=1, max=100, default=1),
            "lut": Array(shape=(None,), min=0, max=1),
        },
        io=io,
        name="rig",
    )


class RecordingDevice:
    """A TreeIO that keeps what it was sent and refuses the paths listed in `fail_on`."""

    def __init__(self, fail_on=()):
        self.sent, self.fail_on, self.values = [], set(fail_on), {}

    def readable(self, path):
        return path in self.values

    def read(self, path):
        return self.values[path]

    def write(self, path, value):
        if path in self.fail_on:
            raise ConnectionError(f"device refused {path}")
        self.sent.append((path, value))


def test_get_leaf_node_and_whole_tree():
    tree = laser_tree()
    assert tree.get("laser/power") == 0.0
    assert tree.get("stage") == {"x": 0.0, "y": 0.0}
    assert tree.get("") == {
        "laser": {"power": 0.0, "mode": "cw", "serial": "L-1"},
        "stage": {"x": 0.0, "y": 0.0},
        "frames": 1,
        "lut": None,
    }
    assert tree.paths("stage") == ["stage/x", "stage/y"]
    assert "laser" in tree and "laser/power" in tree and "laser/pow" not in tree


def test_unknown_paths_name_the_closest_existing_ones():
    tree = laser_tree()
    with pytest.raises(ValidationError) as caught:
        tree.get("laser/pwr")
    assert "unknown path in rig 'laser/pwr'" in str(caught.value)
    assert "'laser/power'" in str(caught.value)
    with pytest.raises(ValidationError, match="'stage/x'"):
        tree.set("stage/z", 0.001)
    with pytest.raises(ValidationError, match="not a valid tree path"):
        tree.get("laser//power")


def test_set_converts_quantities_and_refuses_bad_values_without_storing_them():
    device = RecordingDevice()
    tree = laser_tree(device)
    tree.set("laser/power", 20 * u.mW)
    assert tree.get("laser/power") == pytest.approx(0.02)
    with pytest.raises(ValidationError, match=r"laser/power: 0.7 is out of range; allowed: .*0 \.\. 0.5 W"):
        tree.set("laser/power", 0.7)
    with pytest.raises(ValidationError, match="laser/serial is read-only"):
        tree.set("laser/serial", "L-2")
    with pytest.raises(ValidationError, match="is a node"):
        tree.set("stage", 0.001)
    assert tree.get("laser/power") == pytest.approx(0.02)
    assert device.sent == [("laser/power", pytest.approx(0.02))]


def test_multi_set_checks_everything_first_and_applies_nothing_on_any_problem():
    device = RecordingDevice()
    tree = laser_tree(device)
    with pytest.raises(ValidationError) as caught:
        tree.set("", {"laser": {"power": 0.1, "mode": "burst"}, "stage/x": 1.0, "frames": 2, "nope": 1})
    error = caught.value
    assert len(error.errors) == 3
    text = str(error)
    assert text.startswith("nothing was set; 3 problem(s)")
    for fragment in ("laser/mode: 'burst'", "stage/x: 1.0 is out of range", "unknown path in rig 'nope'"):
        assert fragment in text
    assert device.sent == []
    assert tree.get("laser/power") == 0.0 and tree.get("frames") == 1


def test_multi_set_under_a_node_applies_all_in_order():
    device = RecordingDevice()
    tree = laser_tree(device)
    tree.set("stage", {"x": 0.001, "y": -0.002})
    tree.set("", {"laser/power": 0.2, "laser": {"mode": "pulsed"}})
    assert device.sent == [("stage/x", 0.001), ("stage/y", -0.002), ("laser/power", 0.2), ("laser/mode", "pulsed")]
    assert tree.get("stage") == {"x": 0.001, "y": -0.002}


def test_a_device_failing_part_way_says_what_was_applied_and_what_was_not():
    device = RecordingDevice(fail_on={"stage/y"})
    tree = laser_tree(device)
    events = []
    tree.subscribe("", lambda *change: events.append(change))
    with pytest.raises(PartialSetError) as caught:
        tree.set("", {"laser/power": 0.3, "stage/x": 0.004, "stage/y": 0.005, "frames": 9})
    error = caught.value
    assert error.applied == ["laser/power", "stage/x"]
    assert error.failed == "stage/y" and error.pending == ["frames"]
    assert isinstance(error.cause, ConnectionError)
    assert str(error).startswith("applied laser/power, stage/x; failed at stage/y: device refused stage/y")
    assert tree.get("laser/power") == 0.3 and tree.get("stage/x") == 0.004
    assert tree.get("stage/y") == 0.0 and tree.get("frames") == 1
    assert [e[0] for e in events] == ["laser/power", "stage/x"]


def test_a_single_set_failing_at_the_device_leaves_the_value_unchanged():
    tree = laser_tree(RecordingDevice(fail_on={"frames"}))
    with pytest.raises(ConnectionError):
        tree.set("frames", 5)
    assert tree.get("frames") == 1


def test_subscribers_get_changes_under_their_prefix_only_and_can_leave():
    tree = laser_tree()
    laser_events, all_events = [], []
    subscription = tree.subscribe("laser", lambda *e: laser_events.append(e))
    tree.subscribe("", lambda *e: all_events.append(e))
    tree.set("laser/power", 0.1)
    tree.set("laser/power", 0.1)  # unchanged: no event
    tree.set("stage/x", 0.001)
    assert laser_events == [("laser/power", 0.0, 0.1)]
    assert all_events == [("laser/power", 0.0, 0.1), ("stage/x", 0.0, 0.001)]
    subscription.close()
    tree.set("laser/mode", "pulsed")
    assert laser_events == [("laser/power", 0.0, 0.1)]
    assert all_events[-1] == ("laser/mode", "cw", "pulsed")
    with pytest.raises(ValidationError, match="did you mean 'laser'"):
        tree.subscribe("lasr", print)


def test_a_failing_subscriber_does_not_break_the_set_or_other_subscribers(caplog):
    tree = laser_tree()
    seen = []

    def broken(path, old, new):
        raise RuntimeError("subscriber bug")

    tree.subscribe("", broken)
    tree.subscribe("", lambda *e: seen.append(e))
    tree.set("frames", 3)
    assert tree.get("frames") == 3 and seen == [("frames", 1, 3)]
    assert "subscriber" in caplog.text and "frames" in caplog.text


def test_array_events_compare_by_content():
    tree = laser_tree()
    events = []
    tree.subscribe("lut", lambda *e: events.append(e))
    tree.set("lut", [0.0, 0.5])
    tree.set("lut", np.array([0.0, 0.5]))
    tree.set("lut", [0.0, 0.75])
    assert len(events) == 2


def test_read_and_update_store_device_values_and_notify():
    device = RecordingDevice()
    device.values = {"laser/power": 0.45, "laser/serial": "L-9", "frames": 7.0}
    tree = laser_tree(device)
    events = []
    tree.subscribe("", lambda *e: events.append(e))
    assert tree.read("laser/power") == 0.45
    assert tree.read("") == {"laser": {"power": 0.45, "serial": "L-9"}, "frames": 7}
    assert type(tree.get("frames")) is int
    tree.update("laser/power", 0.6)  # a reading outside the settable range is stored as reported
    assert tree.get("laser/power") == 0.6
    with pytest.raises(ValidationError, match="not a number"):
        tree.update("laser/power", "n/a")
    assert ("laser/serial", "L-1", "L-9") in events
    with pytest.raises(ValidationError, match="no device to read from"):
        laser_tree().read("frames")


def test_snapshot_is_json_safe_with_units():
    tree = laser_tree()
    tree.set("lut", [0.25, 1.0])
    tree.update("laser/power", float("nan"))
    snapshot = tree.snapshot()
    text = json.dumps(snapshot, allow_nan=False)
    assert json.loads(text) == snapshot
    assert snapshot["stage"]["x"] == {"value": 0.0, "unit": "m"}
    assert snapshot["lut"]["value"] == [0.25, 1.0]
    assert snapshot["laser"]["power"]["value"] is None and snapshot["laser"]["power"]["unit"] == "W"
    assert snapshot["laser"]["serial"] == {"value": "L-1", "unit": ""}
    assert tree.snapshot("stage/x") == {"value": 0.0, "unit": "m"}
    assert tree.describe("laser")["power"] == {
        "kind": "float", "read_only": False, "unit": "W", "min": 0, "max": 0.5, "default": 0.0
    }


def test_declaration_problems_are_refused():
    with pytest.raises(ValidationError, match="both a leaf and a node"):
        Tree({"a": Bool(), "a/b": Bool()})
    with pytest.raises(ValidationError, match="'a': expected a Leaf schema or a dict of them, got 3"):
        Tree({"a": 3})
    with pytest.raises(ValidationError, match="not a valid tree path"):
        Tree({"a b": Bool()})


def test_concurrent_sets_through_a_device_keep_cache_and_device_in_the_same_order():
    device = RecordingDevice()
    tree = laser_tree(device)
    rng = random.Random(7)
    plans = [[rng.randint(1, 100) for _ in range(300)] for _ in range(4)]

    def work(plan):
        for frames in plan:
            tree.set("frames", frames)

    threads = [threading.Thread(target=work, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(device.sent) == 1200
    assert tree.get("frames") == device.sent[-1][1]
