"""Fit statistics for counts and for Gaussian data: per-pixel values, derivatives, expectations.

Every statistic S is on the -2 ln L scale, so Delta S = 1 is a one-sigma change for one
parameter and the covariance of the estimate is 2 H^-1 with H = sum h J J^T (the Gauss-Newton /
Fisher-scoring curvature returned by `Statistic.evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import gammaln, xlogy

from .errors import DataError
from .parallel import map_parts

STATISTICS = ("cstat", "cash", "chi2")
VARIANCES = ("model", "data", "gehrels", "sigma", "unit")
MU_FLOOR = 1e-12  # model values below this are clipped when forming derivatives
BLOCK_VALUES = 65536  # values per block where a whole-data computation is done in pieces


@dataclass(frozen=True)
class Statistic:
    """A statistic (cstat, cash or chi2) with, for chi2, its variance choice."""

    name: str
    variance: str | None = None

    @classmethod
    def make(cls, name: str, variance: str | None = None) -> "Statistic":
        """Check the name and variance choice and build the statistic."""
        if name not in STATISTICS:
            raise DataError(f"unknown statistic {name!r}; allowed: {', '.join(STATISTICS)}")
        if name == "chi2":
            if variance not in VARIANCES:
                raise DataError(
                    f"chi2 needs an explicit variance choice, got {variance!r}; allowed: {', '.join(VARIANCES)}"
                )
        elif variance is not None:
            raise DataError(f"statistic {name!r} takes no variance choice (got {variance!r}); only chi2 does")
        return cls(name, variance)

    @property
    def poisson(self) -> bool:
        """True for the Poisson likelihoods (cstat, cash), which need non-negative counts."""
        return self.name != "chi2"

    def check(self, counts: np.ndarray, sigma: np.ndarray | None, what: str) -> None:
        """Refuse data this statistic cannot use, naming the data set and the problem."""
        low, high = (float(counts.min()), float(counts.max())) if counts.size else (0.0, 0.0)  # NaN and inf show in the extremes
        if not (np.isfinite(low) and np.isfinite(high)):
            bad = int(np.count_nonzero(~np.isfinite(counts)))
            raise DataError(f"{what}: {bad} value(s) are NaN or infinite; all data must be finite")
        if self.poisson and low < 0:
            raise DataError(
                f"{what}: {int(np.count_nonzero(counts < 0))} negative value(s) (minimum {counts.min()!r}); "
                f"{self.name} needs counts >= 0 (subtract offsets and divide gain first, or use chi2)"
            )
        if self.variance == "sigma":
            if sigma is None:
                raise DataError(f"{what}: chi2 with variance='sigma' needs a sigma array")
            if sigma.shape != counts.shape or not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
                raise DataError(f"{what}: sigma must be finite, > 0 and shaped like the data {counts.shape}")
        elif sigma is not None:
            raise DataError(f"{what}: a sigma array is only used with stat='chi2', variance='sigma'")

    def weights(self, counts: np.ndarray, sigma: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray | None:
        """Per-pixel weights folded into the statistic: the mask, and 1/variance for fixed-variance chi2."""
        inverse = None
        if self.variance == "data":
            inverse = 1.0 / np.maximum(counts, 1.0)
        elif self.variance == "gehrels":
            inverse = 1.0 / (1.0 + np.sqrt(counts + 0.75)) ** 2
        elif self.variance == "sigma":
            assert sigma is not None
            inverse = 1.0 / sigma**2
        if mask is None:
            return inverse
        mask = mask.astype(float)
        return mask if inverse is None else inverse * mask

    def constant(self, counts: np.ndarray, weight: np.ndarray | None, workers: int = 1) -> np.ndarray:
        """The data-only part of the statistic per item (the n ln n - n term of cstat) for (items, pixels) arrays.

        Computed in blocks of items, over `workers` threads, so that no temporary is as large as the data.
        """
        out = np.zeros(counts.shape[0])
        if self.name != "cstat":
            return out
        step = max(1, BLOCK_VALUES // max(1, counts.shape[1]))

        def block(a: int) -> None:
            n = counts[a : a + step]
            term = xlogy(n, n)
            term -= n
            if weight is not None:
                term *= weight if weight.shape[0] == 1 else weight[a : a + step]
            out[a : a + step] = 2.0 * term.sum(axis=1)

        map_parts(workers, block, range(0, counts.shape[0], step))
        return out

    def evaluate(
        self, n: np.ndarray, mu: np.ndarray, weight: np.ndarray | None, constant: np.ndarray, derivatives: bool, observed: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Per-item statistic for (pixels, items) arrays; with derivatives also dS/dmu and curvature h.

        The curvature is the expected (Fisher) one, 2/mu for Poisson data; with observed=True it is
        2 max(n / mu, 1) / mu: Newton's curvature 2 n / mu^2 for parameters the model is linear in
        where it exceeds the expected one (faster convergence in joint fits at low counts), never
        less than the expected one (no runaway steps where counts are zero). Errors always use
        the expected curvature.
        """
        if self.poisson:
            positive = mu > 0
            valid = bool(positive.all())
            log_mu = np.log(mu if valid else np.where(positive, mu, 1.0))
            # the same sums for every item whatever else is in its chunk: results do not depend on chunking
            if weight is None:
                stat = 2.0 * (np.add.reduce(mu, axis=0) - np.einsum("mn,mn->n", n, log_mu)) + constant
            else:
                stat = 2.0 * (np.einsum("m...,m...->...", mu, weight) - np.einsum("m...,m...,m...->...", n, log_mu, weight)) + constant
            if not valid:  # a count where the model is not positive: impossible, unless masked
                impossible = ~positive & (n > 0) if weight is None else ~positive & (n > 0) & (weight > 0)
                stat = np.where(np.logical_or.reduce(impossible, axis=0), np.inf, stat)
            if not derivatives:
                return stat, None, None
            h = np.divide(2.0, mu if valid else np.maximum(mu, MU_FLOOR))  # 2 / mu
            dc = n * h
            if observed:
                h = np.maximum(0.5 * dc, 1.0) * h  # 2 max(n / mu, 1) / mu
            np.subtract(2.0, dc, out=dc)  # 2 - 2 n / mu
        elif self.variance == "model":
            safe = np.maximum(mu, MU_FLOOR)
            inv = 1.0 / safe
            r = n - mu
            pixel = np.where(mu > 0, r * r * inv, np.inf)
            if weight is not None:
                pixel = np.where(weight > 0, pixel * weight, 0.0)
            stat = pixel.sum(axis=0)
            if not derivatives:
                return stat, None, None
            dc = 1.0 - n * n * inv * inv
            h = 2.0 * inv
        else:
            r = n - mu
            w = 1.0 if weight is None else weight
            stat = (r * r * w).sum(axis=0)
            if not derivatives:
                return stat, None, None
            dc = -2.0 * r * w
            h = 2.0 * w if weight is not None else np.full_like(mu, 2.0)
            return stat, dc, h
        if weight is not None:
            dc = dc * weight
            h = h * weight
        return stat, dc, h

    def pixels(self, n: np.ndarray, mu: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
        """Each pixel's contribution to the statistic (the full value, data term included)."""
        if self.poisson:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_ratio = np.log(np.where(n > 0, n, 1.0)) - np.log(np.where(mu > 0, mu, 1.0))
                if self.name == "cstat":
                    c = 2.0 * (mu - n + n * log_ratio)
                else:
                    c = 2.0 * (mu - n * np.log(np.where(mu > 0, mu, 1.0)))
            c = np.where((mu > 0) | (n == 0), c, np.inf)
        elif self.variance == "model":
            c = np.where(mu > 0, (n - mu) ** 2 / np.maximum(mu, MU_FLOOR), np.inf)
        else:
            c = (n - mu) ** 2
        return c if weight is None else np.where(weight > 0, c * weight, 0.0)


@lru_cache(maxsize=1)
def _cstat_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact Poisson expectation and variance of the per-bin C-stat on a log grid of model values."""
    grid = np.logspace(-8, 3, 1101)
    k_max = int(grid[-1] + 12 * np.sqrt(grid[-1]) + 40)
    k = np.arange(k_max + 1, dtype=float)
    log_mu = np.log(grid)[:, None]
    log_p = k * log_mu - grid[:, None] - gammaln(k + 1.0)
    p = np.exp(log_p)
    k_log_k = k * np.log(np.where(k > 0, k, 1.0))
    c = 2.0 * (grid[:, None] - k + k_log_k - k * log_mu)
    mean = (p * c).sum(axis=1)
    var = (p * c * c).sum(axis=1) - mean**2
    return np.log(grid), mean, np.maximum(var, 0.0)


@lru_cache(maxsize=1)
def _cstat_segments() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tables as straight segments in grid position p: value = base[i] + slope[i] * p on [i, i + 1]."""
    _, mean, var = _cstat_table()
    index = np.arange(mean.size - 1)
    mean_slope, var_slope = np.diff(mean), np.diff(var)
    return mean[:-1] - mean_slope * index, mean_slope, var[:-1] - var_slope * index, var_slope


def cstat_expectation(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected C-stat and its variance per pixel for model values mu (Kaastra 2017, computed exactly)."""
    log_grid, mean_table, var_table = _cstat_table()
    mean_base, mean_slope, var_base, var_slope = _cstat_segments()
    mu = np.asarray(mu, dtype=float)
    first, step, last = log_grid[0], log_grid[1] - log_grid[0], log_grid.size - 1
    position = np.log(np.maximum(mu, np.exp(first)))  # the grid is uniform in log mu: index arithmetic
    position -= first
    position *= 1.0 / step
    np.minimum(position, last, out=position)
    index = position.astype(np.intp)
    np.minimum(index, last - 1, out=index)
    mean, var = np.take(mean_slope, index), np.take(var_slope, index)
    mean *= position
    mean += np.take(mean_base, index)
    var *= position
    var += np.take(var_base, index)
    if mu.size == 0:
        return mean, var
    top = np.exp(log_grid[-1])
    if mu.max() > top:
        high = mu > top
        ratio = top / mu[high]
        mean[high] = 1.0 + (mean_table[-1] - 1.0) * ratio
        var[high] = 2.0 + (var_table[-1] - 2.0) * ratio
    if mu.min() < np.exp(first):
        low = mu < np.exp(first)
        small = np.maximum(mu[low], 0.0)
        log_small = np.log(np.where(small > 0, small, 1.0))
        mean[low] = -2.0 * small * log_small
        var[low] = 4.0 * small * (1.0 + log_small) ** 2
    return mean, var
