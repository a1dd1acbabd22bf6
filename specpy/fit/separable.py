"""Fast path of the batch fitter for an axis-aligned 2-D Gaussian plus a constant background.

The Gaussian (point-sampled or pixel-integrated) is a product fy(y) fx(x) of one factor per axis,
so each parameter's derivative is one outer product of a y vector and an x vector. The gradient
and curvature sums over the (ny, nx) pixels then become contractions of the full-size dS/dmu and
curvature weights with a few per-axis vectors: no full-size Jacobian is ever built, and a chunk
needs 10 full-size passes for the sums plus 2 for the model instead of ~30 on the general path
(`model.Plan.evaluate` and `engine.accumulate`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .components import FWHM_PER_SIGMA, Const, Gauss2D, Grid, gauss_factor
from .data import DataSet
from .model import Plan

ONE = 3  # stands for a vector of ones after each axis' (value, d/d centre, d/d sigma)
# parameter -> (y vector, x vector) of its derivative's outer product (before a per-item factor)
PAIRS = {"norm": (0, 0), "x": (0, 1), "y": (1, 0), "fwhm_x": (0, 2), "fwhm_y": (2, 0), "level": (ONE, ONE)}
# y products whose pairs are summed over y first: then the 21 curvature and 6 gradient pairs of
# all six parameters need 7 and 3 full-size passes over the weights instead of 10 and 4
Y_FIRST = {(0, 0), (0, ONE)}


def _product(vectors: Sequence[np.ndarray], a: int, b: int) -> np.ndarray | None:
    """vectors[a] * vectors[b], where index ONE stands for ones; None when both are ONE."""
    if a == ONE:
        return None if b == ONE else vectors[b]
    return vectors[a] if b == ONE else vectors[a] * vectors[b]


def _contract(weights: np.ndarray, vector: np.ndarray | None, axis: int) -> np.ndarray:
    """Sum of weights * vector over `axis` of (ny, nx, n) weights or over the first axis of (length, n) rows; None means ones."""
    if vector is None:
        return np.add.reduce(weights, axis=axis if weights.ndim == 3 else 0)
    if weights.ndim == 3:
        return np.einsum("yxn,xn->yn" if axis == 1 else "yxn,yn->xn", weights, vector)
    return np.einsum("an,an->n", weights, vector)


class Factored:
    """A chunk's Jacobian as per-axis vectors and, per free parameter k, the factor of each pair's outer product."""

    def __init__(self, y: list[np.ndarray], x: list[np.ndarray], coefficients: dict[int, dict[str, np.ndarray | float]]) -> None:
        self.y, self.x, self.coefficients = y, x, coefficients

    def accumulate(self, dc: np.ndarray, h: np.ndarray, g: np.ndarray, H: np.ndarray) -> None:
        """Add sum_m J_k dc to g (K, n) and sum_m h J_k J_l to the upper triangle of H (K, K, n), like `engine.accumulate`.

        Each distinct vector (or product of two) along the axis summed first is contracted with
        the full-size weights once, then with the other axis' vectors of every pair that uses it.
        """
        ny, nx = self.y[0].shape[0], self.x[0].shape[0]
        weights = {"g": dc.reshape(ny, nx, -1), "h": h.reshape(ny, nx, -1)}
        names = [t for t in PAIRS if any(t in c for c in self.coefficients.values())]
        rows: dict[tuple[str, int, int, int], np.ndarray] = {}
        products: dict[tuple[int, int, int], np.ndarray | None] = {}

        def product(axis: int, a: int, b: int) -> np.ndarray | None:
            if (axis, a, b) not in products:
                products[axis, a, b] = _product((self.y, self.x)[axis], a, b)
            return products[axis, a, b]

        def pair_sum(kind: str, t: str, u: str | None) -> np.ndarray:
            (ya, xa), (yb, xb) = PAIRS[t], (ONE, ONE) if u is None else PAIRS[u]
            keys = ((min(ya, yb), max(ya, yb)), (min(xa, xb), max(xa, xb)))
            first = 0 if keys[0] in Y_FIRST else 1  # contract over y first where that shares a pass with more pairs
            key = (kind, first) + keys[first]
            if key not in rows:
                rows[key] = _contract(weights[kind], product(first, *keys[first]), first)
            return _contract(rows[key], product(1 - first, *keys[1 - first]), 0)

        grad = {t: pair_sum("g", t, None) for t in names}
        curv = {}
        for a, t in enumerate(names):
            for u in names[a:]:
                curv[t, u] = curv[u, t] = pair_sum("h", t, u)
        order = sorted(self.coefficients)
        for i, k in enumerate(order):
            ck = self.coefficients[k]
            g[k] += sum(c * grad[t] for t, c in ck.items())
            for l in order[i:]:
                H[k, l] += sum(c * d * curv[t, u] for t, c in ck.items() for u, d in self.coefficients[l].items())


class Separable:
    """Evaluates a plan whose model is one axis-aligned `gauss2d` and one `const`, with factored derivatives."""

    def __init__(self, plan: Plan, gauss: Gauss2D, uids: dict[str, int], level: int) -> None:
        self.plan, self.uids, self.level = plan, uids, level
        self.integrate = gauss.integrate

    @classmethod
    def of(cls, plan: Plan, datasets: Sequence[DataSet]) -> "Separable | None":
        """The fast path for this plan and data, or None when the general path must be used."""
        entries = plan.model.entries()
        if len(datasets) != 1 or datasets[0].grid.ndim != 2 or plan.n_shared or len(entries) != 2:
            return None
        kinds = {type(e.component): e for e in entries}
        if set(kinds) != {Gauss2D, Const} or any(e.relations for e in entries):
            return None
        angle = kinds[Gauss2D].parameters["angle"]
        if angle.free or angle.link is not None or np.any(plan.fixed[angle.uid]):
            return None
        uids = {name: p.uid for name, p in kinds[Gauss2D].parameters.items() if name != "angle"}
        return cls(plan, kinds[Gauss2D].component, uids, kinds[Const].parameters["level"].uid)

    def evaluate(
        self, grid: Grid, items: np.ndarray | slice, theta: np.ndarray, shared: np.ndarray, jac: bool, out: np.ndarray
    ) -> tuple[np.ndarray, Factored | None]:
        """Model (pixels, n) on an items-last grid, written into `out` (ny, nx, n), and with jac its factored Jacobian."""
        values, grads = self.plan.values(items, theta, shared, jac)
        p = {name: grid.param(values[uid]) for name, uid in self.uids.items()}
        n = theta.shape[0]
        factors = []
        for i, (centre, width) in enumerate((("x", "fwhm_x"), ("y", "fwhm_y"))):
            f = gauss_factor(grid.axis(i), p[centre], p[width] / FWHM_PER_SIGMA, grid.pixel[i], self.integrate, jac)
            factors.append([None if v is None else np.broadcast_to(v, grid.axis(i).shape[:2] + (n,)).reshape(-1, n) for v in f])
        (fx, dfx, dsx), (fy, dfy, dsy) = factors
        norm = values[self.uids["norm"]]
        mu = np.multiply((norm * fy)[:, None, :], fx[None, :, :], out=out)
        mu += values[self.level]
        mu = mu.reshape(-1, n)
        if not jac:
            return mu, None
        scale = {"norm": 1.0, "x": norm, "y": norm, "fwhm_x": norm / FWHM_PER_SIGMA, "fwhm_y": norm / FWHM_PER_SIGMA, "level": 1.0}
        uids = dict(self.uids, level=self.level)
        coefficients: dict[int, dict[str, np.ndarray | float]] = {}
        for name, uid in uids.items():
            for k, slope in grads.get(uid, {}).items():
                coefficients.setdefault(k, {})[name] = scale[name] * slope
        return mu, Factored([fy, dfy, dsy], [fx, dfx, dsx], coefficients)
