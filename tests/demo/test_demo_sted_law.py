"""The demo's analysis on synthetic data with a known truth: the STED-law fit, grouping, and bad input."""

import numpy as np
import pytest
from astropy.table import Table

from specpy import ValidationError
from specpy.demo.analysis import bead_fwhms, by_plane, by_power, deviation, fit_sted_law, sted_law

D0, PSAT = 250e-9, 5e-3
POWERS = np.array([0.0, 2.5e-3, 5e-3, 10e-3, 20e-3, 40e-3])


def synthetic_beads(seed: int, bead_fwhm: float = 0.0, relative_error: float = 0.015, per_power: int = 16):
    """Per-bead FWHMs scattered around the STED law by their (known) errors."""
    rng = np.random.default_rng(seed)
    power = np.repeat(POWERS, per_power)
    truth = sted_law(power, D0, PSAT, bead_fwhm)
    error = relative_error * truth
    return power, truth + rng.normal(0.0, error), error


def test_the_law_itself():
    assert sted_law(0.0, D0, PSAT) == pytest.approx(D0)
    assert sted_law(PSAT, D0, PSAT) == pytest.approx(D0 / np.sqrt(2))
    assert sted_law(3 * PSAT, D0, PSAT, bead_fwhm=30e-9) == pytest.approx(np.hypot(D0 / 2, 30e-9))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fit_recovers_d0_and_psat_within_its_errors(seed):
    power, fwhm, error = synthetic_beads(seed)
    fit = fit_sted_law(power, fwhm, error)
    assert abs(fit.d0 - D0) < 4 * fit.d0_err and abs(fit.psat - PSAT) < 4 * fit.psat_err
    assert abs(deviation(fit.d0, D0)) < 0.01 and abs(deviation(fit.psat, PSAT)) < 0.05
    assert fit.dof == power.size - 2
    assert 0.6 < fit.chi2 / fit.dof < 1.5  # errors are what the scatter is


def test_fit_accounts_for_the_bead_size():
    power, fwhm, error = synthetic_beads(4, bead_fwhm=60e-9)
    ignored, accounted = fit_sted_law(power, fwhm, error), fit_sted_law(power, fwhm, error, bead_fwhm=60e-9)
    assert abs(deviation(accounted.psat, PSAT)) < 0.05
    assert deviation(ignored.psat, PSAT) > 0.10  # big beads ignored look like weaker depletion
    assert accounted.predict(0.0, 60e-9) == pytest.approx(np.hypot(accounted.d0, 60e-9))


def test_weights_follow_the_errors():
    power, fwhm, error = synthetic_beads(5)
    fwhm = fwhm.copy()
    error = error.copy()
    fwhm[0], error[0] = 400e-9, 1e-6  # a wild bead with a huge error barely counts
    assert abs(deviation(fit_sted_law(power, fwhm, error).d0, D0)) < 0.01


@pytest.mark.parametrize("power, fwhm, error, bead, message", [
    ([0, 1e-3], [2e-7, 1e-7], [1e-9], 0.0, "one value per bead"),
    ([0, 1e-3, 2e-3], [2e-7, np.nan, 1e-7], [1e-9] * 3, 0.0, "finite"),
    ([0, 1e-3, -2e-3], [2e-7, 1.5e-7, 1e-7], [1e-9] * 3, 0.0, ">= 0 W"),
    ([0, 1e-3, 2e-3], [2e-7, 1.5e-7, 1e-7], [1e-9, 0, 1e-9], 0.0, "errors > 0"),
    ([0, 0, 1e-3, 1e-3], [2e-7, 2e-7, 1e-7, 1e-7], [1e-9] * 4, 0.0, "3 or more distinct powers"),
    ([0, 1e-3, 2e-3], [2e-7, 1.5e-7, 1e-7], [1e-9] * 3, 2e-7, "bead FWHM"),
])
def test_bad_input_is_a_clear_error(power, fwhm, error, bead, message):
    with pytest.raises(ValidationError, match=message):
        fit_sted_law(np.array(power, float), np.array(fwhm, float), np.array(error, float), bead)


def spot_table(fwhm_x, fwhm_y, status, plane=None):
    n = len(fwhm_x)
    table = Table({"fwhm_x": fwhm_x, "fwhm_y": fwhm_y, "fwhm_x_err": np.full(n, 2e-9), "fwhm_y_err": np.full(n, 2e-9),
                   "status": status, "norm": np.full(n, 100.0)})
    if plane is not None:
        table["z_index"] = plane
    return table


def test_bead_fwhms_keep_converged_finite_spots_only():
    table = spot_table([100e-9, 110e-9, np.nan, 120e-9], [102e-9, 110e-9, 1e-7, 118e-9], [0, 1, 0, 0])
    fwhm, error, rows = bead_fwhms(table)
    assert rows.tolist() == [0, 3]
    assert fwhm.tolist() == pytest.approx([101e-9, 119e-9])
    assert error == pytest.approx(np.full(2, 0.5 * np.hypot(2e-9, 2e-9)))


def test_grouping_by_power_and_by_plane():
    points = by_power(np.array([0.0, 0.0, 1e-3]), np.array([200e-9, 210e-9, 150e-9]), np.array([1e-9, 1e-9, 2e-9]))
    assert [(p.power, p.beads) for p in points] == [(0.0, 2), (1e-3, 1)]
    assert points[0].fwhm == pytest.approx(205e-9) and points[0].fwhm_err == pytest.approx(1e-9 / np.sqrt(2))
    rows = by_plane(spot_table([1e-7, 2e-7, 3e-7], [1e-7, 2e-7, 3e-7], [0, 0, 0], plane=[0, 2, 2]), "z_index", 3)
    assert [(r.index, r.beads, r.counts) for r in rows] == [(0, 1, 100.0), (1, 0, 0.0), (2, 2, 200.0)]
    assert np.isnan(rows[1].fwhm_median) and rows[2].fwhm_median == pytest.approx(2.5e-7)
    with pytest.raises(ValidationError, match="t_index"):
        by_plane(spot_table([1e-7], [1e-7], [0], plane=[0]), "t_index", 2)
