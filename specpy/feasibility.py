"""Can a measurement run on this rig? Every reason it cannot, found before anything moves.

The measurement schema bounds values in general; this checks them against the devices at
hand: the scanner's pixel counts, pixel sizes and dwell range, the lasers' maximum power, the
filter wheel's positions and the stage's z travel.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import ValidationError
from .measurement import Configuration
from .measurement_schema import pixels


def _within(problems: list[str], where: str, value: float, device: Any, path: str, what: str) -> None:
    """Note a problem if `value` is outside the bounds the device's schema gives for `path`."""
    tree = device.parameters if path in device.parameters else device.states
    leaf = tree.leaf(path)
    low = -float("inf") if leaf.min is None else leaf.min
    high = float("inf") if leaf.max is None else leaf.max
    if not low <= value <= high:
        unit = f" {leaf.unit}" if leaf.unit else ""
        problems.append(f"{where}: {what} {value:g}{unit} is outside what {device.name} allows, {low:g}..{high:g}{unit}")


def problems_of(configuration: Configuration, devices: Any) -> list[str]:
    """Every reason `configuration` cannot be acquired with `devices`."""
    where = f"configuration {configuration.name()!r}"
    parameters = configuration.parameters("")
    scan, channels = parameters["scan"], parameters["channels"]
    problems: list[str] = []
    for role in ("scanner", channels["detector"]):
        if not devices.has_role(role):
            problems.append(f"{where}: the rig has no device with the role {role!r}")
    if devices.has_role("scanner"):
        scanner = devices.by_role("scanner")
        for axis in ("x", "y"):
            geometry = scan[axis]
            _within(problems, where, pixels(geometry["length"], geometry["pixel_size"]), scanner, f"pixels/{axis}",
                    f"scan/{axis}: the pixel count")
            _within(problems, where, geometry["pixel_size"], scanner, f"pixel_size/{axis}", f"scan/{axis}/pixel_size")
            _within(problems, where, geometry["offset"], scanner, f"offset/{axis}", f"scan/{axis}/offset")
        _within(problems, where, scan["dwell_time"], scanner, "dwell_time", "scan/dwell_time")
    for role, key in (("excitation_laser", "excitation"), ("sted_laser", "sted")):
        wanted = channels[key]
        if not devices.has_role(role):
            if wanted["enabled"]:
                problems.append(f"{where}: channels/{key} is enabled but the rig has no {role}")
            continue
        maximum = devices.by_role(role).max_power()
        if wanted["power"] > maximum:
            problems.append(f"{where}: channels/{key}/power {wanted['power']:g} W is above the laser's maximum "
                            f"{maximum:g} W")
    if devices.has_role("shutter_wheel"):
        _within(problems, where, channels["filter"], devices.by_role("shutter_wheel"), "filter/position",
                "channels/filter")
    if scan["axes"] == "xyz":
        if not devices.has_role("stage"):
            problems.append(f"{where}: scan/axes is 'xyz' but the rig has no stage to move in z")
        else:
            z = scan["z"]
            low, high = devices.by_role("stage").travel()["z"]
            ends = (z["offset"] - z["length"] / 2, z["offset"] + z["length"] / 2)
            if ends[0] < low or ends[1] > high:
                problems.append(f"{where}: the z range {ends[0]:g}..{ends[1]:g} m (scan/z) leaves the stage's z "
                                f"travel {low:g}..{high:g} m")
    return problems


def check_runnable(configurations: Iterable[Configuration], devices: Any) -> None:
    """Raise one ValidationError listing every problem of every configuration, or return."""
    problems = [p for c in configurations for p in problems_of(c, devices)]
    if problems:
        error = ValidationError(f"the measurement cannot run; {len(problems)} problem(s): " + "; ".join(problems))
        error.problems = problems  # type: ignore[attr-defined]
        raise error
