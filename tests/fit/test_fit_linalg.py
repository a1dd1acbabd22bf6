"""The bulk small-matrix solvers and the engine's gradient/curvature sums against dense numpy."""

import ctypes
import platform

import numpy as np
import pytest

from specpy.fit import linalg
from specpy.fit.engine import accumulate
from specpy.fit.memory import MMAP_THRESHOLD, retain_freed_memory


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
    full = rng.normal(size=(n, m))
    shared = rng.normal(size=(1, m))  # the same derivative for every item
    level = np.ones((n, 1))  # constant over an item's pixels
    scale = rng.normal(size=(n, 1))
    dc, h = rng.normal(size=(n, m)), rng.uniform(0.5, 2.0, size=(n, m))
    J = [full, None, shared, level, scale]
    g, H = np.zeros((5, n)), np.zeros((5, 5, n))
    accumulate(J, dc, h, g, H)
    dense = np.stack([np.broadcast_to(d, (n, m)) if d is not None else np.zeros((n, m)) for d in J], 1)
    expected_g = np.einsum("nkm,nm->kn", dense, dc)
    expected_h = np.einsum("nkm,nm,nlm->kln", dense, h, dense)
    np.testing.assert_allclose(g, expected_g, rtol=1e-10, atol=1e-10)
    upper = np.triu(np.ones((5, 5), bool))
    np.testing.assert_allclose(H[upper], expected_h[upper], rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc allocator settings")
def test_freed_memory_stays_in_the_process():
    retain_freed_memory()
    if not retain_freed_memory():
        pytest.skip("allocator thresholds set by the environment")
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("no mallinfo2 in this glibc")

    class Info(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc.mallinfo2.restype = Info
    before = libc.mallinfo2().hblks
    block = np.ones(MMAP_THRESHOLD // 16)  # half the threshold: served from the heap, not mmap-ed
    assert libc.mallinfo2().hblks == before
    del block
