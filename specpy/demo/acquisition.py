"""The demo's acquisitions, as a lab script would write them: a STED power series, a z-stack, a time series.

Each is one measurement on the application; it is run to the end (the pipeline attached to the
application fits it as it finishes) and saved as an .obf file in the output directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..obf import File
from ..stack import Stack
from .progress import Progress

DEFAULT_POWERS = (0.0, 2.5e-3, 5e-3, 10e-3, 20e-3, 40e-3)  # W: 0 to 8 Psat of the default simulator


@dataclass(frozen=True)
class Plan:
    """What the demo acquires: the frame, the STED powers, the z-stack and the time series."""

    powers: tuple[float, ...] = DEFAULT_POWERS
    field: float = 3.2e-6  # m, square frame
    pixel: float = 25e-9  # m
    dwell: float = 200e-6  # s
    excitation: float = 1e-3  # W
    z_power: float = 10e-3  # W, STED power of the z-stack
    z_slices: int = 9
    z_step: float = 250e-9  # m
    time_power: float = 20e-3  # W, STED power of the time series
    time_points: int = 5
    interval: float = 0.0  # s between time points

    def __post_init__(self) -> None:
        """Refuse a plan the demo cannot fit a STED law to."""
        if len(set(self.powers)) < 3 or min(self.powers) < 0:
            raise ValidationError(f"the STED series needs at least 3 distinct powers >= 0 W, got {self.powers!r}")
        if self.z_slices < 1 or self.time_points < 1:
            raise ValidationError(f"z_slices and time_points must be >= 1, got {self.z_slices}, {self.time_points}")

    def frame(self, sted_power: float) -> dict[str, Any]:
        """The parameters of one x-y frame in the focal plane (z = 0) at a STED power (the STED laser off at 0 W)."""
        # 'xyz' with a single slice: every measurement moves the stage to the focus itself, wherever
        # the measurement before it (a z-stack) left the stage.
        axis = {"offset": 0.0, "length": self.field, "pixel_size": self.pixel}
        focus = {"offset": 0.0, "length": self.z_step, "pixel_size": self.z_step}
        return {"scan": {"axes": "xyz", "x": dict(axis), "y": dict(axis), "z": focus, "dwell_time": self.dwell},
                "channels": {"excitation": {"enabled": True, "power": self.excitation},
                             "sted": {"enabled": sted_power > 0, "power": sted_power}}}


@dataclass
class Acquired:
    """One finished measurement: its kind, the .obf file it was saved to, its stacks and their STED powers."""

    kind: str
    path: Path
    stacks: list[Stack] = field(default_factory=list)
    powers: list[float] = field(default_factory=list)


def power_name(power: float) -> str:
    """A configuration name for a STED power ('confocal' at 0 W)."""
    return "confocal" if power == 0 else f"STED {power * 1e3:g} mW"


def sted_series(application: Any, plan: Plan) -> tuple[Any, list[float]]:
    """One measurement with one configuration per STED power; the engine alternates them step by step."""
    measurement = application.create_measurement()
    first = measurement.configuration(0)
    for index, power in enumerate(plan.powers):
        configuration = first if index == 0 else measurement.clone(first)
        configuration.set_name(power_name(power))
        configuration.set_parameters("", plan.frame(power))
    return measurement, list(plan.powers)


def z_stack(application: Any, plan: Plan) -> tuple[Any, list[float]]:
    """A z-stack through the bead plane at one STED power, slices centred on the focus."""
    measurement = application.create_measurement()
    configuration = measurement.configuration(0)
    configuration.set_name(f"z-stack, {power_name(plan.z_power)}")
    parameters = plan.frame(plan.z_power)
    parameters["scan"]["z"]["length"] = plan.z_slices * plan.z_step
    configuration.set_parameters("", parameters)
    return measurement, [plan.z_power]


def time_series(application: Any, plan: Plan) -> tuple[Any, list[float]]:
    """A short time series at one STED power."""
    measurement = application.create_measurement()
    configuration = measurement.configuration(0)
    configuration.set_name(f"time series, {power_name(plan.time_power)}")
    configuration.set_parameters("", {**plan.frame(plan.time_power),
                                      "steps": {"time_points": plan.time_points, "interval": plan.interval}})
    return measurement, [plan.time_power]


MEASUREMENTS = (("sted_series", "STED power series", sted_series, lambda plan: len(plan.powers)),
                ("z_stack", "z-stack", z_stack, lambda plan: plan.z_slices),
                ("time_series", "time series", time_series, lambda plan: plan.time_points))


def saved_stacks(path: Path) -> list[Stack]:
    """The stacks of a saved measurement, read back (their data loads on first use)."""
    with File(path, File.Read) as saved:
        return [saved.read(index) for index in range(saved.number_of_stacks())]


def acquire_all(application: Any, plan: Plan, out: Path, progress: Progress) -> list[Acquired]:
    """Run every demo measurement (progress per frame), save each as `<out>/<kind>.obf`, close it."""
    acquired = []
    application.connect_end(progress.advance, 1)
    try:
        for kind, label, create, frames in MEASUREMENTS:
            measurement, powers = create(application, plan)
            progress.stage(f"the {label}", frames(plan))
            application.run(measurement)
            path = (out / f"{kind}.obf").resolve()
            measurement.save_as(str(path))  # a str, absolute: the application may be a service in another process
            acquired.append(Acquired(kind, path, saved_stacks(path), powers))
            application.close(measurement)  # its stacks are released; the analysis reads the saved file
    finally:
        application.disconnect_end(progress.advance, 1)
    return acquired
