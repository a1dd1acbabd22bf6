"""Profile-likelihood intervals, vectorised over items: secant search on sqrt(Delta stat)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LOWER_MINIMUM = 1e-3  # a refit this much below the starting minimum counts as a new minimum


def profile_interval(
    refit: Callable[[np.ndarray], np.ndarray],
    best: np.ndarray,
    sigma: np.ndarray,
    stat_min: np.ndarray,
    dstat: float,
    lower_bound: float,
    upper_bound: float,
    max_steps: int = 30,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the profiled statistic reaches stat_min + dstat on each side of `best`.

    `refit(values)` fixes the parameter at `values` (one per target), refits everything else
    and returns the statistic per target. Returns (lower, upper, lowest statistic met where it
    fell below stat_min, else nan). A side that hits a bound first ends at the bound; a side
    that does not converge is nan.
    """
    target = np.sqrt(dstat)
    tolerance = 1e-3 * max(1.0, dstat)
    lowest = np.full(best.shape, np.inf)
    ends = []
    for sign, bound in ((-1.0, lower_bound), (1.0, upper_bound)):
        result = np.full(best.shape, np.nan)
        done = np.zeros(best.shape, dtype=bool)
        t_prev, z_prev = best.copy(), np.zeros(best.shape)
        t = np.clip(best + sign * sigma * target, lower_bound, upper_bound)
        for _ in range(max_steps):
            stat = refit(t)
            lowest = np.minimum(lowest, stat)
            delta = stat - stat_min
            z = np.sqrt(np.clip(delta, 0.0, None))
            hit = ~done & (np.abs(delta - dstat) < tolerance)
            at_bound = ~done & ~hit & (t == bound) & (delta < dstat)
            result[hit | at_bound] = t[hit | at_bound]
            done |= hit | at_bound
            if np.all(done):
                break
            finite = np.isfinite(z)
            with np.errstate(divide="ignore", invalid="ignore"):
                denom = z - z_prev
                t_next = t + (target - z) * (t - t_prev) / denom
            distance = np.abs(t - best)
            wrong = ~np.isfinite(t_next) | (sign * (t_next - best) <= 0) | (np.abs(denom) < 1e-12)
            t_next = np.where(wrong, best + sign * 2.0 * np.maximum(distance, sigma * 1e-3), t_next)
            t_next = np.where(np.abs(t_next - best) > 4.0 * distance + sigma, best + sign * (4.0 * distance + sigma), t_next)
            # a refit that failed (statistic not finite) went too far: halve back towards the last good point
            t_next = np.where(finite, t_next, 0.5 * (t + t_prev))
            keep = done | ~finite
            t_prev, z_prev = np.where(keep, t_prev, t), np.where(keep, z_prev, z)
            t = np.where(done, t, np.clip(t_next, lower_bound, upper_bound))
        ends.append(result)
    low_min = np.where(lowest < stat_min - LOWER_MINIMUM, lowest, np.nan)
    return ends[0], ends[1], low_min
