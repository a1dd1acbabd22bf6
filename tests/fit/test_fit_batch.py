"""The batch axis against known truth: calibrated errors, interval coverage, goodness of fit, sharing."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from specpy.fit import FWHM_PER_SIGMA, Session, Status
from specpy.fit.engine import auto_chunk
from specpy.fit.parallel import map_parts
from specpy.fit.statistics import Statistic


def _spot_session(counts, symmetric=True, **kw):
    s = Session(**kw)
    s.data(counts, batch_axes=0)
    s.com("gauss2d")
    s.com("const")
    if symmetric:
        s.par_couple(1, 1, "fwhm_y", 1, 1, "fwhm_x")
    return s


def test_pulls_have_unit_width_and_no_bias(spots, spot_sigma):
    counts, x0, y0 = spots(2000, 1000.0, 10.0, seed=21)
    r = _spot_session(counts).fit()
    assert np.all(r.status == Status.CONVERGED)
    truth = {"s1.c1.x": x0, "s1.c1.y": y0, "s1.c1.norm": 1000.0, "s1.c1.fwhm_x": spot_sigma * FWHM_PER_SIGMA, "s1.c2.level": 10.0}
    for name, true in truth.items():
        pull = (r.values[name] - true) / r.errors[name]
        assert 0.95 <= pull.std() <= 1.08, name
        assert abs(pull.mean()) < 4 / math.sqrt(pull.size) + 0.05, name
    # x0 precision at the Cramer-Rao bound (the Fisher errors are the CRLB at the truth)
    rmse = np.sqrt(np.mean((r.values["s1.c1.x"] - x0) ** 2))
    assert rmse / np.sqrt(np.mean(r.errors["s1.c1.x"] ** 2)) < 1.06


def test_profile_intervals_cover_68_percent(line):
    counts, truth = line(2000, 31, norm=300.0, level=3.0)
    s = Session()
    s.data(counts, batch_axes=0)
    s.com("gauss1d")
    s.com("const")
    s.par(1, 1, "fwhm", truth["fwhm"], thawn=False)
    r = s.fit()
    assert r.succeeded
    for name in ("x", "norm"):
        e = s.error(1, 1, name)
        covered = (e.lower <= truth[name]) & (truth[name] <= e.upper)
        assert 0.65 <= covered.mean() <= 0.71, name
        assert np.all(np.isfinite(e.lower)) and np.all(np.isfinite(e.upper))
        assert not np.any(e.lower_minimum)


def test_cstat_goodness_of_fit(spots):
    counts, _, _ = spots(2000, 1000.0, 10.0, seed=41)
    r = _spot_session(counts).fit()
    free = 5
    z = (r.cstat_item - (r.cstatexp_item - free)) / r.cstatrms_item
    assert abs(z.mean()) < 0.1 and 0.85 < z.std() < 1.15
    # a wrong model (a second spot in every window) is flagged
    rng = np.random.default_rng(42)
    yy, xx = np.mgrid[0:7, 0:7]
    extra = rng.poisson(600 * np.exp(-((xx - 5.5) ** 2 + (yy - 1.0) ** 2) / (2 * 1.3**2)) / (2 * math.pi * 1.3**2), counts.shape)
    bad = _spot_session(counts + extra).fit()
    z_bad = (bad.cstat_item - (bad.cstatexp_item - free)) / bad.cstatrms_item
    assert np.median(z_bad) > 3


def test_shared_parameter_matches_a_dense_joint_fit(spots):
    counts, _, _ = spots(6, 1500.0, 10.0, seed=51)
    s = _spot_session(counts)
    s.par_share(1, 1, "fwhm_x")
    r = s.fit(tol=1e-10)
    assert r.succeeded and len(r.free) == 5
    stat = Statistic.make("cstat")
    yy, xx = np.mgrid[0:7, 0:7]
    flat = counts.reshape(6, -1)
    const = stat.constant(flat, None)

    def model(p):
        norm, x, y, level = (p[i * 6 : (i + 1) * 6] for i in range(4))
        sigma = p[24] / FWHM_PER_SIGMA
        mu = level[:, None, None] + norm[:, None, None] * np.exp(
            -((xx - x[:, None, None]) ** 2 + (yy - y[:, None, None]) ** 2) / (2 * sigma**2)
        ) / (2 * math.pi * sigma**2)
        return mu.reshape(6, -1)

    def total(p):
        return stat.evaluate(flat.T, model(p).T, None, const, False)[0].sum()  # the statistic takes items last

    v = r.values
    start = np.concatenate([v["s1.c1.norm"] * 1.05, v["s1.c1.x"] + 0.05, v["s1.c1.y"] - 0.05, v["s1.c2.level"] * 0.9, [v["s1.c1.fwhm_x"][0] * 1.05]])
    dense = minimize(total, start, method="Nelder-Mead", options={"maxiter": 40000, "maxfev": 40000, "xatol": 1e-8, "fatol": 1e-10})
    assert total(np.concatenate([v["s1.c1.norm"], v["s1.c1.x"], v["s1.c1.y"], v["s1.c2.level"], [v["s1.c1.fwhm_x"][0]]])) <= dense.fun + 1e-6
    assert np.all(v["s1.c1.fwhm_x"] == v["s1.c1.fwhm_x"][0])
    # the block-eliminated error of the shared width equals the dense Fisher-matrix error
    best = np.concatenate([v["s1.c1.norm"], v["s1.c1.x"], v["s1.c1.y"], v["s1.c2.level"], [v["s1.c1.fwhm_x"][0]]])
    steps = 1e-6 * np.maximum(np.abs(best), 1.0)
    jac = np.stack([(model(best + np.eye(25)[i] * steps[i]) - model(best - np.eye(25)[i] * steps[i])).ravel() / (2 * steps[i]) for i in range(25)])
    fisher = (jac / model(best).ravel()) @ jac.T
    assert r.errors["s1.c1.fwhm_x"][0] == pytest.approx(math.sqrt(np.linalg.inv(fisher)[24, 24]), rel=1e-5)
    assert r.errors["s1.c1.x"][2] == pytest.approx(math.sqrt(np.linalg.inv(fisher)[8, 8]), rel=1e-5)
    # the shared error is the Schur-complement error: far smaller than one item's own
    single = _spot_session(counts[:1]).fit()
    assert r.errors["s1.c1.fwhm_x"][0] < single.error("s1.c1.fwhm_x") / 1.8


def test_shared_lifetime_across_pixels():
    rng = np.random.default_rng(61)
    t = np.arange(64) * 0.1
    tau, t0, irf = 1.2, 1.0, 0.2
    sigma = irf / FWHM_PER_SIGMA
    u = t - t0
    shape = np.exp(0.5 * (sigma / tau) ** 2 - u / tau) * 0.5 * np.vectorize(math.erfc)((sigma / tau - u / sigma) / math.sqrt(2)) / tau * 0.1
    amplitude = rng.uniform(200, 400, (12, 10))
    counts = rng.poisson(amplitude[..., None] * shape + 0.5).astype(float)
    s = Session()
    s.data_array(counts, pixel=[0.1, 1.0, 1.0], offset=[-0.05, -0.5, -0.5], units=["s", "pix", "pix"], batch_axes=(0, 1))
    s.com("expdecay")
    s.com("const")
    for name in ("tau", "t0", "irf_fwhm"):
        s.par_share(1, 1, name)
    r = s.fit()
    assert r.succeeded and r.n_items == 120
    assert abs(r.values["s1.c1.tau"][0] - tau) < 4 * r.errors["s1.c1.tau"][0]
    assert abs(r.values["s1.c1.t0"][0] - t0) < 4 * r.errors["s1.c1.t0"][0]
    np.testing.assert_allclose(r.values["s1.c1.norm"], amplitude.ravel(), rtol=0.25)


def test_results_do_not_depend_on_chunks_or_threads(spots):
    counts, _, _ = spots(1200, 500.0, 10.0, seed=71)  # more than one block of the data constant, too
    sa, sb = _spot_session(counts, chunk=128, workers=2), _spot_session(counts, chunk=4096, workers=1)
    np.testing.assert_array_equal(sa.dataset.get(1).constant, sb.dataset.get(1).constant)
    for _, _, p in sa.mod.parameters():  # the start values guessed from the data
        np.testing.assert_array_equal(p.value, sb.mod.find(sa.mod.dotted(p)).value)
    a, b = sa.fit(), sb.fit()
    for name in a.names:
        np.testing.assert_array_equal(a.values[name], b.values[name])
        np.testing.assert_array_equal(a.errors[name], b.errors[name])
    for field in ("status", "iterations", "stat_item", "cstatexp_item", "cstatrms_item", "covariance"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_parameter_without_influence_is_singular(line):
    counts, _ = line(3, 81)
    s = Session()
    s.data(counts, batch_axes=0)
    s.com("gauss1d")
    s.com("poly")
    s.par_free(1, 2, "cy")  # there is no y axis: the parameter cannot be determined
    r = s.fit()
    assert np.all(r.status == Status.SINGULAR)


def test_per_item_values_and_windows_around_positions(spots):
    counts, x0, y0 = spots(4, 2000.0, 5.0, size=9, seed=91)
    image = np.zeros((40, 40))
    centres = np.array([[5, 6], [30, 8], [12, 33], [38, 38]])  # the last window runs over the edge
    for (cx, cy), window in zip(centres, counts):
        ys, xs = slice(cy - 4, cy + 5), slice(cx - 4, cx + 5)
        target = image[ys, xs]
        target += window[: target.shape[0], : target.shape[1]]
    s = Session()
    s.data(image, positions=centres.astype(float), size=9)
    s.com("gauss2d")
    s.com("const")
    r = s.fit()
    assert r.n_items == 4 and r.succeeded
    expected_x = centres[:, 0] - 4 + x0
    np.testing.assert_allclose(r.values["s1.c1.x"][:3], expected_x[:3], atol=5 * r.errors["s1.c1.x"][:3].max())
    assert s.dataset.get(1).n_used()[3] == 6 * 6  # only the pixels inside the image count (x, y in 34..39)
    s.par(1, 2, "level", np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(s.par_value(1, 2, "level"), [1.0, 2.0, 3.0, 4.0])


def test_map_parts_keeps_order_over_threads():
    parts = list(range(37))
    assert map_parts(3, lambda k: k * k, parts) == [k * k for k in parts]
    assert map_parts(1, lambda k: -k, parts) == [-k for k in parts]
    assert map_parts(4, lambda k: k, [5]) == [5]


def test_auto_chunk_is_a_power_of_two_of_pixels_and_shares_items_between_workers():
    from specpy.fit.data import build

    def chunk(items, size, workers):
        ds = build(np.zeros((items, size, size)), [1.0] * 3, [0.0] * 3, ["pix"] * 3, name="d", stat=Statistic.make("cstat"), batch_axes=0)
        return auto_chunk([ds], workers)

    assert chunk(100000, 11, 1) == chunk(100000, 11, 2) == 4096  # ~CHUNK_ELEMENTS values per temporary
    assert chunk(100000, 7, 2) == 8192
    assert chunk(3000, 11, 2) == 1500  # both workers get items
    assert chunk(300, 11, 4) == 256  # but no thread for fewer than a few hundred items
