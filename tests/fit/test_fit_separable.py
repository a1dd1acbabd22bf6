"""The separable fast path for a 2-D Gaussian + constant against the general path, and when it is used."""

import numpy as np
import pytest

from specpy.fit import Session
from specpy.fit.engine import Engine
from specpy.fit.model import Plan


def _session(counts, *, integrate=False, couple=True, frozen=(), mask=None):
    s = Session()
    s.data(counts, batch_axes=0, mask=mask)
    s.com("gauss2d", **({"integrate": True} if integrate else {}))
    s.com("const")
    if couple:
        s.par_couple(1, 1, "fwhm_y", 1, 1, "fwhm_x")
    for isect, icomp, name in frozen:
        s.par_fix(isect, icomp, name)
    return s


def _engines(s):
    plan = Plan.of(s.mod)
    fast, general = (Engine(plan, s.dataset.sets, separable=flag) for flag in (True, False))
    return plan, fast, general


def _close(a, b):
    """Equal to ~1e-10 relative to the largest entry per item (off-diagonal curvature may cancel to ~0)."""
    scale = np.abs(b).reshape(b.shape[0], -1).max(axis=1).reshape((-1,) + (1,) * (b.ndim - 1))
    assert np.all(np.abs(a - b) <= 1e-10 * scale)


@pytest.mark.parametrize(
    "options",
    [{}, {"integrate": True}, {"couple": False}, {"integrate": True, "frozen": [(1, 1, "y")]}, {"frozen": [(1, 2, "level")]}],
)
def test_linearisation_matches_the_general_path(spots, options):
    counts, _, _ = spots(300, 1000.0, 10.0, size=11, seed=3)
    plan, fast, general = _engines(_session(counts, **options))
    assert fast.separable is not None
    theta, shared = plan.start()
    theta = theta * (1.0 + 0.05 * np.random.default_rng(1).standard_normal(theta.shape))
    for observed in (False, True):
        for a, b in zip(fast.linearise(slice(None), theta, shared, True, observed), general.linearise(slice(None), theta, shared, True, observed)):
            _close(a, b)
    stat, _, _ = fast.linearise(np.arange(5), theta[:5], shared, False)
    _close(stat, general.linearise(np.arange(5), theta[:5], shared, False)[0])


def test_fit_matches_the_general_path_with_a_mask(spots):
    counts, _, _ = spots(400, 200.0, 10.0, size=7, seed=5)
    mask = np.ones(counts.shape, dtype=bool)
    mask[:, 0, 0] = False  # a dead pixel
    _, fast, general = _engines(_session(counts, mask=mask))
    assert fast.datasets[0].weight is not None
    a, b = fast.fit(), general.fit()
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.iterations, b.iterations)
    _close(a.theta, b.theta)
    _close(a.covariance, b.covariance)


def test_other_models_use_the_general_path(spots):
    counts, _, _ = spots(20, 1000.0, 10.0, seed=7)
    rotated = _session(counts)
    rotated.par_free(1, 1, "angle")
    extra = _session(counts)
    extra.com("const")
    three_d = Session()
    three_d.data(np.repeat(counts[:, None], 3, axis=1), batch_axes=0)
    three_d.com("gauss3d")
    three_d.com("const")
    for s in (rotated, extra, three_d):
        assert _engines(s)[1].separable is None
