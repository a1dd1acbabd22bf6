"""The default analysis of a bead scan: find every bead, fit a 2D Gaussian, summarise the FWHM.

`analyse_beads(stack, parameters)` returns a `BeadAnalysis`: the per-spot table (physical units
when the stack's axes are lengths: metres), the model and background images for the product,
and the FWHM distribution. The fit itself is `specpy.fit.fit_spots`, on the pixel grid. A stack
with more axes than x and y (a z-stack, a time series) is analysed plane by plane: each spot
row then says its plane (`plane`, and `<label>_index` per outer axis, e.g. `z_index`, `t_index`),
and the summary covers the spots of every plane.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy import units as u
from astropy.table import Table, vstack

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


def outer_axes(stack: Stack) -> tuple[int, ...]:
    """The axes of several planes beyond x and y (Stack axes 0 and 1); () for a 2D image (see `image_axes`)."""
    axes = [axis for axis, size in enumerate(stack.shape()) if size > 1]
    if len(axes) <= 2:
        return ()
    if axes[:2] != [0, 1]:
        raise TargetError(f"the bead analysis fits x-y planes; stack {stack.name()!r} with sizes {stack.shape()} "
                          "has no x-y image on its first two axes")
    return tuple(axes[2:])


def _label_plane(spots: Table, plane: int, indices: dict[str, int]) -> Table:
    """The spots of one plane with the plane's flat index and its index along each outer axis."""
    spots["plane"] = np.full(len(spots), plane, dtype=np.int32)
    for name, index in indices.items():
        spots[name] = np.full(len(spots), index, dtype=np.int32)
    return spots


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


def _fit_image(image: np.ndarray, parameters: Mapping[str, Any]) -> tuple[Table, np.ndarray, float]:
    """Find and fit the beads of one 2D image: the spot table (pixels), the rendered model, the background level."""
    from ..fit import fit_spots

    spots = fit_spots(image, **{**DEFAULT_PARAMETERS, **parameters})
    for column in spots.colnames:
        spots[column].unit = None
    level = float(np.median(spots["bg"])) if len(spots) else float(np.median(image))
    return spots, render(spots, image.shape, level), level


def _fit_planes(stack: Stack, outer: tuple[int, ...], parameters: Mapping[str, Any]) -> tuple[Table, np.ndarray, np.ndarray]:
    """Fit every x-y plane; the spots of all planes (labelled by plane), the model and the background, plane by plane."""
    leading = list(reversed(range(2, stack.number_of_dimensions())))  # the outer axes in numpy order
    planes = np.asarray(stack.data(), dtype=float).reshape(-1, stack.size(1), stack.size(0))
    tables, models, levels = [], np.empty_like(planes), np.empty(len(planes))
    for plane, image in enumerate(planes):
        spots, models[plane], levels[plane] = _fit_image(image, parameters)
        position = dict(zip(leading, np.unravel_index(plane, [stack.size(axis) for axis in leading])))
        tables.append(_label_plane(spots, plane, {f"{stack.label(axis) or f'axis{axis}'}_index": int(position[axis])
                                                  for axis in outer}))
    return vstack(tables, metadata_conflicts="silent"), models, np.broadcast_to(levels[:, None, None], planes.shape)


def analyse_beads(stack: Stack, parameters: Mapping[str, Any]) -> BeadAnalysis:
    """Find and fit every bead of a 2D stack, or of every x-y plane of a larger one (see DEFAULT_PARAMETERS)."""
    shape = stack.data().shape
    outer = outer_axes(stack)
    if outer:
        axes = (0, 1)
        spots, model, background = _fit_planes(stack, outer, parameters)
    else:
        axes = image_axes(stack)
        image = np.asarray(stack.data(), dtype=float).reshape(stack.size(axes[1]), stack.size(axes[0]))
        spots, model, level = _fit_image(image, parameters)
        background = np.full(shape, level)
    physical, unit = to_physical(spots, stack, axes)
    return BeadAnalysis(physical, model.reshape(shape), np.asarray(background).reshape(shape), unit)
