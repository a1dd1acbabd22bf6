"""Spot finding and the one-call spot fit: "fit every bead in this image"."""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.table import Table
from scipy import ndimage

from .errors import DataError, ModelError
from .session import Session

SPOT_MODELS = ("gauss2d", "gauss2d_sym")


def _image(image_or_stack: Any) -> np.ndarray:
    """The numpy data of a Stack or an array, checked to be a finite 2D or 3D image."""
    from ..stack import Stack

    array = image_or_stack.data() if isinstance(image_or_stack, Stack) else np.asarray(image_or_stack)
    if array.ndim not in (2, 3) or array.size == 0:
        raise DataError(f"spot finding needs a non-empty 2D or 3D image, got shape {array.shape}")
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        raise DataError("the image holds NaN or infinite values; spot finding needs finite data")
    return array


def _smoothing_variance(shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Per pixel, the sum of squared smoothing weights: the variance of a smoothed unit-variance field.

    Computed exactly per axis (the "nearest" edge mode weights edge pixels more) and multiplied,
    as the Gaussian filter is separable.
    """
    factor = np.ones(shape)
    for axis, length in enumerate(shape):
        weights = ndimage.gaussian_filter1d(np.eye(length), sigma, axis=0, mode="nearest")
        per_position = (weights**2).sum(axis=1)
        view = [1] * len(shape)
        view[axis] = length
        factor = factor * per_position.reshape(view)
    return factor


def find_spots(image_or_stack: Any, *, threshold: float = 5.0, sigma: float = 1.0, min_distance: int = 2, background_size: int = 15) -> np.ndarray:
    """Local maxima standing `threshold` noise sigmas above a local background; (N, ndim) pixel positions, x first.

    The image is smoothed with a Gaussian of `sigma` pixels; the background is a local median
    over `background_size` pixels; the noise is Poisson (sqrt of the background, reduced by the
    smoothing) for counts, or a robust spread of the residual for data with negative values.
    Brightest spots come first.
    """
    if not threshold > 0 or not sigma > 0 or int(min_distance) < 1 or int(background_size) < 3:
        raise DataError("find_spots needs threshold > 0, sigma > 0, min_distance >= 1 and background_size >= 3")
    image = _image(image_or_stack)
    smooth = ndimage.gaussian_filter(image, sigma, mode="nearest")
    background = ndimage.median_filter(smooth, size=int(background_size), mode="nearest")
    residual = smooth - background
    if image.min() >= 0:
        noise = np.sqrt(np.maximum(background, 1.0) * _smoothing_variance(image.shape, sigma))
    else:
        spread = 1.4826 * np.median(np.abs(residual - np.median(residual)))
        noise = np.full(image.shape, max(spread, np.finfo(float).tiny))
    peaks = (smooth == ndimage.maximum_filter(smooth, size=2 * int(min_distance) + 1, mode="nearest")) & (residual > threshold * noise)
    index = np.argwhere(peaks)
    order = np.argsort(-residual[peaks], kind="stable")
    return index[order][:, ::-1].astype(float)


def fit_spots(
    image_or_stack: Any,
    positions: np.ndarray | None = None,
    roi: int = 7,
    model: str = "gauss2d",
    stat: str = "cstat",
    *,
    variance: str | None = None,
    fwhm: float | None = None,
    integrate: bool = False,
    workers: int | None = None,
    **find_options: Any,
) -> Table:
    """Fit a 2D Gaussian plus flat background in an ROI around every spot; one table row per spot.

    Columns: x, y, norm, fwhm_x, fwhm_y, bg, each with an `_err` (Fisher standard error), then
    status (see `Status`), iterations, cstat (the fit statistic), cstatexp and cstatrms. Positions
    are pixel indices (x, y) and default to `find_spots`. Coordinates in the table are pixels for
    arrays and the stack's physical coordinates for a Stack. `model="gauss2d_sym"` ties fwhm_y to
    fwhm_x; `fwhm` freezes the width at a known value.
    """
    from ..stack import Stack

    if model not in SPOT_MODELS:
        raise ModelError(f"unknown spot model {model!r}; allowed: {', '.join(SPOT_MODELS)}")
    image = _image(image_or_stack)
    if image.ndim != 2:
        raise DataError(f"fit_spots fits 2D images; got {image.ndim} dimensions (use a Session with gauss3d for beads)")
    if positions is None:
        positions = find_spots(image_or_stack, **find_options)
    elif find_options:
        raise DataError(f"spot-finder options {sorted(find_options)} make no sense with explicit positions")
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise DataError(f"positions must be an (N, 2) array of x, y pixel indices, got shape {positions.shape}")
    columns = ("x", "y", "norm", "fwhm_x", "fwhm_y", "bg")
    if positions.shape[0] == 0:
        table = Table(names=[c for name in columns for c in (name, name + "_err")] + ["status", "iterations", "cstat", "cstatexp", "cstatrms"])
        return table
    session = Session(workers=workers)
    session.data(image_or_stack if isinstance(image_or_stack, Stack) else image, positions=positions, size=roi, stat=stat, variance=variance)
    session.com("gauss2d", integrate=bool(integrate))
    session.com("const")
    if fwhm is not None:
        for axis in ("fwhm_x", "fwhm_y"):
            session.par(1, 1, axis, float(fwhm), thawn=False)
    elif model == "gauss2d_sym":
        session.par(1, 1, "fwhm_x", 0.5 * (session.par_value(1, 1, "fwhm_x") + session.par_value(1, 1, "fwhm_y")))
        session.par_couple(1, 1, "fwhm_y", 1, 1, "fwhm_x", 1.0)
    result = session.fit()
    names = {"x": "s1.c1.x", "y": "s1.c1.y", "norm": "s1.c1.norm", "fwhm_x": "s1.c1.fwhm_x", "fwhm_y": "s1.c1.fwhm_y", "bg": "s1.c2.level"}
    table = Table()
    unit = session.dataset.get(1).units[0]
    for column, dotted in names.items():
        table[column] = result.values[dotted]
        table[column + "_err"] = result.errors[dotted]
        if column in ("x", "y", "fwhm_x", "fwhm_y") and unit:
            table[column].unit = table[column + "_err"].unit = unit
    table["status"] = result.status
    table["iterations"] = result.iterations
    table["cstat"] = result.stat_item
    table["cstatexp"] = result.cstatexp_item
    table["cstatrms"] = result.cstatrms_item
    return table
