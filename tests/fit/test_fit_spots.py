"""The spot finder and fit_spots: every bead in an image in one call, edges included."""

import math

import numpy as np
import pytest

from specpy import Stack
from specpy.fit import DataError, ModelError, Status, find_spots, fit_spots

TRUE_SIGMA = 1.4


def _image(seed=3, shape=(64, 80), background=8.0, photons=3000.0):
    rng = np.random.default_rng(seed)
    truth = np.array([[10.3, 12.6], [40.7, 30.2], [70.1, 50.5], [25.5, 55.2], [60.2, 9.8], [1.2, 33.4], [78.6, 62.7]])
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    mu = np.full(shape, background)
    for x, y in truth:
        mu += photons * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * TRUE_SIGMA**2)) / (2 * math.pi * TRUE_SIGMA**2)
    return rng.poisson(mu).astype(float), truth


def _match(found, truth):
    d = np.linalg.norm(found[:, None, :] - truth[None, :, :], axis=2)
    return d.min(axis=0), d.min(axis=1)


def test_find_spots_finds_every_spot_and_nothing_else():
    image, truth = _image()
    found = find_spots(image)
    to_truth, to_found = _match(found, truth)
    assert np.all(to_truth <= 1.0) and np.all(to_found <= 1.0)
    assert found.shape == (len(truth), 2)


def test_find_spots_threshold_follows_the_background():
    rng = np.random.default_rng(4)
    flat = rng.poisson(np.full((60, 60), 50.0)).astype(float)
    assert find_spots(flat).shape[0] == 0  # pure noise on a high background: no spot
    image, truth = _image(background=50.0, photons=3000.0)
    assert find_spots(image).shape[0] == len(truth)


def test_fit_spots_table_and_accuracy():
    image, truth = _image()
    table = fit_spots(image)
    for column in ("x", "y", "norm", "fwhm_x", "fwhm_y", "bg"):
        assert column in table.colnames and column + "_err" in table.colnames
    assert "status" in table.colnames and "cstat" in table.colnames
    assert np.all(table["status"] == Status.CONVERGED)
    order = np.argmin(np.linalg.norm(np.c_[table["x"], table["y"]][:, None] - truth[None], axis=2), axis=1)
    for name, column in ((0, "x"), (1, "y")):
        pull = (table[column] - truth[order, name]) / table[column + "_err"]
        assert np.all(np.abs(pull) < 4)
    assert np.all(np.abs(table["fwhm_x"] / (TRUE_SIGMA * 2.3548) - 1) < 5 * table["fwhm_x_err"] / table["fwhm_x"])
    assert np.all(np.abs(table["bg"] - 8.0) < 5 * table["bg_err"])
    assert str(table["x"].unit) == "pix"


def test_fit_spots_with_positions_symmetric_and_fixed_width():
    image, truth = _image()
    sym = fit_spots(image, positions=truth, roi=9, model="gauss2d_sym")
    np.testing.assert_array_equal(sym["fwhm_x"], sym["fwhm_y"])
    assert np.all(np.abs(sym["x"] - truth[:, 0]) < 4 * sym["x_err"])
    fixed = fit_spots(image, positions=truth, roi=9, fwhm=TRUE_SIGMA * 2.3548)
    assert np.all(fixed["fwhm_x"] == TRUE_SIGMA * 2.3548) and np.all(np.isnan(fixed["fwhm_x_err"]))
    edge = fixed[np.argmin(truth[:, 0])]  # the spot at x = 1.2 has half its ROI outside the image
    assert abs(edge["x"] - 1.2) < 4 * edge["x_err"] and edge["status"] == Status.CONVERGED


def test_fit_spots_on_a_stack_reports_physical_coordinates():
    image, truth = _image()
    stack = Stack(image.astype(np.uint16))
    pixel = 40e-9
    stack.set_lengths([80 * pixel, 64 * pixel])
    stack.set_offsets([0.0, 0.0])
    table = fit_spots(stack, positions=truth)
    assert np.all(np.abs(table["x"] - (truth[:, 0] + 0.5) * pixel) < 4 * table["x_err"])
    assert np.all(table["x_err"] < 0.2 * pixel)
    assert np.all(np.abs(table["fwhm_x"] / (TRUE_SIGMA * 2.3548 * pixel) - 1) < 0.15)


def test_fit_spots_bad_input():
    with pytest.raises(DataError, match="2D or 3D image"):
        fit_spots(np.ones(10))
    with pytest.raises(DataError, match=r"\(N, 2\) array"):
        fit_spots(np.ones((10, 10)), positions=np.ones(3))
    with pytest.raises(ModelError, match="unknown spot model 'lorentz'"):
        fit_spots(np.ones((10, 10)), positions=np.ones((1, 2)), model="lorentz")
    with pytest.raises(DataError, match="NaN"):
        find_spots(np.full((10, 10), np.nan))
    with pytest.raises(DataError, match="negative value"):
        fit_spots(-np.ones((10, 10)), positions=np.array([[5.0, 5.0]]))
    assert len(fit_spots(np.ones((10, 10)), positions=np.zeros((0, 2)))) == 0


def test_find_spots_in_a_volume_and_not_at_its_edges():
    rng = np.random.default_rng(9)
    zz, yy, xx = np.mgrid[0:20, 0:30, 0:30]
    mu = 5 + 5000 * np.exp(-((xx - 10.2) ** 2 + (yy - 20.7) ** 2) / (2 * 1.2**2) - (zz - 9.6) ** 2 / (2 * 2.5**2)) / ((2 * math.pi) ** 1.5 * 1.2 * 1.2 * 2.5)
    found = find_spots(rng.poisson(mu).astype(float))
    assert found.shape == (1, 3)
    np.testing.assert_allclose(found[0], [10.2, 20.7, 9.6], atol=1.0)
