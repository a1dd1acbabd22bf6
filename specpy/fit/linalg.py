"""Small symmetric positive-definite systems solved in bulk: one Cholesky per item, vectorised.

Stacks come in as (n, k, k) matrices and (n, k) vectors. Inside, every matrix entry is one
contiguous (n,) vector (structure of arrays), so each arithmetic step is a single numpy call
over all items; a stack that is a transposed view of a (k, k, n) array is used without a copy.
"""

from __future__ import annotations

import numpy as np

Rows = list[list[np.ndarray]]


def _entries(h: np.ndarray) -> np.ndarray:
    """The (k, k, n) structure-of-arrays form of an (n, k, k) stack (a view when h is one)."""
    return np.ascontiguousarray(np.moveaxis(h, 0, -1))


def _scaled(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jacobi scaling of (k, k, n) entries: (scale s (k, n), 1 / s, which had a positive finite diagonal)."""
    k = c.shape[0]
    diag = c[np.arange(k), np.arange(k)]
    ok = np.all(np.isfinite(diag) & (diag > 0), axis=0)
    s = np.sqrt(np.where(diag > 0, diag, 1.0))
    return s, 1.0 / s, ok


def _cholesky(c: np.ndarray, inv_s: np.ndarray, lam: np.ndarray | None) -> tuple[Rows, list[np.ndarray], np.ndarray]:
    """Cholesky factor L (rows of (n,) entries) of the scaled matrix + lam I, 1 / diag(L), and which were positive definite."""
    k, n = inv_s.shape
    low: Rows = [[] for _ in range(k)]
    inv_diag: list[np.ndarray] = []
    ok = np.ones(n, dtype=bool)
    for j in range(k):
        d = c[j, j] * (inv_s[j] * inv_s[j])
        if lam is not None:
            d = d + lam
        for i in range(j):
            d = d - low[j][i] * low[j][i]
        ok &= d > 0
        root = np.sqrt(np.where(d > 0, d, 1.0))
        inv_root = 1.0 / root
        inv_diag.append(inv_root)
        for r in range(j + 1, k):
            v = c[r, j] * (inv_s[r] * inv_s[j])
            for i in range(j):
                v = v - low[r][i] * low[j][i]
            low[r].append(v * inv_root)
        low[j].append(root)
    return low, inv_diag, ok


def damped_solve(h: np.ndarray, g: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt steps x = -(H + lam diag H)^-1 g for stacks, which could be solved, and the
    decrease of the quadratic model -g.x - x.H.x / 2 that each step predicts."""
    c = _entries(h)
    k, n = c.shape[0], c.shape[2]
    s, inv_s, ok = _scaled(c)
    low, inv_diag, pd = _cholesky(c, inv_s, lam)
    y: list[np.ndarray] = []
    for i in range(k):  # forward: L y = -g / s
        v = -g[:, i] * inv_s[i]
        for j in range(i):
            v = v - low[i][j] * y[j]
        y.append(v * inv_diag[i])
    x: list[np.ndarray] = [np.empty(0)] * k
    for i in range(k - 1, -1, -1):  # backward: L^T x = y
        v = y[i]
        for r in range(i + 1, k):
            v = v - low[r][i] * x[r]
        x[i] = v * inv_diag[i]
    step = np.empty((n, k))
    gx = np.zeros(n)
    xx = np.zeros(n)
    for i in range(k):
        step[:, i] = x[i] * inv_s[i]
        gx += g[:, i] * step[:, i]
        xx += x[i] * x[i]
    # (H + lam D) x = -g gives x.H.x = -g.x - lam x.D.x, D = diag H; in scaled units x.D.x = |x_scaled|^2
    predicted = -0.5 * gx + 0.5 * lam * xx
    good = ok & pd & np.all(np.isfinite(step), axis=1)
    return np.where(good[:, None], step, 0.0), good, np.where(good, predicted, 0.0)


def inverse(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of a stack of symmetric positive-definite matrices, and which were invertible."""
    n, k, _ = h.shape
    if k == 0:
        return np.zeros_like(h), np.ones(n, dtype=bool)
    c = _entries(h)
    _, inv_s, ok = _scaled(c)
    low, inv_diag, pd = _cholesky(c, inv_s, None)
    m: Rows = [[] for _ in range(k)]  # M = L^-1, lower triangular, m[i][j] for j <= i
    for i in range(k):
        for j in range(i):
            v = low[i][j] * m[j][j]
            for r in range(j + 1, i):
                v = v + low[i][r] * m[r][j]
            m[i].append(-v * inv_diag[i])
        m[i].append(inv_diag[i])
    out = np.empty((k, k, n))
    for i in range(k):  # C^-1 = M^T M, then undo the scaling
        for j in range(i + 1):
            v = m[i][i] * m[i][j]
            for r in range(i + 1, k):
                v = v + m[r][i] * m[r][j]
            out[i, j] = out[j, i] = v * (inv_s[i] * inv_s[j])
    inv = np.moveaxis(out, -1, 0)
    good = ok & pd & np.all(np.isfinite(inv), axis=(1, 2))
    return np.where(good[:, None, None], inv, np.nan), good
