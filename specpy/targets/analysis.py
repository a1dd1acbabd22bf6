"""The default analysis of a bead scan: find every bead, fit a 2D Gaussian, summarise the FWHM.

`analyse_beads(stack, parameters)` returns a `BeadAnalysis`: the per-spot table (physical units
when the stack's axes are lengths: metres), the model and background images for the product,
and the FWHM distribution. The fit itself is `specpy.fit.fit_spots`, on the pixel grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy import units as u
from astropy.table import Table

from ..stack import Stack
from .errors import TargetError

DEFAULT_PARAMETERS: dict[str, Any] = {"roi": 7, "model": "gauss2d", "stat": "cstat", "threshold": 5.0}
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
SPOT_COLUMNS = ("x", "x_err", "y", "y_err", "norm", "norm_err", "fwhm_x", "fwhm_x_err", "fwhm_y", "fwhm_y_err",
                "bg", "bg_err", "status", "cstat")


@dataclass
class BeadAnalysis:
    """What the bead analysis found in one stack: spots, images for the product, and the FWHM summary."""

    spots: Table
    model: np.ndarray
    background: np.ndarray
    length_unit: str

    def spot_rows(self, stack_index: int, role: str) -> list[dict[str, Any]]:
        """The spot_fit rows of this stack (linked to the task input `role`)."""
        return [{"stack": stack_index, "spot": index, "input": role, "length_unit": self.length_unit,
                 **{name: row[name] for name in SPOT_COLUMNS}} for index, row in enumerate(self.spots)]

    def summary_row(self, stack_index: int, role: str) -> dict[str, Any]:
        """The bead_summary row: how many spots, how many converged, and their mean-FWHM distribution."""
        converged = np.asarray(self.spots["status"]) == 0
        fwhm = (0.5 * (np.asarray(self.spots["fwhm_x"], float) + np.asarray(self.spots["fwhm_y"], float)))[converged]
        stats: dict[str, float | None] = dict.fromkeys(("fwhm_median", "fwhm_p16", "fwhm_p84", "fwhm_mean", "fwhm_std"))
        if fwhm.size:
            p16, median, p84 = np.percentile(fwhm, [16, 50, 84])
            stats.update(fwhm_median=median, fwhm_p16=p16, fwhm_p84=p84, fwhm_mean=fwhm.mean(), fwhm_std=fwhm.std())
        return {"stack": stack_index, "input": role, "spots": len(self.spots), "converged": int(converged.sum()),
                "length_unit": self.length_unit, **stats}


def image_axes(stack: Stack) -> tuple[int, int]:
    """The two Stack axes of a 2D image (singleton axes dropped); raises TargetError for anything else."""
    axes = [axis for axis, size in enumerate(stack.shape()) if size > 1]
    if len(axes) != 2:
        raise TargetError(f"the bead analysis needs a 2D image; stack {stack.name()!r} has sizes {stack.shape()}")
    return axes[0], axes[1]


def render(spots: Table, shape: tuple[int, int], background: float) -> np.ndarray:
    """The fitted model on the pixel grid: a flat background plus every spot's 2D Gaussian (integrated counts)."""
    image = np.full(shape, background, dtype=float)
    for spot in spots:
        sx, sy = spot["fwhm_x"] / FWHM_PER_SIGMA, spot["fwhm_y"] / FWHM_PER_SIGMA
        if not (np.isfinite([spot["x"], spot["y"], sx, sy, spot["norm"]]).all() and sx > 0 and sy > 0):
            continue
        x0, x1 = max(int(spot["x"] - 5 * sx), 0), min(int(spot["x"] + 5 * sx) + 2, shape[1])
        y0, y1 = max(int(spot["y"] - 5 * sy), 0), min(int(spot["y"] + 5 * sy) + 2, shape[0])
        if x0 >= x1 or y0 >= y1:
            continue
        y, x = np.mgrid[y0:y1, x0:x1]
        image[y0:y1, x0:x1] += spot["norm"] / (2 * math.pi * sx * sy) * np.exp(
            -0.5 * (((x - spot["x"]) / sx) ** 2 + ((y - spot["y"]) / sy) ** 2))
    return image


def to_physical(spots: Table, stack: Stack, axes: tuple[int, int]) -> tuple[Table, str]:
    """Pixel positions and widths in metres when both image axes are lengths; else kept in pixels."""
    units = [stack.unit(axis) for axis in axes]
    if not all(unit and u.Unit(unit).physical_type == "length" for unit in units):
        return spots, "pixel"
    table = spots.copy()
    for name, axis, unit in (("x", axes[0], units[0]), ("y", axes[1], units[1])):
        scale = (stack.pixel_size(axis) * u.Unit(unit)).to_value(u.m)
        origin = (stack.col_positions(axis)[0] * u.Unit(unit)).to_value(u.m)
        for column, offset in ((name, origin), (f"{name}_err", 0.0), (f"fwhm_{name}", 0.0), (f"fwhm_{name}_err", 0.0)):
            table[column] = np.asarray(spots[column], float) * scale + offset
            table[column].unit = u.m
    return table, "m"


def analyse_beads(stack: Stack, parameters: Mapping[str, Any]) -> BeadAnalysis:
    """Find and fit every bead of a 2D stack (see DEFAULT_PARAMETERS for what `parameters` may set)."""
    from ..fit import fit_spots

    axes = image_axes(stack)
    image = np.asarray(stack.data(), dtype=float).reshape(stack.size(axes[1]), stack.size(axes[0]))
    spots = fit_spots(image, **{**DEFAULT_PARAMETERS, **parameters})
    for column in spots.colnames:
        spots[column].unit = None
    level = float(np.median(spots["bg"])) if len(spots) else float(np.median(image))
    model = render(spots, image.shape, level)
    physical, unit = to_physical(spots, stack, axes)
    shape = stack.data().shape
    return BeadAnalysis(physical, model.reshape(shape), np.full(shape, level), unit)
