"""Seeded simulators shared by the fit tests: Poisson data drawn from known models."""

from __future__ import annotations

import math

import numpy as np
import pytest

SIGMA_PX = 1.3


def spot_windows(n: int, photons: float, background: float, size: int = 7, seed: int = 0, sigma: float = SIGMA_PX):
    """n Poisson windows (n, size, size) of a point-sampled symmetric 2D Gaussian + flat background."""
    rng = np.random.default_rng(seed)
    centre = (size - 1) / 2
    x0 = centre + rng.uniform(-0.5, 0.5, n)
    y0 = centre + rng.uniform(-0.5, 0.5, n)
    yy, xx = np.mgrid[0:size, 0:size]
    mu = background + photons * np.exp(
        -((xx - x0[:, None, None]) ** 2 + (yy - y0[:, None, None]) ** 2) / (2 * sigma**2)
    ) / (2 * math.pi * sigma**2)
    return rng.poisson(mu).astype(float), x0, y0


def gauss_line(n_items: int, seed: int, norm: float = 400.0, centre: float = 20.0, fwhm: float = 8.0, level: float = 5.0, length: int = 40):
    """n_items Poisson spectra of a 1D Gaussian on a constant, and the true parameter values."""
    rng = np.random.default_rng(seed)
    x = np.arange(length, dtype=float)
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    mu = level + norm * np.exp(-0.5 * ((x - centre) / sigma) ** 2) / (math.sqrt(2 * math.pi) * sigma)
    return rng.poisson(np.broadcast_to(mu, (n_items, length))).astype(float), {"norm": norm, "x": centre, "fwhm": fwhm, "level": level}


@pytest.fixture
def spots():
    """Factory for seeded spot windows."""
    return spot_windows


@pytest.fixture
def line():
    """Factory for seeded 1D Gaussian spectra."""
    return gauss_line


@pytest.fixture
def spot_sigma():
    """The Gaussian sigma (pixels) of the simulated spots."""
    return SIGMA_PX
