"""The demo's physics: per-bead FWHMs from fitted spots, and the STED law fitted to them.

The STED law: a point emitter's FWHM at STED power P is d = d0 / sqrt(1 + P/Psat). A bead of
finite size adds its own width in quadrature, so the fitted model is
sqrt(d0^2 / (1 + P/Psat) + b^2) with the bead's FWHM b known (0 for point emitters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.optimize import curve_fit

from ..errors import ValidationError


@dataclass(frozen=True)
class StedLawFit:
    """The fitted STED law: d0 and Psat with their standard errors, and the fit's chi-square."""

    d0: float
    d0_err: float
    psat: float
    psat_err: float
    chi2: float
    dof: int

    def predict(self, power: np.ndarray | float, bead_fwhm: float = 0.0) -> np.ndarray:
        """The FWHM the fitted law predicts at `power` (W)."""
        return sted_law(power, self.d0, self.psat, bead_fwhm)


@dataclass(frozen=True)
class PowerPoint:
    """The beads measured at one STED power: how many, their weighted-mean FWHM, its error, and their spread."""

    power: float
    beads: int
    fwhm: float
    fwhm_err: float
    spread: float


def sted_law(power: np.ndarray | float, d0: float, psat: float, bead_fwhm: float = 0.0) -> np.ndarray:
    """The FWHM of a bead of FWHM `bead_fwhm` at STED power `power`: sqrt(d0^2 / (1 + P/Psat) + b^2)."""
    power = np.asarray(power, dtype=float)
    return np.sqrt(d0**2 / (1.0 + power / psat) + bead_fwhm**2)


def _checked(power: np.ndarray, fwhm: np.ndarray, fwhm_err: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three arrays as floats, checked for equal length, finite values, positive widths and errors."""
    arrays = [np.asarray(a, dtype=float).ravel() for a in (power, fwhm, fwhm_err)]
    if len({a.size for a in arrays}) != 1:
        raise ValidationError(f"power, fwhm and fwhm_err must have one value per bead; sizes {[a.size for a in arrays]}")
    power, fwhm, fwhm_err = arrays
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValidationError("power, fwhm and fwhm_err must be finite")
    if (power < 0).any() or (fwhm <= 0).any() or (fwhm_err <= 0).any():
        raise ValidationError("powers must be >= 0 W, FWHMs and their errors > 0")
    if np.unique(power).size < 3:
        raise ValidationError(f"the STED law needs beads at 3 or more distinct powers; got {np.unique(power).tolist()} W")
    return power, fwhm, fwhm_err


def fit_sted_law(power: np.ndarray, fwhm: np.ndarray, fwhm_err: np.ndarray, bead_fwhm: float = 0.0) -> StedLawFit:
    """Fit d0 and Psat to per-bead FWHMs (m) at STED powers (W), weighted by the FWHM errors."""
    power, fwhm, fwhm_err = _checked(power, fwhm, fwhm_err)
    if not 0 <= bead_fwhm < fwhm.min():
        raise ValidationError(f"the bead FWHM {bead_fwhm:g} m must be >= 0 and below every measured FWHM")
    low = power == power.min()
    d0_guess = float(np.sqrt(max(np.average(fwhm[low], weights=fwhm_err[low] ** -2) ** 2 - bead_fwhm**2, 1e-30)))
    psat_guess = float(np.median(power[power > 0])) if (power > 0).any() else 1.0

    def model(p: np.ndarray, d0: float, psat: float) -> np.ndarray:
        return sted_law(p, d0, psat, bead_fwhm)

    try:
        values, covariance = curve_fit(model, power, fwhm, p0=(d0_guess, psat_guess), sigma=fwhm_err,
                                       absolute_sigma=True, bounds=([0.0, 0.0], [np.inf, np.inf]))
    except (RuntimeError, ValueError) as error:
        raise ValidationError(f"the STED law did not fit these FWHMs: {error}") from None
    chi2 = float((((fwhm - model(power, *values)) / fwhm_err) ** 2).sum())
    errors = np.sqrt(np.diag(covariance))
    return StedLawFit(float(values[0]), float(errors[0]), float(values[1]), float(errors[1]), chi2, power.size - 2)


def bead_fwhms(spots: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per converged spot: its mean FWHM (x, y), the error of that mean, and the row index."""
    fx, fy = (np.asarray(spots[c], dtype=float) for c in ("fwhm_x", "fwhm_y"))
    ex, ey = (np.asarray(spots[c], dtype=float) for c in ("fwhm_x_err", "fwhm_y_err"))
    fwhm, err = 0.5 * (fx + fy), 0.5 * np.hypot(ex, ey)
    good = (np.asarray(spots["status"]) == 0) & np.isfinite(fwhm) & np.isfinite(err) & (fwhm > 0) & (err > 0)
    rows = np.flatnonzero(good)
    return fwhm[rows], err[rows], rows


def by_power(power: np.ndarray, fwhm: np.ndarray, fwhm_err: np.ndarray) -> list[PowerPoint]:
    """The beads grouped by STED power: weighted-mean FWHM, its error and the beads' spread, lowest power first."""
    power, fwhm, fwhm_err = (np.asarray(a, dtype=float) for a in (power, fwhm, fwhm_err))
    points = []
    for value in np.unique(power):
        at = power == value
        weights = fwhm_err[at] ** -2
        points.append(PowerPoint(float(value), int(at.sum()), float(np.average(fwhm[at], weights=weights)),
                                 float(weights.sum() ** -0.5), float(fwhm[at].std())))
    return points


def deviation(value: float, truth: float) -> float:
    """The relative deviation of `value` from `truth` (0.01 = 1 %)."""
    return (value - truth) / truth


@dataclass(frozen=True)
class PlaneRow:
    """The beads of one plane of a z-stack or time series: how many converged, their median FWHM, their counts."""

    index: int
    beads: int
    fwhm_median: float
    counts: float


def by_plane(spots: Table, column: str, planes: int) -> list[PlaneRow]:
    """Per plane (0 .. planes-1, by the spots' `column`, e.g. 'z_index'): converged beads, median FWHM, total counts."""
    if column not in spots.colnames and planes > 1 and len(spots):
        raise ValidationError(f"the spot table has no {column!r} column; columns: {spots.colnames}")
    fwhm, _, rows = bead_fwhms(spots)
    index = np.asarray(spots[column], dtype=int)[rows] if column in spots.colnames else np.zeros(rows.size, int)
    norm = np.asarray(spots["norm"], dtype=float)[rows]
    return [PlaneRow(plane, int((index == plane).sum()),
                     float(np.median(fwhm[index == plane])) if (index == plane).any() else float("nan"),
                     float(norm[index == plane].sum())) for plane in range(planes)]
