"""Model components: each evaluates itself and its analytic Jacobian on a grid, vectorised over items.

Coordinates follow SpecPy: axis 0 is x (numpy's last axis), axis 1 is y, axis 2 is z. A
component's output broadcasts to (items, *numpy_shape) of the data it is evaluated on.
"Norm" parameters are integrated counts: a point-sampled density is multiplied by the pixel
size along the axes the component spans, and pixel-integrated variants integrate exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import erf, erfc, erfcx, j1, jv

from .errors import ModelError

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
AIRY_HALF = 1.616339948310703  # v where (2 J1(v) / v)^2 = 1/2
INF = math.inf

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Grid:
    """Pixel-centre coordinates of one data set (or a chunk of its items) and its pixel sizes.

    Components see arrays shaped (items, *shape) by default; with items_last the batch axis comes
    last, (*shape, items), so that every numpy call of a batch fit runs over long contiguous rows
    of items instead of a spot's few pixels.
    """

    axes: tuple[np.ndarray, ...]  # x first; each (items or 1, length)
    pixel: tuple[float, ...]  # x first
    items_last: bool = False

    @property
    def ndim(self) -> int:
        """Number of coordinate axes."""
        return len(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The per-item data shape in numpy order."""
        return tuple(a.shape[1] for a in reversed(self.axes))

    def full(self, n: int) -> tuple[int, ...]:
        """The shape of n items' values in this grid's layout."""
        return self.shape + (n,) if self.items_last else (n,) + self.shape

    def along(self, i: int, values: np.ndarray) -> np.ndarray:
        """Per-item values along axis i, (items or 1, length), shaped to broadcast against the items' data."""
        shape = [1] * (self.ndim + 1)
        if self.items_last:
            shape[-1], shape[self.ndim - 1 - i] = values.shape[0], values.shape[1]
            return values.T.reshape(shape)
        shape[0], shape[self.ndim - i] = values.shape[0], values.shape[1]
        return values.reshape(shape)

    def axis(self, i: int) -> np.ndarray:
        """Coordinate axis i shaped to broadcast against the items' data."""
        return self.along(i, self.axes[i])

    def param(self, value: np.ndarray) -> np.ndarray:
        """An (items,) parameter array shaped to broadcast against the items' data."""
        value = np.asarray(value, dtype=float)
        return value.reshape((1,) * self.ndim + (-1,)) if self.items_last else value.reshape((-1,) + (1,) * self.ndim)

    def take(self, items: np.ndarray | slice, items_last: bool = False) -> "Grid":
        """The grid of a subset of items (axes shared by all items are kept as they are), in either layout."""
        return Grid(tuple(a if a.shape[0] == 1 else a[items] for a in self.axes), self.pixel, items_last)


@dataclass(frozen=True)
class ParSpec:
    """A parameter's name, default value, default free/frozen state and default bounds."""

    name: str
    default: float
    free: bool = True
    lower: float = -INF
    upper: float = INF
    doc: str = ""


class Component:
    """Base of all components; subclasses declare name, kind, ndim and implement evaluate/guess."""

    name: ClassVar[str]
    kind: ClassVar[str] = "additive"
    ndim: ClassVar[int] = 0
    summary: ClassVar[str] = ""
    option_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: object) -> None:
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            allowed = ", ".join(self.option_names) or "none"
            raise ModelError(f"component {self.name!r} has no option {unknown[0]!r}; allowed options: {allowed}")
        self.options = dict(options)

    def parameters(self) -> tuple[ParSpec, ...]:
        """The parameters of this component instance, in display order."""
        raise NotImplementedError

    def check_grid(self, grid: Grid, what: str) -> None:
        """Refuse data with fewer coordinate axes than the component needs."""
        if grid.ndim < self.ndim:
            raise ModelError(f"component {self.name!r} needs {self.ndim} coordinate axes; {what} has {grid.ndim}")

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        """Model values and d(model)/d(parameter) for each parameter named in `need`."""
        raise NotImplementedError

    def guess(self, counts: np.ndarray, grid: Grid) -> Arrays:
        """Start values per item from the data (counts shaped (items, *shape))."""
        return {}


def _flat(counts: np.ndarray) -> np.ndarray:
    return counts.reshape(counts.shape[0], -1)


def background_guess(counts: np.ndarray) -> np.ndarray:
    """A background level per item: the lowest mean over the faces of its window.

    Each face is a slab one tenth of the axis thick (at least one pixel); a spot or a decay
    leaves at least one face nearly clean, so the least bright face is a good first guess.
    """
    return _face_minimum(np.moveaxis(counts, 0, -1))


def _face_minimum(data: np.ndarray) -> np.ndarray:
    """`background_guess` for items-last data (*shape, items): sums run along rows of items, not per item."""
    items = data.shape[-1]
    means = []
    for axis, length in enumerate(data.shape[:-1]):
        thick = max(1, length // 10)
        for part in (slice(0, thick), slice(length - thick, length)):
            index = [slice(None)] * data.ndim
            index[axis] = part
            face = data[tuple(index)].reshape(-1, items)
            means.append(np.add.reduce(face, axis=0) / face.shape[0])
    return np.min(means, axis=0)


def moments(counts: np.ndarray, grid: Grid, axes: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Background-subtracted total, centroid and Gaussian sigma per item along the first `axes` axes.

    Centre and width come from the squared background-subtracted signal, which weights the peak
    and suppresses background noise; for a Gaussian profile its second moment is sigma^2 / 2.
    The work is done on an items-last copy, so every sum runs along long rows of items.
    """
    items, ndim = counts.shape[0], grid.ndim
    signal = np.empty(counts.shape[1:] + (items,))
    np.copyto(signal, np.moveaxis(counts, 0, -1))
    signal -= _face_minimum(signal)
    total = np.add.reduce(signal.reshape(-1, items), axis=0)
    weight = np.clip(signal, 0.0, None, out=signal)
    weight *= weight
    norm = np.add.reduce(weight.reshape(-1, items), axis=0)
    safe = np.where(norm > 0, norm, 1.0)
    centres, widths = [], []
    for i in range(axes):
        numpy_axis = ndim - 1 - i  # axis i of the grid is numpy axis ndim - 1 - i of (*shape, items)
        others = tuple(a for a in range(ndim) if a != numpy_axis)
        marginal = np.add.reduce(weight, axis=others) if others else weight  # (length_i, items)
        coord = grid.axes[i]
        column = coord.T  # (length_i, items or 1)
        first = np.add.reduce(marginal * column, axis=0) / safe
        second = np.add.reduce(marginal * column**2, axis=0) / safe
        middle = 0.5 * (coord[:, 0] + coord[:, -1])
        centre = np.where(norm > 0, first, middle)
        step = abs(grid.pixel[i])
        extent = abs(coord[:, -1] - coord[:, 0]) + step
        sd = np.sqrt(np.clip(2.0 * (second - first**2), 0.0, None))
        centres.append(np.broadcast_to(centre, total.shape).copy())
        widths.append(np.clip(sd, 0.5 * step, np.broadcast_to(extent / 2.0, total.shape)))
    return total, centres, widths


def scaled_axis(grid: Grid, i: int) -> np.ndarray:
    """Axis i rescaled to [-1, 1] over each item's extent (zeros if the data lacks that axis)."""
    if i >= grid.ndim:
        return np.zeros((1,) * (grid.ndim + 1))
    a = grid.axes[i]
    centre = 0.5 * (a[:, :1] + a[:, -1:])
    half = 0.5 * (a[:, -1:] - a[:, :1])
    return grid.along(i, (a - centre) / np.where(half != 0, half, 1.0))


class Const(Component):
    """Constant background: `level` counts per pixel."""

    name = "const"
    summary = "constant background, level = counts per pixel"

    def parameters(self) -> tuple[ParSpec, ...]:
        return (ParSpec("level", 1.0, lower=0.0, doc="counts per pixel; >= 0 by default (par_range allows negative)"),)

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        level = grid.param(p["level"])
        return level, ({"level": np.ones_like(level)} if "level" in need else {})

    def guess(self, counts: np.ndarray, grid: Grid) -> Arrays:
        return {"level": background_guess(counts)}


class Poly(Component):
    """Polynomial background to second order in x and y, on coordinates scaled to [-1, 1]."""

    name = "poly"
    summary = "polynomial background c0 + cx u + cy v + cxx u^2 + cxy u v + cyy v^2 (u, v in [-1, 1])"
    TERMS = ("c0", "cx", "cy", "cxx", "cxy", "cyy")

    def parameters(self) -> tuple[ParSpec, ...]:
        return (ParSpec("c0", 1.0, doc="counts per pixel at the centre"),) + tuple(
            ParSpec(t, 0.0, free=False, doc="counts per pixel") for t in self.TERMS[1:]
        )

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        u, v = scaled_axis(grid, 0), scaled_axis(grid, 1)
        basis = {"c0": np.ones((1,) * (grid.ndim + 1)), "cx": u, "cy": v, "cxx": u * u, "cxy": u * v, "cyy": v * v}
        mu = sum(grid.param(p[t]) * basis[t] for t in self.TERMS)
        return mu, {t: basis[t] for t in self.TERMS if t in need}

    def guess(self, counts: np.ndarray, grid: Grid) -> Arrays:
        return {"c0": background_guess(counts)}


def gauss_factor(
    x: np.ndarray, x0: np.ndarray, sigma: np.ndarray, step: float, integrate: bool, derivs: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One axis of a normalised Gaussian per pixel, and its derivatives by centre and by sigma."""
    if not integrate:
        z = (x - x0) / sigma
        f = np.exp(-0.5 * z * z) * (abs(step) / math.sqrt(2.0 * math.pi)) / sigma
        if not derivs:
            return f, None, None
        return f, f * z / sigma, f * (z * z - 1.0) / sigma
    half = 0.5 * abs(step)
    a = (x - half - x0) / sigma
    b = (x + half - x0) / sigma
    root2 = math.sqrt(2.0)
    upper = a > 0
    f = 0.5 * np.where(upper, erfc(a / root2) - erfc(b / root2), erf(b / root2) - erf(a / root2))
    if not derivs:
        return f, None, None
    norm = 1.0 / math.sqrt(2.0 * math.pi)
    pa, pb = np.exp(-0.5 * a * a) * norm, np.exp(-0.5 * b * b) * norm
    return f, (pa - pb) / sigma, (pa * a - pb * b) / sigma


class _GaussND(Component):
    """Axis-aligned Gaussian in 1 to 3 dimensions (separable), optionally pixel-integrated."""

    option_names = ("integrate",)
    centres: ClassVar[tuple[str, ...]] = ()
    widths: ClassVar[tuple[str, ...]] = ()

    def parameters(self) -> tuple[ParSpec, ...]:
        return (
            (ParSpec("norm", 1.0, doc="integrated counts"),)
            + tuple(ParSpec(c, 0.0, doc="centre") for c in self.centres)
            + tuple(ParSpec(w, 1.0, lower=0.0, doc="full width at half maximum") for w in self.widths)
        )

    @property
    def integrate(self) -> bool:
        """Whether the model integrates over each pixel instead of sampling its centre."""
        return bool(self.options.get("integrate", False))

    def _factors(self, grid: Grid, p: Arrays, need: frozenset[str]) -> list[tuple[np.ndarray, ...]]:
        out = []
        for i, (c, w) in enumerate(zip(self.centres, self.widths)):
            sigma = grid.param(p[w]) / FWHM_PER_SIGMA
            derivs = c in need or w in need
            out.append(gauss_factor(grid.axis(i), grid.param(p[c]), sigma, grid.pixel[i], self.integrate, derivs))
        return out

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        factors = self._factors(grid, p, need)
        norm = grid.param(p["norm"])
        shape = factors[0][0]
        for f in factors[1:]:
            shape = shape * f[0]
        mu = norm * shape
        jac: Arrays = {}
        if "norm" in need:
            jac["norm"] = shape
        for i, (c, w) in enumerate(zip(self.centres, self.widths)):
            if c not in need and w not in need:
                continue
            others = norm
            for j, f in enumerate(factors):
                if j != i:
                    others = others * f[0]
            _, d_centre, d_sigma = factors[i]
            if c in need:
                jac[c] = others * d_centre
            if w in need:
                jac[w] = others * (d_sigma / FWHM_PER_SIGMA)
        return mu, jac

    def guess(self, counts: np.ndarray, grid: Grid) -> Arrays:
        total, centres, widths = moments(counts, grid, len(self.centres))
        out = {"norm": np.maximum(total, 1e-3)}
        for c, w, centre, width in zip(self.centres, self.widths, centres, widths):
            out[c] = centre
            out[w] = width * FWHM_PER_SIGMA
        return out


class Gauss1D(_GaussND):
    """1D Gaussian along x: norm (integrated counts), x, fwhm."""

    name = "gauss1d"
    ndim = 1
    summary = "1D Gaussian along x: norm (integrated counts), x, fwhm"
    centres = ("x",)
    widths = ("fwhm",)


class Gauss3D(_GaussND):
    """Axis-aligned 3D Gaussian: norm, x, y, z, fwhm_x, fwhm_y, fwhm_z."""

    name = "gauss3d"
    ndim = 3
    summary = "3D Gaussian: norm, x, y, z, fwhm_x, fwhm_y, fwhm_z"
    centres = ("x", "y", "z")
    widths = ("fwhm_x", "fwhm_y", "fwhm_z")


class Gauss2D(_GaussND):
    """Elliptical 2D Gaussian with rotation `angle` (radians, frozen at 0 by default)."""

    name = "gauss2d"
    ndim = 2
    summary = "2D Gaussian: norm (integrated counts), x, y, fwhm_x, fwhm_y, angle (rad, frozen at 0)"
    centres = ("x", "y")
    widths = ("fwhm_x", "fwhm_y")

    def parameters(self) -> tuple[ParSpec, ...]:
        return super().parameters() + (ParSpec("angle", 0.0, free=False, doc="rotation in radians"),)

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        angle = np.asarray(p["angle"])
        if "angle" not in need and not np.any(angle):
            mu, jac = super().evaluate(grid, p, need)
            return mu, jac
        if self.integrate:
            raise ModelError("gauss2d with integrate=True needs angle frozen at 0 (rotated pixel integrals are not separable)")
        dx = grid.axis(0) - grid.param(p["x"])
        dy = grid.axis(1) - grid.param(p["y"])
        c, s = np.cos(grid.param(angle)), np.sin(grid.param(angle))
        sx = grid.param(p["fwhm_x"]) / FWHM_PER_SIGMA
        sy = grid.param(p["fwhm_y"]) / FWHM_PER_SIGMA
        u = c * dx + s * dy
        v = -s * dx + c * dy
        ax, ay = u / (sx * sx), v / (sy * sy)
        area = abs(grid.pixel[0] * grid.pixel[1])
        shape = np.exp(-0.5 * (u * ax + v * ay)) * (area / (2.0 * math.pi)) / (sx * sy)
        mu = grid.param(p["norm"]) * shape
        derivs = {
            "norm": lambda: shape,
            "x": lambda: mu * (ax * c - ay * s),
            "y": lambda: mu * (ax * s + ay * c),
            "fwhm_x": lambda: mu * (u * ax - 1.0) / sx / FWHM_PER_SIGMA,
            "fwhm_y": lambda: mu * (v * ay - 1.0) / sy / FWHM_PER_SIGMA,
            "angle": lambda: -mu * u * v * (1.0 / (sx * sx) - 1.0 / (sy * sy)),
        }
        return mu, {k: derivs[k]() for k in need if k in derivs}


class Lorentz(Component):
    """1D Lorentzian (Cauchy) profile along x: norm (integrated counts), x, fwhm."""

    name = "lorentz"
    ndim = 1
    summary = "1D Lorentzian along x: norm (integrated counts), x, fwhm"

    def parameters(self) -> tuple[ParSpec, ...]:
        return (
            ParSpec("norm", 1.0, doc="integrated counts"),
            ParSpec("x", 0.0, doc="centre"),
            ParSpec("fwhm", 1.0, lower=0.0, doc="full width at half maximum"),
        )

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        gamma = 0.5 * grid.param(p["fwhm"])
        d = grid.axis(0) - grid.param(p["x"])
        inv = 1.0 / (d * d + gamma * gamma)
        shape = (abs(grid.pixel[0]) / math.pi) * gamma * inv
        mu = grid.param(p["norm"]) * shape
        jac: Arrays = {}
        if "norm" in need:
            jac["norm"] = shape
        if "x" in need:
            jac["x"] = mu * 2.0 * d * inv
        if "fwhm" in need:
            jac["fwhm"] = 0.5 * mu * (1.0 / gamma - 2.0 * gamma * inv)
        return mu, jac

    def guess(self, counts: np.ndarray, grid: Grid) -> Arrays:
        total, centres, widths = moments(counts, grid, 1)
        return {"norm": np.maximum(total, 1e-3), "x": centres[0], "fwhm": widths[0] * FWHM_PER_SIGMA}


class Airy2D(Component):
    """Airy-disc PSF (2 J1(v)/v)^2 in the xy plane: norm (integrated counts), x, y, fwhm."""

    name = "airy2d"
    ndim = 2
    summary = "2D Airy PSF: norm (integrated counts), x, y, fwhm"

    def parameters(self) -> tuple[ParSpec, ...]:
        return (
            ParSpec("norm", 1.0, doc="integrated counts"),
            ParSpec("x", 0.0, doc="centre"),
            ParSpec("y", 0.0, doc="centre"),
            ParSpec("fwhm", 1.0, lower=0.0, doc="full width at half maximum"),
        )

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        fwhm = grid.param(p["fwhm"])
        k = 2.0 * AIRY_HALF / fwhm
        dx = grid.axis(0) - grid.param(p["x"])
        dy = grid.axis(1) - grid.param(p["y"])
        v = np.maximum(k * np.sqrt(dx * dx + dy * dy), 1e-8)
        b1 = j1(v)
        f = (2.0 * b1 / v) ** 2
        scale = abs(grid.pixel[0] * grid.pixel[1]) * k * k / (4.0 * math.pi)
        shape = scale * f
        mu = grid.param(p["norm"]) * shape
        jac: Arrays = {}
        if "norm" in need:
            jac["norm"] = shape
        if need & {"x", "y", "fwhm"}:
            g = -8.0 * b1 * jv(2, v) / v**3  # F'(v) / v, finite at v -> 0
            amplitude = grid.param(p["norm"]) * scale
            if "x" in need:
                jac["x"] = -amplitude * g * k * k * dx
            if "y" in need:
                jac["y"] = -amplitude * g * k * k * dy
            if "fwhm" in need:
                jac["fwhm"] = -(amplitude / fwhm) * (2.0 * f + v * v * g)
        return mu, jac

    def guess(self, counts: np.ndarray, grid: Grid) -> Arrays:
        total, centres, widths = moments(counts, grid, 2)
        return {
            "norm": np.maximum(total, 1e-3),
            "x": centres[0],
            "y": centres[1],
            "fwhm": 0.5 * (widths[0] + widths[1]) * FWHM_PER_SIGMA,
        }


def _exgauss(u: np.ndarray, tau: np.ndarray, sigma: np.ndarray, derivs: bool) -> tuple[np.ndarray, ...]:
    """Unit-area exponential decay starting at u = 0 convolved with a Gaussian IRF, and derivatives.

    f = exp(a) erfc(b) / (2 tau) with a = sigma^2 / (2 tau^2) - u / tau and b = (sigma / tau - u / sigma) / sqrt(2),
    evaluated through erfcx(|b|) so that neither factor overflows.
    """
    root2 = math.sqrt(2.0)
    b = (sigma / tau - u / sigma) / root2
    gauss = np.exp(-0.5 * (u / sigma) ** 2)
    scaled = gauss * erfcx(np.abs(b))  # = exp(a) erfc(|b|)
    negative = b < 0
    if np.any(negative):
        rise = np.exp(np.minimum(0.5 * (sigma / tau) ** 2 - u / tau, 700.0))
        scaled = np.where(negative, 2.0 * rise - scaled, scaled)  # erfc(b) = 2 - erfc(-b)
    f = scaled / (2.0 * tau)
    if not derivs:
        return (f,)
    g = gauss / (tau * math.sqrt(math.pi))
    d_t0 = f / tau - g / (sigma * root2)
    d_tau = f * (u / tau**2 - sigma**2 / tau**3 - 1.0 / tau) + g * sigma / (tau**2 * root2)
    d_sigma = f * sigma / tau**2 - g * (1.0 / tau + u / sigma**2) / root2
    return f, d_t0, d_tau, d_sigma


def _pulse_tails(u: np.ndarray, tau: np.ndarray, sigma: np.ndarray, period: float, derivs: bool) -> tuple[np.ndarray, ...]:
    """The summed decays of all earlier laser pulses (u + k period, k >= 1), far from their IRF.

    sum_k exp(a - k period / tau) / tau = exp(a) / tau * r / (1 - r) with r = exp(-period / tau);
    valid when the IRF is much narrower than the period.
    """
    r = np.exp(-period / tau)
    q = r / (1.0 - r)
    a = 0.5 * (sigma / tau) ** 2 - u / tau
    base = np.exp(np.minimum(a, 700.0)) / tau
    f = base * q
    if not derivs:
        return (f,)
    d_t0 = f / tau
    d_tau = f * (u / tau**2 - sigma**2 / tau**3 - 1.0 / tau) + base * r * period / (tau**2 * (1.0 - r) ** 2)
    d_sigma = f * sigma / tau**2
    return f, d_t0, d_tau, d_sigma


class ExpDecay(Component):
    """Exponential decay(s) along x (time) convolved with a Gaussian instrument response.

    Parameters: `norm`, `tau` (and `norm2`, `tau2`, ... with option lifetimes=k), the onset
    `t0` and the IRF width `irf_fwhm`. Option `period` (the laser period, in the units of the
    time axis) adds the tails of all earlier pulses (incomplete decay between pulses).
    """

    name = "expdecay"
    ndim = 1
    summary = "exponential decay(s) * Gaussian IRF along x: norm, tau [, norm2, tau2 ...], t0, irf_fwhm"
    option_names = ("lifetimes", "period")

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        lifetimes = options.get("lifetimes", 1)
        if not isinstance(lifetimes, int) or isinstance(lifetimes, bool) or not 1 <= lifetimes <= 4:
            raise ModelError(f"expdecay option lifetimes must be an integer 1..4, got {lifetimes!r}")
        period = options.get("period")
        if period is not None and not (isinstance(period, (int, float)) and period > 0):
            raise ModelError(f"expdecay option period must be a positive number, got {period!r}")

    def _pairs(self) -> list[tuple[str, str]]:
        n = int(self.options.get("lifetimes", 1))
        return [("norm", "tau")] + [(f"norm{i}", f"tau{i}") for i in range(2, n + 1)]

    def parameters(self) -> tuple[ParSpec, ...]:
        out: list[ParSpec] = []
        for i, (norm, tau) in enumerate(self._pairs()):
            out.append(ParSpec(norm, 1.0, doc="integrated counts"))
            out.append(ParSpec(tau, float(i + 1), lower=0.0, doc="lifetime"))
        out.append(ParSpec("t0", 0.0, doc="onset of the decay"))
        out.append(ParSpec("irf_fwhm", 0.1, lower=0.0, doc="FWHM of the Gaussian instrument response"))
        return tuple(out)

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        step = abs(grid.pixel[0])
        sigma = grid.param(p["irf_fwhm"]) / FWHM_PER_SIGMA
        u0 = grid.axis(0) - grid.param(p["t0"])
        period = self.options.get("period")
        derivs = bool(need)
        mu: np.ndarray | float = 0.0
        jac: Arrays = {}
        for norm_name, tau_name in self._pairs():
            tau = grid.param(p[tau_name])
            norm = grid.param(p[norm_name])
            total = list(_exgauss(u0, tau, sigma, derivs))
            if period:
                total = [a + b for a, b in zip(total, _pulse_tails(u0, tau, sigma, float(period), derivs))]
            total = [part * step for part in total]
            mu = mu + norm * total[0]
            if norm_name in need:
                jac[norm_name] = total[0]
            if not derivs:
                continue
            if tau_name in need:
                jac[tau_name] = norm * total[2]
            for name, value in (("t0", norm * total[1]), ("irf_fwhm", norm * total[3] / FWHM_PER_SIGMA)):
                if name in need:
                    jac[name] = jac[name] + value if name in jac else value
        return np.asarray(mu), jac

    def guess(self, counts: np.ndarray, grid: Grid) -> Arrays:
        flat = _flat(counts)
        t = grid.axes[0]
        if t.shape[0] == 1:
            t = np.broadcast_to(t, flat.shape)
        peak = np.take_along_axis(t, flat.argmax(axis=1)[:, None], axis=1)[:, 0]
        signal = np.clip(flat - background_guess(counts)[:, None], 0.0, None)
        total = signal.sum(axis=1)
        after = np.where(t >= peak[:, None], signal, 0.0)
        weight = np.maximum(after.sum(axis=1), 1e-12)
        mean_delay = (after * (t - peak[:, None])).sum(axis=1) / weight
        tau = np.maximum(mean_delay, 2.0 * abs(grid.pixel[0]))
        pairs = self._pairs()
        out = {"t0": peak, "irf_fwhm": np.full_like(peak, 2.0 * abs(grid.pixel[0]))}
        for i, (norm, tau_name) in enumerate(pairs):
            out[norm] = np.maximum(total, 1e-3) / len(pairs)
            out[tau_name] = tau * (0.5 + i) if len(pairs) > 1 else tau
        return out


# --- multiplicative components -----------------------------------------------------------------


class Scale(Component):
    """Multiplicative constant `factor` (detection efficiency, attenuation)."""

    name = "scale"
    kind = "multiplicative"
    summary = "multiplicative factor (efficiency, attenuation)"

    def parameters(self) -> tuple[ParSpec, ...]:
        return (ParSpec("factor", 1.0, free=False, doc="dimensionless factor"),)

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        factor = grid.param(p["factor"])
        return factor, ({"factor": np.ones_like(factor)} if "factor" in need else {})


class Gradient(Component):
    """Multiplicative linear illumination profile 1 + gx u + gy v (u, v scaled to [-1, 1])."""

    name = "gradient"
    kind = "multiplicative"
    summary = "multiplicative illumination 1 + gx u + gy v (u, v in [-1, 1])"

    def parameters(self) -> tuple[ParSpec, ...]:
        return (ParSpec("gx", 0.0, doc="relative slope along x"), ParSpec("gy", 0.0, free=False, doc="relative slope along y"))

    def evaluate(self, grid: Grid, p: Arrays, need: frozenset[str]) -> tuple[np.ndarray, Arrays]:
        u, v = scaled_axis(grid, 0), scaled_axis(grid, 1)
        mu = 1.0 + grid.param(p["gx"]) * u + grid.param(p["gy"]) * v
        basis = {"gx": u, "gy": v}
        return mu, {k: np.broadcast_to(basis[k], np.broadcast(mu, basis[k]).shape) for k in need if k in basis}


COMPONENTS: dict[str, type[Component]] = {
    cls.name: cls for cls in (Const, Poly, Gauss1D, Gauss2D, Gauss3D, Lorentz, Airy2D, ExpDecay, Scale, Gradient)
}


def make_component(name: str, options: dict[str, object] | None = None) -> Component:
    """Build a registered component by name, refusing unknown names with the list of known ones."""
    if not isinstance(name, str) or name not in COMPONENTS:
        raise ModelError(f"unknown component {name!r}; known components: {', '.join(sorted(COMPONENTS))}")
    return COMPONENTS[name](**(options or {}))
