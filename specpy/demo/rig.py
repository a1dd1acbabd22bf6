"""The demo's rig file: the built-in simulated rig with a known bead sample and known optics.

The demo writes it into its output directory and later reads the truth back from the same file,
so what the fits recover is compared with exactly what the simulator was told to show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ValidationError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class Truth:
    """What the simulator was told: the STED optics and the beads' size."""

    d0: float  # lateral FWHM without STED, m
    psat: float  # STED saturation power (laser output), W
    bead_radius: float  # m
    beads: int

    @property
    def bead_fwhm(self) -> float:
        """The FWHM a bead adds in quadrature (the simulator images a bead as a Gaussian of sigma R/sqrt(5))."""
        return FWHM_PER_SIGMA * self.bead_radius / math.sqrt(5.0)


@dataclass(frozen=True)
class SampleLayout:
    """Beads on a jittered square grid centred on the optical axis, in the focal plane."""

    grid: int = 4  # beads per row and column
    spacing: float = 0.8e-6  # m
    jitter: float = 80e-9  # m, uniform +-
    brightness: float = 5e5  # counts/s at the reference excitation power
    radius: float = 5e-9  # m: tiny beads, radius << FWHM

    def positions(self, seed: int) -> np.ndarray:
        """The (N, 3) bead positions in metres, drawn from `seed`."""
        rng = np.random.default_rng(seed)
        centres = (np.arange(self.grid) - (self.grid - 1) / 2) * self.spacing
        x, y = np.meshgrid(centres, centres)
        xy = np.column_stack([x.ravel(), y.ravel()]) + rng.uniform(-self.jitter, self.jitter, (self.grid**2, 2))
        return np.column_stack([xy, np.zeros(len(xy))])


def _toml_value(value: Any) -> str:
    """One TOML value (str, bool, int, float or a list of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)) and not any(isinstance(item, dict) for item in value):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise ValidationError(f"the demo rig cannot write {value!r} as a TOML value")


def toml_text(table: dict[str, Any], prefix: str = "") -> str:
    """A nested dict as TOML text: plain values first, then sub-tables and arrays of tables."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in table.items()
             if not isinstance(value, dict) and not (isinstance(value, list) and value and isinstance(value[0], dict))]
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            text += f"\n[{name}]\n" + toml_text(value, name)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            text += "".join(f"\n[[{name}]]\n" + toml_text(row, name) for row in value)
    return text


def write_rig(path: Path, base: Path, seed: int, layout: SampleLayout = SampleLayout(),
              d0: float = 250e-9, psat: float = 5e-3) -> Path:
    """Write the demo rig: `base`'s rig and devices, simulated, with the seeded bead sample and the optics."""
    with open(base, "rb") as handle:
        rig = tomllib.load(handle)
    beads = [{"x": float(x), "y": float(y), "z": float(z), "brightness": layout.brightness, "radius": layout.radius}
             for x, y, z in layout.positions(seed)]
    rig["rig"] = {**rig.get("rig", {}), "name": "specpy-demo", "simulated": True,
                  "description": "the simulated rig with a known bead sample (specpy demo)"}
    rig["simulation"] = {
        "seed": seed, "time_scale": 100.0,
        "optics": {"d0": d0, "psat": psat},
        "detector": {"background_rate": 1e4},
        "sample": {"emitter": beads},
    }
    ordered = {"rig": rig.pop("rig"), "simulation": rig.pop("simulation"), **rig}
    path.write_text("# Written by `specpy demo`: the simulated rig and the truth the demo compares with.\n\n"
                    + toml_text(ordered), encoding="utf-8")
    return path


def read_truth(path: Path) -> Truth:
    """The optics and bead sample a rig file gives its simulator (the simulator's defaults where it is silent)."""
    with open(path, "rb") as handle:
        simulation = tomllib.load(handle).get("simulation", {})
    optics = simulation.get("optics", {})
    rows = simulation.get("sample", {}).get("emitter", [])
    if not rows:
        raise ValidationError(f"{path}: the demo needs explicit beads ([[simulation.sample.emitter]] rows)")
    radii = {float(row.get("radius", 0.0)) for row in rows}
    if len(radii) != 1:
        raise ValidationError(f"{path}: the demo's beads must share one radius, found {sorted(radii)}")
    return Truth(float(optics.get("d0", 250e-9)), float(optics.get("psat", 5e-3)), radii.pop(), len(rows))
