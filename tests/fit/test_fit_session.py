"""The Session API: data, model building, parameters, links, bounds, fits, errors, dumps."""

import math

import numpy as np
import pytest
from astropy.table import Table

from specpy import Stack
from specpy.fit import (
    BoundsError,
    DataError,
    ExpressionError,
    ModelError,
    ParameterError,
    Session,
    StateError,
    Status,
)


def _line_session(line, seed=1, **kw):
    counts, truth = line(1, seed, **kw)
    s = Session()
    s.data(counts[0])
    s.com("gauss1d")
    s.com("const")
    return s, truth


def test_attribute_layout_follows_pyspex():
    s = Session()
    assert s.dataset.ninst == 0 and s.mod.nsector == 1 and s.opt_fit is None
    assert hasattr(s.asc, "model") and s.logs.entries == []


def test_fit_recovers_a_gaussian_line_within_its_errors(line):
    s, truth = _line_session(line, norm=2000.0)
    result = s.fit()
    assert result is s.opt_fit and result.succeeded
    assert result.status[0] == Status.CONVERGED and result.iterations[0] > 0
    for name, key in (("s1.c1.norm", "norm"), ("s1.c1.x", "x"), ("s1.c1.fwhm", "fwhm"), ("s1.c2.level", "level")):
        assert abs(result.value(name) - truth[key]) < 4 * result.error(name), name
    assert result.dof == 40 - 4
    assert s.par_value(1, 1, "x") == result.value("s1.c1.x")
    # the C-stat lies within a few of its spreads from the Kaastra expectation
    assert abs(result.cstat_sigma()) < 3
    assert result.cstat == pytest.approx(result.stat)


def test_calc_evaluates_without_changing_anything(line):
    s, _ = _line_session(line)
    before = s.par_value(1, 1, "x")
    evaluation = s.calc()
    assert s.par_value(1, 1, "x") == before and s.opt_fit is None
    stat = s.dataset.get(1).stat
    n = s.dataset.get(1).flat
    model = s.asc.model(1).reshape(1, -1)
    assert evaluation.stat == pytest.approx(stat.pixels(n, model, None).sum())


def test_parameters_freeze_thaw_and_values(line):
    s, truth = _line_session(line, norm=2000.0)
    s.par(1, 1, "fwhm", truth["fwhm"], thawn=False)
    result = s.fit()
    assert s.par_value(1, 1, "fwhm") == truth["fwhm"]
    assert "s1.c1.fwhm" not in result.free and math.isnan(result.error("s1.c1.fwhm"))
    s.par_free(1, 1, "fwhm")
    assert "s1.c1.fwhm" in s.fit().free
    s.par_fix("s1.c2.level")
    assert "s1.c2.level" not in s.fit().free


def test_bounds_are_respected_and_reported(line):
    s, truth = _line_session(line, norm=2000.0)
    s.par_range(1, 1, "fwhm", 1.0, truth["fwhm"] * 0.8)
    result = s.fit()
    assert s.par_value(1, 1, "fwhm") == pytest.approx(truth["fwhm"] * 0.8)
    assert result.status[0] == Status.AT_BOUND
    with pytest.raises(BoundsError, match="lower bound 5.0 must not exceed upper bound 2.0"):
        s.par_range(1, 1, "fwhm", 5.0, 2.0)
    with pytest.raises(BoundsError, match=r"outside the range \[1.0, 6.4"):
        s.par(1, 1, "fwhm", 50.0)


def test_couple_and_expression_links(line):
    s = Session()
    counts, _ = line(1, 4, norm=3000.0)
    s.data(counts[0])
    s.com("gauss1d", label="main")
    s.com("gauss1d")
    s.com("const")
    s.par(1, 2, "norm", 300.0)
    s.par_couple(1, 2, "x", 1, 1, "x", 1.0)
    s.par_expr("s1.c2.fwhm", expression="2 * main.fwhm + 0.5")
    result = s.fit()
    x1, f1 = s.par_value(1, 1, "x"), s.par_value(1, 1, "fwhm")
    assert s.par_value(1, 2, "x") == x1
    assert s.par_value(1, 2, "fwhm") == pytest.approx(2 * f1 + 0.5)
    assert "s1.c2.x" not in result.free and result.error("s1.c2.x") == pytest.approx(result.error("s1.c1.x"))
    table = s.par_table()
    assert list(table[table["parameter"] == "fwhm"]["link"]) == ["", "2.0 * s1.c1.fwhm + 0.5"]
    with pytest.raises(ExpressionError, match="cycle"):
        s.par_expr(1, 1, "fwhm", expression="s1.c2.fwhm / 2")
    with pytest.raises(ModelError, match="linked"):
        s.par_free(1, 2, "x")
    with pytest.raises(ModelError, match="s1.c2.x is linked to it"):
        s.com_del(1, 1)
    s.par_decouple(1, 2, "x")
    assert s.par_value(1, 2, "x") == x1


def test_coupled_links_follow_component_renumbering(line):
    s = Session()
    counts, _ = line(1, 4)
    s.data(counts[0])
    s.com("const")
    s.com("gauss1d")
    s.com("gauss1d")
    s.par_couple(1, 3, "fwhm", 1, 2, "fwhm", 2.0)
    s.com_del(1, 1)
    assert s.par_table()["link"][-1] == "2.0 * s1.c1.fwhm"


def test_multiplicative_components_scale_their_additive_partner(line):
    s, _ = _line_session(line)
    before = s.asc.model(1).copy()
    s.com("scale")
    s.par(1, 3, "factor", 0.5)
    s.com_rel(1, 1, [3])
    parts = s.asc.components(1)
    assert set(parts) == {"s1.c1", "s1.c2"}
    np.testing.assert_allclose(s.asc.model(1), parts["s1.c1"] + parts["s1.c2"])
    level = s.par_value(1, 2, "level")
    np.testing.assert_allclose(s.asc.model(1) - level, 0.5 * (before - level))
    with pytest.raises(ModelError, match="not a multiplicative component"):
        s.com_rel(1, 1, [2])


def test_sectors_add_up(line):
    s, _ = _line_session(line)
    one = s.asc.model(1).copy()
    assert s.com("const", 2) == 1 and s.mod.nsector == 2
    s.par(2, 1, "level", 3.0)
    np.testing.assert_allclose(s.asc.model(1), one + 3.0)
    with pytest.raises(ParameterError, match="sector 5 does not exist"):
        s.com("const", 5)


def test_stack_coordinates_are_physical():
    rng = np.random.default_rng(8)
    pixel = 50e-9
    yy, xx = np.mgrid[0:15, 0:15]
    x0, y0, sigma = 7.3, 6.8, 1.5
    counts = rng.poisson(5 + 3000 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2)) / (2 * math.pi * sigma**2))
    stack = Stack(counts.astype(np.uint16))
    stack.set_lengths([15 * pixel, 15 * pixel])
    stack.set_offsets([1e-6, 2e-6])
    s = Session()
    s.data(stack)
    s.com("gauss2d")
    s.com("const")
    r = s.fit()
    assert r.value("s1.c1.x") == pytest.approx(1e-6 + (x0 + 0.5) * pixel, abs=4 * r.error("s1.c1.x"))
    assert r.value("s1.c1.y") == pytest.approx(2e-6 + (y0 + 0.5) * pixel, abs=4 * r.error("s1.c1.y"))
    assert r.value("s1.c1.fwhm_x") == pytest.approx(sigma * 2.3548 * pixel, rel=0.05)
    assert r.value("s1.c1.norm") == pytest.approx(3000, rel=0.05)  # norm stays integrated counts
    plain = Session()
    plain.data(counts)
    plain.com("gauss2d")
    plain.com("const")
    assert plain.fit().value("s1.c1.x") == pytest.approx(x0, abs=0.05)


def test_obf_path_loads_like_the_stack(tmp_path):
    from specpy import File

    rng = np.random.default_rng(12)
    stack = Stack(rng.poisson(20.0, (6, 9)).astype(np.uint16))
    stack.set_lengths([9 * 1e-7, 6 * 2e-7])
    stack.set_offsets([5e-6, -1e-6])
    path = tmp_path / "image.obf"
    with File(path, File.Write) as out:
        out.write(stack)
    from_file, from_stack = Session(), Session()
    from_file.data(path)
    from_stack.data(stack)
    a, b = from_file.dataset.get(1), from_stack.dataset.get(1)
    np.testing.assert_array_equal(a.counts, b.counts)
    for axis_a, axis_b in zip(a.grid.axes, b.grid.axes):
        np.testing.assert_allclose(axis_a, axis_b, rtol=1e-12)
    np.testing.assert_allclose(a.grid.axes[0][0, :2], [5e-6 + 0.5e-7, 5e-6 + 1.5e-7])
    assert a.grid.pixel == pytest.approx((1e-7, 2e-7))


def test_roi_and_mask_restrict_the_fit(line):
    counts, truth = line(1, 2, norm=2000.0, length=60)
    image = counts[0].copy()
    image[50:] = 1e4  # junk outside the region of interest
    s = Session()
    s.data(image, roi=(slice(0, 45),))
    s.com("gauss1d")
    s.com("const")
    assert abs(s.fit().value("s1.c1.x") - truth["x"]) < 1.0
    mask = np.ones(60, bool)
    mask[50:] = False
    m = Session()
    m.data(image, mask=mask)
    m.com("gauss1d")
    m.com("const")
    r = m.fit()
    assert abs(r.value("s1.c1.x") - truth["x"]) < 1.0 and r.dof == 50 - 4


def test_several_data_sets_and_statistics(line):
    a, _ = line(1, 5, norm=2000.0)
    b, _ = line(1, 6, norm=2000.0)
    s = Session()
    assert s.data(a[0]) == 1
    assert s.data(b[0], stat="chi2", variance="gehrels") == 2
    s.com("gauss1d")
    s.com("const")
    r = s.fit()
    assert r.dof == 80 - 4 and r.chisq > 0 and r.cstat > 0
    assert r.stat == pytest.approx(r.cstat + r.chisq)
    s.fit_stat("cash", 2)
    assert s.dataset.get(2).stat.name == "cash"
    s.data_del(2)
    assert s.dataset.ninst == 1


def test_error_gives_a_profile_interval(line):
    s, _ = _line_session(line, norm=2000.0)
    r = s.fit()
    value, lower, upper = s.error(1, 1, "x")
    sigma = r.error("s1.c1.x")
    assert value == r.value("s1.c1.x")
    assert lower < value < upper
    assert (upper - lower) / 2 == pytest.approx(sigma, rel=0.15)
    wide = s.error("s1.c1.x", dstat=4.0)
    assert wide.lower < lower and wide.upper > upper
    assert wide.upper - wide.value == pytest.approx(2 * (upper - value), rel=0.2)
    assert not wide.lower_minimum
    assert s.par_value(1, 1, "x") == value  # error() leaves the fitted state alone
    # at each end, the statistic profiled over the other parameters is stat_min + 1
    for end in (lower, upper):
        s.par(1, 1, "x", end, thawn=False)
        assert s.fit().stat == pytest.approx(r.stat + 1.0, abs=2e-3)


def test_error_reports_a_lower_minimum(line):
    s, _ = _line_session(line, norm=2000.0)
    s.par(1, 1, "x", 16.0)
    s.fit(niter=1)  # deliberately stopped before the minimum
    result = s.error(1, 1, "norm")
    assert result.lower_minimum
    assert result.lower_stat < s.calc().stat


def test_asc_dumps(line):
    s, _ = _line_session(line)
    r = s.fit()
    counts = s.dataset.get(1).counts
    np.testing.assert_allclose(s.asc.residuals(1), counts - s.asc.model(1))
    assert s.asc.contributions(1).sum() == pytest.approx(r.stat)
    assert s.asc.fisher().shape == (1, 4, 4)
    cov = s.asc.covariance()[0]
    assert np.sqrt(cov[1, 1]) == pytest.approx(r.error("s1.c1.x"))
    np.testing.assert_allclose(np.linalg.inv(s.asc.fisher()[0]), cov, rtol=1e-8)
    assert isinstance(s.asc.table(), Table) and len(s.asc.table()) == 1


def test_error_needs_a_free_parameter(line):
    s, _ = _line_session(line)
    s.par_fix(1, 2, "level")
    with pytest.raises(StateError, match="s1.c2.level is not free"):
        s.error(1, 2, "level")


def test_par_show_prints_the_table(line, capsys):
    s, _ = _line_session(line)
    table = s.par_show()
    out = capsys.readouterr().out
    assert "gauss1d" in out and "fwhm" in out and "thawn" in out
    assert list(table.colnames) == ["sector", "component", "model", "parameter", "value", "status", "minimum", "maximum", "link"]


@pytest.mark.parametrize(
    "call, error, fragment",
    [
        (lambda s: s.com("nosuch"), ModelError, "unknown component 'nosuch'"),
        (lambda s: s.par(1, 1, "sigma", 2.0), ParameterError, "has no parameter 'sigma'; its parameters: norm, x, fwhm"),
        (lambda s: s.par(1, 9, "x", 2.0), ParameterError, "component 9 does not exist in sector 1"),
        (lambda s: s.par("nolabel.x", value=1.0), ParameterError, "no parameter named 'nolabel.x'"),
        (lambda s: s.par_range(1, 1, "x", 3.0, 1.0), BoundsError, "must not exceed"),
        (lambda s: s.par_expr(1, 1, "x", expression="import os"), ExpressionError, "expected an operator"),
        (lambda s: s.fit_stat("chi2"), DataError, "explicit variance"),
        (lambda s: s.error(1, 2, "level", dstat=-1.0), ModelError, "dstat must be > 0"),
    ],
)
def test_bad_requests_raise_clear_errors(line, call, error, fragment):
    s, _ = _line_session(line)
    with pytest.raises(error, match=fragment):
        call(s)


@pytest.mark.parametrize(
    "kwargs, array, fragment",
    [
        ({}, np.array([1.0, np.nan, 2.0]), "NaN or infinite"),
        ({}, np.array([1.0, -2.0, 2.0]), "negative value"),
        ({"roi": (slice(2, 2),)}, np.ones(5), "selects no pixels"),
        ({"mask": np.zeros(5, bool)}, np.ones(5), "leaves no pixel"),
        ({"positions": np.array([[50.0, 50.0]]), "size": 3}, np.ones((10, 10)), "holds no usable pixel"),
        ({}, np.ones(0), "non-empty"),
        ({"stat": "chi2"}, np.ones(4), "explicit variance"),
    ],
)
def test_bad_data_is_refused(kwargs, array, fragment):
    with pytest.raises(DataError, match=fragment):
        Session().data(array, **kwargs)


def test_states_that_need_data_or_model():
    s = Session()
    with pytest.raises(StateError, match="no data"):
        s.fit()
    s.data(np.ones(10))
    with pytest.raises(StateError, match="model is empty"):
        s.calc()
    s.com("gauss2d")
    with pytest.raises(ModelError, match="needs 2 coordinate axes"):
        s.fit()
    with pytest.raises(DataError, match="share one batch axis"):
        s.data(np.ones((3, 10)), batch_axes=0)
