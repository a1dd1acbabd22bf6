"""One step of an acquisition on the devices: apply what changed, scan, count, add into the stack.

Devices are found by role: `scanner`, the counter named by `channels/detector`, and, where the
rig has them, `excitation_laser`, `sted_laser`, `shutter_wheel` and `stage`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import Error
from .measurement import Configuration
from .measurement_schema import pixels

LASERS = (("excitation_laser", "excitation"), ("sted_laser", "sted"))


def _apply(applied: dict[tuple[str, str], Any], role: str, what: str, value: Any, send: Callable[[Any], Any]) -> None:
    """Send a setting only if it differs from what this acquisition last sent."""
    key = (role, what)
    if key not in applied or applied[key] != value:
        send(value)
        applied[key] = value


def z_position(configuration: Configuration, z_slice: int) -> float:
    """The stage z of a z slice: slices centred on the z offset, one z pixel apart."""
    z = configuration.parameters("scan/z")
    count = pixels(z["length"], z["pixel_size"])
    return z["offset"] + (z_slice - (count - 1) / 2) * z["pixel_size"]


def acquire_step(devices: Any, configuration: Configuration, z_slice: int, target: np.ndarray,
                 applied: dict[tuple[str, str], Any]) -> None:
    """Acquire one step of `configuration` into `target` (ny, nx), overwriting it."""
    parameters = configuration.parameters("")
    scan, channels = parameters["scan"], parameters["channels"]
    scanner = devices.by_role("scanner")
    counter = devices.by_role(channels["detector"])
    raster = (
        pixels(scan["x"]["length"], scan["x"]["pixel_size"]), pixels(scan["y"]["length"], scan["y"]["pixel_size"]),
        scan["x"]["pixel_size"], scan["y"]["pixel_size"], scan["x"]["offset"], scan["y"]["offset"], scan["dwell_time"],
    )
    if raster[1] != target.shape[0] or raster[0] != target.shape[1]:
        raise Error(f"{configuration.name()!r} now scans {raster[0]} x {raster[1]} pixels but its stack holds "
                    f"{target.shape[1]} x {target.shape[0]}; the frame size cannot change during a measurement")
    _apply(applied, "scanner", "raster", raster, lambda v: scanner.configure(*v))
    emitting = []
    for role, key in LASERS:
        wanted = channels[key]
        if not devices.has_role(role):
            if wanted["enabled"]:
                raise Error(f"{configuration.name()!r} enables the {key} laser but the rig has no {role}")
            continue
        laser = devices.by_role(role)
        if wanted["enabled"]:
            emitting.append((laser, key))
        _apply(applied, role, "power", wanted["power"], lambda v, d=laser: d.parameters.set("power", v))
        _apply(applied, role, "emission", wanted["enabled"], lambda v, d=laser: _switch_emission(d, v))
    if devices.has_role("shutter_wheel"):
        wheel = devices.by_role("shutter_wheel")
        _apply(applied, "shutter_wheel", "filter", channels["filter"], lambda v: wheel.select_filter(v, wait=True))
        _apply(applied, "shutter_wheel", "open", True, lambda _: wheel.open_shutter())
    if devices.has_role("stage"):  # every frame is at its configuration's focus: z slice, or the z offset
        stage = devices.by_role("stage")
        z = z_position(configuration, z_slice) if scan["axes"] == "xyz" else scan["z"]["offset"]
        _apply(applied, "stage", "z", z, lambda v: stage.move_to(z=v, wait=True))
    repetitions = scan["frame_repetitions"] * scan["line_repetitions"]
    # The interlocks are read while the first frame is counted (it may open any time; there the round trips
    # cost the step nothing); an open one fails the step after that frame, which the retry then acquires again.
    counter.acquire_frame(scanner, out=target, while_counting=lambda: _check_interlocks(emitting))
    for _ in range(repetitions - 1):
        target += counter.acquire_frame(scanner).astype(target.dtype, copy=False)


def _check_interlocks(emitting: list[tuple[Any, str]]) -> None:
    """Raise if the interlock of any laser that should emit is open."""
    for laser, key in emitting:
        if not laser.states.read("interlock"):
            raise Error(f"{laser.name}: the interlock is open, the {key} laser cannot emit; close it and start() "
                        "the measurement again to retry this step")


def _switch_emission(laser: Any, on: bool) -> None:
    """Switch a laser's emission; switched on, wait out its warm-up so no frame sees a dark laser."""
    laser.states.set("emission", on)
    if on:
        laser.wait_until_emitting()


def make_safe(devices: Any) -> None:
    """Stop every laser's emission, then close the shutter (after a run, on a pause or a fault).

    Every part is attempted even if another fails (a jammed shutter must not leave a laser on); the first
    failure is raised after.
    """
    actions = [lambda d=devices.by_role(role): d.states.set("emission", False) for role, _ in LASERS
               if devices.has_role(role)]
    if devices.has_role("shutter_wheel"):
        actions.append(devices.by_role("shutter_wheel").close_shutter)
    failures = []
    for action in actions:
        try:
            action()
        except Exception as error:
            failures.append(error)
    if failures:
        raise failures[0]
