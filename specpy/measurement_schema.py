"""The measurement-parameter schema: what one configuration of a measurement acquires.

Every value is SI and checked like a device parameter before anything reaches a device. The
acquisition engine reads these paths; docs/measurement_parameters.md describes them.
"""

from __future__ import annotations

import functools
from typing import Any

from .tree import Bool, Enum, Float, Int, Str

SCAN_AXES = ("xy", "xyz")  # the frame is x (fastest) by y; "xyz" adds z slices as outer steps


def _axis(offset: float, length: float, pixel: float, what: str) -> dict[str, Any]:
    return {
        "offset": Float(unit="m", min=-1e-3, max=1e-3, default=offset, description=f"{what} centre of the scan range"),
        "length": Float(unit="m", min=1e-9, max=2e-3, default=length, description=f"{what} extent of the scan range"),
        "pixel_size": Float(unit="m", min=1e-9, max=1e-4, default=pixel, description=f"{what} step between pixels"),
    }


def measurement_schema() -> dict[str, Any]:
    """The nested dict of leaves of one configuration's parameters (defaults: a 64 x 64 confocal frame).

    The dicts are fresh; the leaves (immutable) are shared by every configuration, which keeps a
    long-running service's measurements small.
    """
    return _fresh(_schema())


def _fresh(node: dict[str, Any]) -> dict[str, Any]:
    return {key: _fresh(value) if isinstance(value, dict) else value for key, value in node.items()}


@functools.cache
def _schema() -> dict[str, Any]:
    return {
        "scan": {
            "axes": Enum(SCAN_AXES, default="xy", description="scanned axes, fastest first"),
            "x": _axis(0.0, 3.2e-6, 50e-9, "x:"),
            "y": _axis(0.0, 3.2e-6, 50e-9, "y:"),
            "z": _axis(0.0, 1e-6, 250e-9, "z (stage):"),
            "dwell_time": Float(unit="s", min=1e-8, max=1.0, default=10e-6, description="pixel dwell time"),
            "line_repetitions": Int(min=1, max=1000, default=1, description="lines accumulated per line"),
            "frame_repetitions": Int(min=1, max=1000, default=1, description="frames accumulated per step"),
        },
        "channels": {
            "detector": Str(default="counter", description="role of the photon counter recording the stack"),
            "excitation": {
                "enabled": Bool(default=True, description="excitation laser emits during the step"),
                "power": Float(unit="W", min=0.0, max=10.0, default=1e-3, description="excitation power"),
            },
            "sted": {
                "enabled": Bool(default=False, description="STED laser emits during the step"),
                "power": Float(unit="W", min=0.0, max=10.0, default=0.0, description="STED depletion power"),
            },
            "filter": Int(min=1, max=64, default=1, description="filter-wheel position"),
        },
        "steps": {
            "time_points": Int(min=1, max=100_000, default=1, description="time points of the outer loop"),
            "interval": Float(unit="s", min=0.0, max=86_400.0, default=0.0, description="time between time points"),
            "configurations": Str(
                default="", description="comma-separated configurations to alternate per step ('' = all)"
            ),
        },
    }


def pixels(length: float, pixel_size: float) -> int:
    """The number of pixels that cover `length` in steps of `pixel_size` (at least one)."""
    return max(1, round(length / pixel_size))
