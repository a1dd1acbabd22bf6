"""Statistics: values against their definitions, derivatives, Kaastra expectations, refusals."""

import numpy as np
import pytest

from specpy.fit import DataError
from specpy.fit.statistics import Statistic, cstat_expectation


def _data(seed=3, shape=(4, 30)):
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.05, 40.0, shape)
    return rng.poisson(mu).astype(float), mu


def _evaluate(stat, n, mu, weight, constant, derivatives):
    """Statistic.evaluate (which takes items last) for (items, pixels) arrays."""
    value, dc, h = stat.evaluate(n.T, mu.T, None if weight is None else weight.T, constant, derivatives)
    return value, None if dc is None else dc.T, None if h is None else h.T


def test_cstat_is_the_poisson_deviance():
    n, mu = _data()
    stat = Statistic.make("cstat")
    value, _, _ = _evaluate(stat, n, mu, None, stat.constant(n, None), False)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviance = 2 * (mu - n + np.where(n > 0, n * np.log(n / mu), 0.0))
    np.testing.assert_allclose(value, deviance.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(stat.pixels(n, mu, None).sum(axis=1), value, rtol=1e-12)


def test_cash_differs_from_cstat_by_a_data_only_term():
    n, mu = _data()
    cash, cstat = Statistic.make("cash"), Statistic.make("cstat")
    a = _evaluate(cash, n, mu, None, cash.constant(n, None), False)[0]
    b = _evaluate(cstat, n, mu, None, cstat.constant(n, None), False)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        data_term = 2 * np.where(n > 0, n * np.log(n) - n, 0.0).sum(axis=1)
    np.testing.assert_allclose(b - a, data_term, rtol=1e-10)


@pytest.mark.parametrize("variance", ["data", "gehrels", "unit", "model"])
def test_chi2_variance_choices(variance):
    n, mu = _data()
    stat = Statistic.make("chi2", variance)
    weight = stat.weights(n, None, None)
    value, dc, h = _evaluate(stat, n, mu, weight, stat.constant(n, weight), True)
    var = {"data": np.maximum(n, 1.0), "gehrels": (1 + np.sqrt(n + 0.75)) ** 2, "unit": np.ones_like(n), "model": mu}[variance]
    np.testing.assert_allclose(value, ((n - mu) ** 2 / var).sum(axis=1), rtol=1e-12)
    # dS/dmu against a central difference of the per-pixel statistic
    eps = 1e-6 * mu
    up = _evaluate(stat, n, mu + eps, weight, 0.0, False)[0]
    down = _evaluate(stat, n, mu - eps, weight, 0.0, False)[0]
    np.testing.assert_allclose(up - down, (dc * 2 * eps).sum(axis=1), rtol=1e-5)
    assert np.all(h > 0)


def test_chi2_with_given_sigma():
    n, mu = _data()
    sigma = np.full_like(n, 2.0)
    stat = Statistic.make("chi2", "sigma")
    stat.check(n, sigma, "test")
    weight = stat.weights(n, sigma, None)
    value = _evaluate(stat, n, mu, weight, stat.constant(n, weight), False)[0]
    np.testing.assert_allclose(value, ((n - mu) ** 2 / 4.0).sum(axis=1))


def test_poisson_gradient_and_fisher_weight():
    n, mu = _data()
    stat = Statistic.make("cstat")
    _, dc, h = _evaluate(stat, n, mu, None, stat.constant(n, None), True)
    np.testing.assert_allclose(dc, 2 * (1 - n / mu))
    np.testing.assert_allclose(h, 2 / mu)


def test_model_zero_where_counts_positive_is_infinite():
    stat = Statistic.make("cstat")
    n = np.array([[0.0, 3.0]])
    assert np.isinf(_evaluate(stat, n, np.array([[1.0, 0.0]]), None, stat.constant(n, None), False)[0][0])
    assert np.isfinite(_evaluate(stat, n, np.array([[0.0, 1.0]]), None, stat.constant(n, None), False)[0][0])


def test_mask_removes_pixels_from_the_statistic():
    n, mu = _data()
    mask = np.zeros_like(n, dtype=bool)
    mask[:, :10] = True
    stat = Statistic.make("cstat")
    w = stat.weights(n, None, mask)
    masked = _evaluate(stat, n, mu, w, stat.constant(n, w), False)[0]
    part = _evaluate(stat, n[:, :10], mu[:, :10], None, stat.constant(n[:, :10], None), False)[0]
    np.testing.assert_allclose(masked, part, rtol=1e-12)


@pytest.mark.parametrize("mu", [0.02, 0.3, 1.0, 3.0, 12.0, 150.0, 2500.0])
def test_expected_cstat_matches_simulation(mu):
    rng = np.random.default_rng(11)
    n = rng.poisson(mu, 400_000).astype(float)
    c = Statistic.make("cstat").pixels(n, np.full_like(n, mu), None)
    mean, var = cstat_expectation(np.array([mu]))
    assert mean[0] == pytest.approx(c.mean(), abs=4 * c.std() / np.sqrt(c.size))
    assert var[0] == pytest.approx(c.var(), rel=0.03)


def test_expected_cstat_limits():
    mean, var = cstat_expectation(np.array([1e6, 1e-12]))
    assert mean[0] == pytest.approx(1.0, abs=1e-5) and var[0] == pytest.approx(2.0, abs=1e-4)
    assert mean[1] < 1e-9 and var[1] < 1e-8


@pytest.mark.parametrize(
    "name, variance, fragment",
    [("wstat", None, "unknown statistic 'wstat'"), ("chi2", None, "explicit variance"), ("cstat", "data", "takes no variance")],
)
def test_bad_statistic_choices(name, variance, fragment):
    with pytest.raises(DataError, match=fragment):
        Statistic.make(name, variance)


def test_check_refuses_nan_and_negative_counts():
    stat = Statistic.make("cstat")
    with pytest.raises(DataError, match="NaN or infinite"):
        stat.check(np.array([1.0, np.nan]), None, "d")
    with pytest.raises(DataError, match="negative value"):
        stat.check(np.array([1.0, -1.0]), None, "d")
    Statistic.make("chi2", "unit").check(np.array([1.0, -1.0]), None, "d")  # chi2 accepts negative values
    with pytest.raises(DataError, match="sigma must be finite"):
        Statistic.make("chi2", "sigma").check(np.array([1.0]), np.array([0.0]), "d")
