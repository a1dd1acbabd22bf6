"""Components: analytic Jacobians against finite differences, normalisation, options, refusals."""

import math

import numpy as np
import pytest

from specpy.fit import ModelError
from specpy.fit.components import COMPONENTS, FWHM_PER_SIGMA, Grid, make_component

RNG_SEED = 5

CASES = [
    ("const", {}, 2, {"level": 3.0}),
    ("poly", {}, 2, {"c0": 3.0, "cx": 0.5, "cy": -0.2, "cxx": 0.1, "cxy": 0.3, "cyy": 0.2}),
    ("gauss1d", {}, 1, {"norm": 100.0, "x": 3.1, "fwhm": 2.5}),
    ("gauss1d", {"integrate": True}, 1, {"norm": 100.0, "x": 3.1, "fwhm": 1.5}),
    ("gauss2d", {}, 2, {"norm": 100.0, "x": 3.1, "y": 2.7, "fwhm_x": 2.5, "fwhm_y": 3.0}),
    ("gauss2d", {}, 2, {"norm": 100.0, "x": 3.1, "y": 2.7, "fwhm_x": 2.5, "fwhm_y": 3.0, "angle": 0.4}),
    ("gauss2d", {"integrate": True}, 2, {"norm": 100.0, "x": 3.1, "y": 2.7, "fwhm_x": 1.5, "fwhm_y": 2.0}),
    ("gauss3d", {"integrate": True}, 3, {"norm": 100.0, "x": 3.1, "y": 2.7, "z": 3.3, "fwhm_x": 1.5, "fwhm_y": 2.0, "fwhm_z": 3.0}),
    ("gauss3d", {}, 3, {"norm": 100.0, "x": 3.1, "y": 2.7, "z": 3.3, "fwhm_x": 1.5, "fwhm_y": 2.0, "fwhm_z": 3.0}),
    ("lorentz", {}, 1, {"norm": 100.0, "x": 3.1, "fwhm": 2.5}),
    ("airy2d", {}, 2, {"norm": 100.0, "x": 3.1, "y": 2.7, "fwhm": 2.5}),
    ("expdecay", {}, 1, {"norm": 100.0, "tau": 1.5, "t0": 1.2, "irf_fwhm": 0.4}),
    ("expdecay", {"lifetimes": 2, "period": 4.0}, 1, {"norm": 100.0, "tau": 1.5, "norm2": 50.0, "tau2": 0.5, "t0": 1.2, "irf_fwhm": 0.4}),
    ("scale", {}, 2, {"factor": 1.5}),
    ("gradient", {}, 2, {"gx": 0.1, "gy": 0.2}),
]


def _grid(ndim, items=3, length=7, step=0.9):
    rng = np.random.default_rng(RNG_SEED)
    axes = tuple(np.arange(length) * step + 0.3 * i + rng.normal(0, 0.2, (items, 1)) for i in range(ndim))
    return Grid(axes, (step,) * ndim)


@pytest.mark.parametrize("name, options, ndim, params", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_jacobian_matches_central_differences(name, options, ndim, params):
    component = make_component(name, options)
    grid = _grid(ndim)
    rng = np.random.default_rng(RNG_SEED)
    defaults = {spec.name: spec.default for spec in component.parameters()}
    values = {k: np.full(3, params.get(k, v)) + (rng.normal(0, 0.01, 3) if k in params else 0.0) for k, v in defaults.items()}
    mu, jac = component.evaluate(grid, values, frozenset(params))
    assert set(jac) == set(params)
    for key in params:
        h = 1e-6 * max(1.0, abs(params[key]))
        up = dict(values, **{key: values[key] + h})
        down = dict(values, **{key: values[key] - h})
        numeric = (component.evaluate(grid, up, frozenset())[0] - component.evaluate(grid, down, frozenset())[0]) / (2 * h)
        analytic = np.broadcast_to(jac[key], np.broadcast(mu, numeric).shape)
        scale = np.max(np.abs(numeric)) + 1e-12
        assert np.max(np.abs(analytic - numeric)) / scale < 1e-6, key


@pytest.mark.parametrize(
    "name, options, ndim, params, tolerance",
    [
        ("gauss1d", {}, 1, {"norm": 250.0, "x": 0.2, "fwhm": 3.0}, 1e-9),
        ("gauss1d", {"integrate": True}, 1, {"norm": 250.0, "x": 0.2, "fwhm": 0.7}, 1e-9),
        ("gauss2d", {}, 2, {"norm": 250.0, "x": 0.2, "y": -0.3, "fwhm_x": 3.0, "fwhm_y": 4.0, "angle": 0.5}, 1e-9),
        ("gauss3d", {"integrate": True}, 3, {"norm": 250.0, "x": 0.2, "y": -0.3, "z": 0.1, "fwhm_x": 2.0, "fwhm_y": 1.0, "fwhm_z": 3.0}, 1e-9),
        ("lorentz", {}, 1, {"norm": 250.0, "x": 0.0, "fwhm": 4.0}, 2e-3),
        ("airy2d", {}, 2, {"norm": 250.0, "x": 0.2, "y": -0.3, "fwhm": 2.0}, 2e-2),
        ("expdecay", {}, 1, {"norm": 250.0, "tau": 3.0, "t0": 0.0, "irf_fwhm": 1.0}, 1e-6),
    ],
)
def test_norm_is_integrated_counts(name, options, ndim, params, tolerance):
    length, step = (401, 0.25) if ndim < 3 else (81, 0.25)
    axis = (np.arange(length) - length // 2) * step
    if name == "expdecay":
        axis = axis + axis.max() - 5.0
    grid = Grid(tuple(axis[None, :] for _ in range(ndim)), (step,) * ndim)
    component = make_component(name, options)
    mu, _ = component.evaluate(grid, {k: np.array([v]) for k, v in params.items()}, frozenset())
    expected = 250.0
    if name == "lorentz":  # heavy tails: compare with the integral over the finite axis
        expected *= 2 / math.pi * math.atan((length // 2 + 0.5) * step / (params["fwhm"] / 2))
    assert mu.sum() == pytest.approx(expected, rel=tolerance)


def test_fwhm_is_full_width_at_half_maximum():
    x = np.linspace(-5, 5, 100001)[None, :]
    grid = Grid((x,), (x[0, 1] - x[0, 0],))
    for name in ("gauss1d", "lorentz"):
        mu, _ = make_component(name).evaluate(grid, {"norm": np.array([1.0]), "x": np.array([0.0]), "fwhm": np.array([2.0])}, frozenset())
        above = x[0][mu[0] >= mu.max() / 2]
        assert above[-1] - above[0] == pytest.approx(2.0, abs=1e-3)
    g2 = Grid((x[:, ::100], np.zeros((1, 1))), (1e-2, 1.0))
    mu, _ = make_component("airy2d").evaluate(g2, {"norm": np.array([1.0]), "x": np.array([0.0]), "y": np.array([0.0]), "fwhm": np.array([2.0])}, frozenset())
    profile = mu[0, 0]
    above = x[0, ::100][profile >= profile.max() / 2]
    assert above[-1] - above[0] == pytest.approx(2.0, abs=2e-2)


def test_pixel_integration_differs_from_point_sampling_when_undersampled():
    grid = Grid((np.arange(-5.0, 6.0)[None, :],), (1.0,))
    p = {"norm": np.array([100.0]), "x": np.array([0.0]), "fwhm": np.array([0.8 * FWHM_PER_SIGMA])}
    point, _ = make_component("gauss1d").evaluate(grid, p, frozenset())
    integrated, _ = make_component("gauss1d", {"integrate": True}).evaluate(grid, p, frozenset())
    exact_centre = 100.0 * math.erf(0.5 / (0.8 * math.sqrt(2)))
    assert integrated[0, 5] == pytest.approx(exact_centre, rel=1e-12)
    assert abs(point[0, 5] - exact_centre) / exact_centre > 0.05


def test_all_names_the_issue_promises_are_registered():
    assert {"const", "gauss1d", "gauss2d", "gauss3d", "lorentz", "airy2d", "expdecay", "poly"} <= set(COMPONENTS)
    names = [s.name for s in make_component("gauss2d").parameters()]
    assert names == ["norm", "x", "y", "fwhm_x", "fwhm_y", "angle"]
    angle = make_component("gauss2d").parameters()[-1]
    assert angle.default == 0.0 and angle.free is False
    assert [s.name for s in make_component("const").parameters()] == ["level"]


def test_bad_component_requests():
    with pytest.raises(ModelError, match="unknown component 'gauss9d'; known components: .*gauss2d"):
        make_component("gauss9d")
    with pytest.raises(ModelError, match="has no option 'smooth'; allowed options: integrate"):
        make_component("gauss2d", {"smooth": True})
    with pytest.raises(ModelError, match="lifetimes must be an integer 1..4"):
        make_component("expdecay", {"lifetimes": 7})
    grid = _grid(1)
    with pytest.raises(ModelError, match="needs 2 coordinate axes; d has 1"):
        make_component("gauss2d").check_grid(grid, "d")
    rotated = {"norm": np.ones(3), "x": np.ones(3), "y": np.ones(3), "fwhm_x": np.ones(3), "fwhm_y": np.ones(3), "angle": np.full(3, 0.3)}
    with pytest.raises(ModelError, match="angle frozen at 0"):
        make_component("gauss2d", {"integrate": True}).evaluate(_grid(2), rotated, frozenset())


def test_laser_period_adds_the_tails_of_earlier_pulses():
    period, step = 12.5, 12.5 / 256
    t = (np.arange(256) + 0.5) * step
    grid = Grid((t[None, :],), (step,))
    p = {"norm": np.array([1000.0]), "tau": np.array([4.0]), "t0": np.array([1.0]), "irf_fwhm": np.array([0.2])}
    with_tails, _ = make_component("expdecay", {"period": period}).evaluate(grid, p, frozenset())
    single = make_component("expdecay")
    explicit = sum(single.evaluate(grid, dict(p, t0=p["t0"] - k * period), frozenset())[0] for k in range(0, 60))
    np.testing.assert_allclose(with_tails, explicit, rtol=1e-9)
    assert with_tails[0, 0] > 10 * single.evaluate(grid, p, frozenset())[0][0, 0]  # the tail dominates before t0
