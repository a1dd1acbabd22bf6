"""Small symmetric positive-definite systems solved in bulk: one Cholesky per item, vectorised."""

from __future__ import annotations

import numpy as np


def cholesky(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors of a stack (n, k, k) of matrices, and which of them were positive definite."""
    n, k, _ = a.shape
    low = np.zeros_like(a)
    ok = np.ones(n, dtype=bool)
    for j in range(k):
        d = a[:, j, j] - np.einsum("ni,ni->n", low[:, j, :j], low[:, j, :j])
        ok &= d > 0
        root = np.sqrt(np.where(d > 0, d, 1.0))
        low[:, j, j] = root
        if j + 1 < k:
            low[:, j + 1 :, j] = (a[:, j + 1 :, j] - np.einsum("nri,ni->nr", low[:, j + 1 :, :j], low[:, j, :j])) / root[:, None]
    return low, ok


def solve_factored(low: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve L L^T x = b for stacks of factors (n, k, k) and right-hand sides (n, k) or (n, k, m)."""
    vector = b.ndim == 2
    rhs = b[:, :, None] if vector else b
    k = low.shape[1]
    y = np.empty_like(rhs)
    for i in range(k):
        y[:, i] = (rhs[:, i] - np.einsum("ni,nim->nm", low[:, i, :i], y[:, :i])) / low[:, i, i, None]
    x = np.empty_like(rhs)
    for i in range(k - 1, -1, -1):
        x[:, i] = (y[:, i] - np.einsum("ni,nim->nm", low[:, i + 1 :, i], x[:, i + 1 :])) / low[:, i, i, None]
    return x[:, :, 0] if vector else x


def scaled(h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jacobi scaling of stacked matrices: (scale s, H / (s s^T), which had a positive finite diagonal)."""
    diag = np.diagonal(h, axis1=1, axis2=2)
    ok = np.all(np.isfinite(diag) & (diag > 0), axis=1)
    s = np.sqrt(np.where(diag > 0, diag, 1.0))
    return s, h / (s[:, :, None] * s[:, None, :]), ok


def damped_solve(h: np.ndarray, g: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg-Marquardt steps x = -(H + lam diag H)^-1 g for stacks, and which could be solved."""
    s, c, ok = scaled(h)
    k = h.shape[1]
    c = c + lam[:, None, None] * np.eye(k)
    low, pd = cholesky(c)
    step = solve_factored(low, -g / s) / s
    good = ok & pd & np.all(np.isfinite(step), axis=1)
    return np.where(good[:, None], step, 0.0), good


def inverse(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of a stack of symmetric positive-definite matrices, and which were invertible."""
    n, k, _ = h.shape
    if k == 0:
        return np.zeros_like(h), np.ones(n, dtype=bool)
    s, c, ok = scaled(h)
    low, pd = cholesky(c)
    inv = solve_factored(low, np.broadcast_to(np.eye(k), (n, k, k)).copy())
    inv = inv / (s[:, :, None] * s[:, None, :])
    good = ok & pd & np.all(np.isfinite(inv), axis=(1, 2))
    return np.where(good[:, None, None], inv, np.nan), good
