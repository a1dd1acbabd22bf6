"""The bulk small-matrix solvers and the engine's gradient/curvature sums against dense numpy."""


import numpy as np
import pytest

from specpy.fit import linalg
from specpy.fit.engine import accumulate, columns
from specpy.fit.scratch import Scratch


def _spd(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, k, k)) * rng.uniform(0.1, 10.0, size=(n, 1, k))  # badly scaled columns
    return np.einsum("nij,nlj->nil", a, a) + 1e-3 * np.eye(k)


@pytest.mark.parametrize("k", [1, 2, 5, 6])
def test_inverse_matches_numpy_for_stacked_and_transposed_layouts(k):
    h = _spd(300, k, seed=k)
    expected = np.linalg.inv(h)
    for stack in (h, np.ascontiguousarray(h.transpose(1, 2, 0)).transpose(2, 0, 1)):
        inv, ok = linalg.inverse(stack)
        assert ok.all()
        np.testing.assert_allclose(inv, expected, rtol=1e-8, atol=1e-12 * np.abs(expected).max())


def test_damped_solve_matches_numpy_and_predicts_the_decrease():
    h = _spd(200, 5, seed=3)
    rng = np.random.default_rng(4)
    g = rng.normal(size=(200, 5))
    lam = rng.uniform(0.0, 1.0, 200)
    d = np.diagonal(h, axis1=1, axis2=2)
    expected = -np.linalg.solve(h + lam[:, None, None] * (d[:, :, None] * np.eye(5)), g[:, :, None])[:, :, 0]
    step, ok, predicted = linalg.damped_solve(h, g, lam)
    assert ok.all()
    np.testing.assert_allclose(step, expected, rtol=1e-7, atol=1e-12)
    quadratic = -np.einsum("nk,nk->n", g, step) - 0.5 * np.einsum("nk,nkl,nl->n", step, h, step)
    np.testing.assert_allclose(predicted, quadratic, rtol=1e-7, atol=1e-12)


def test_singular_and_non_finite_matrices_are_flagged():
    h = _spd(4, 3, seed=5)
    h[1, 2, :] = h[1, :, 2] = 0.0  # a parameter without influence
    h[2, 0, 1] = h[2, 1, 0] = 10.0 * np.sqrt(h[2, 0, 0] * h[2, 1, 1])  # indefinite
    h[3, 1, 1] = np.nan
    inv, ok = linalg.inverse(h)
    assert ok.tolist() == [True, False, False, False]
    assert np.isnan(inv[1:]).all()
    step, ok, predicted = linalg.damped_solve(h, np.ones((4, 3)), np.zeros(4))
    assert ok.tolist() == [True, False, False, False]
    assert not step[1:].any() and not predicted[1:].any()


def test_accumulate_matches_dense_sums_for_constant_and_shared_columns():
    rng = np.random.default_rng(6)
    n, m = 50, 12
    full = rng.normal(size=(m, n))
    shared = rng.normal(size=(m, 1))  # the same derivative for every item
    level = np.ones((1, n))  # constant over an item's pixels
    scale = rng.normal(size=(1, n))
    dc, h = rng.normal(size=(m, n)), rng.uniform(0.5, 2.0, size=(m, n))
    J = [full, None, shared, level, scale]
    g, H = np.zeros((5, n)), np.zeros((5, 5, n))
    accumulate(J, dc, h, g, H)
    dense = np.stack([np.broadcast_to(d, (m, n)) if d is not None else np.zeros((m, n)) for d in J])
    expected_g = np.einsum("kmn,mn->kn", dense, dc)
    expected_h = np.einsum("kmn,mn,lmn->kln", dense, h, dense)
    np.testing.assert_allclose(g, expected_g, rtol=1e-10, atol=1e-10)
    upper = np.triu(np.ones((5, 5), bool))
    np.testing.assert_allclose(H[upper], expected_h[upper], rtol=1e-10, atol=1e-10)


def test_columns_flattens_derivatives_to_items_last_columns():
    shape = (3, 4, 5)  # (y, x, items)
    x_only = np.arange(20.0).reshape(1, 4, 5)  # varies along x, not y: broadcast over y
    assert columns(x_only, shape).shape == (12, 5)
    np.testing.assert_array_equal(columns(x_only, shape).reshape(shape), np.broadcast_to(x_only, shape))
    assert columns(np.ones((1, 1, 5)), shape).shape == (1, 5)  # constant over the pixels: one row
    assert columns(1.0, shape).shape == (1, 1)


def test_scratch_columns_reuse_one_buffer_per_purpose():
    rows = np.arange(60.0).reshape(10, 6)  # 10 items of 6 pixels
    scratch = Scratch()
    first = scratch.columns("counts", rows, slice(2, 7))
    np.testing.assert_array_equal(first, rows[2:7].T)
    picked = scratch.columns("counts", rows, np.array([9, 0, 4]))
    np.testing.assert_array_equal(picked, rows[[9, 0, 4]].T)
    assert np.shares_memory(first, picked)  # the same memory, reused
    assert picked.flags.c_contiguous
