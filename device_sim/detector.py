"""A photon-counting detector (APD-like): background, dark counts, dead time, Poisson noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Detector:
    """Dark counts (counts/s, always there), background (counts/s at the reference excitation
    power, through the emission filter) and a non-paralysable dead time (s)."""

    dark_rate: float = 50.0
    background_rate: float = 200.0
    dead_time: float = 22e-9

    def measured_rate(self, true_rate: np.ndarray | float) -> np.ndarray:
        """The registered rate m = r / (1 + r tau) of a non-paralysable counter: saturates at 1/tau."""
        rate = np.asarray(true_rate, dtype=float)
        return rate / (1.0 + rate * self.dead_time)

    def count(self, true_rate: np.ndarray | float, dwell: float, rng: np.random.Generator,
              out: np.ndarray | None = None) -> np.ndarray:
        """Counts over `dwell` seconds per sample: Poisson with the dead-time-limited mean (uint64; into `out`
        if given)."""
        mean = self.measured_rate(true_rate) * dwell
        if out is None:
            return rng.poisson(mean).astype(np.uint64)
        np.copyto(out, rng.poisson(mean), casting="unsafe")
        return out
