"""Data sets: counts on a coordinate grid, with regions of interest, masks and a batch axis.

A data set holds items (one image, or N windows around spots, or N pixels' decays) of equal
shape. Coordinates of pixel k along axis i are offset_i + (k + 0.5) * pixel_i, which makes
them pixel indices for plain arrays and physical (SI) coordinates for a Stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .components import Grid
from .errors import DataError
from .statistics import Statistic


@dataclass(eq=False)
class DataSet:
    """One loaded data set: counts (items, *shape), optional mask and sigma, grid and statistic."""

    counts: np.ndarray
    mask: np.ndarray | None
    sigma: np.ndarray | None
    grid: Grid
    stat: Statistic
    name: str
    units: tuple[str, ...]
    workers: int = 1  # threads for whole-data computations (the statistic's constant)
    weight: np.ndarray | None = field(init=False)
    constant: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.stat.check(self._used(self.counts), None if self.sigma is None else self._used(self.sigma), self.name)
        self.refresh()

    def _used(self, array: np.ndarray) -> np.ndarray:
        return array if self.mask is None else array[np.broadcast_to(self.mask, array.shape)]

    def refresh(self) -> None:
        """Recompute the statistic's per-pixel weights and data-only constant."""
        n = self.flat
        mask = None if self.mask is None else self.mask.reshape(self.mask.shape[0], -1)
        sigma = None if self.sigma is None else self.sigma.reshape(self.sigma.shape[0], -1)
        self.weight = self.stat.weights(n, sigma, mask)
        self.constant = self.stat.constant(n, self.weight, self.workers)

    def set_stat(self, stat: Statistic, sigma: np.ndarray | None) -> None:
        """Change the statistic (and sigma for chi2 with given errors), re-checking the data."""
        if sigma is not None:
            sigma = np.asarray(sigma, dtype=float).reshape(self.counts.shape)
        stat.check(self._used(self.counts), None if sigma is None else self._used(sigma), self.name)
        self.stat, self.sigma = stat, sigma
        self.refresh()

    @property
    def n_items(self) -> int:
        """Number of items on the batch axis."""
        return self.counts.shape[0]

    @property
    def flat(self) -> np.ndarray:
        """Counts as (items, pixels)."""
        return self.counts.reshape(self.n_items, -1)

    def n_used(self) -> np.ndarray:
        """Pixels that enter the statistic, per item."""
        if self.mask is None:
            return np.full(self.n_items, int(np.prod(self.counts.shape[1:])))
        return np.broadcast_to(self.mask, self.counts.shape).reshape(self.n_items, -1).sum(axis=1)


def _int_tuple(value: int | Sequence[int], ndim: int, what: str) -> tuple[int, ...]:
    """An int per axis (x first) from one int or a sequence."""
    values = (value,) * ndim if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != ndim or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in values):
        raise DataError(f"{what} must be a positive integer or {ndim} of them (x first), got {value!r}")
    return tuple(int(v) for v in values)


def build(
    array: np.ndarray,
    pixel: Sequence[float],
    offset: Sequence[float],
    units: Sequence[str],
    *,
    name: str,
    stat: Statistic,
    roi: Sequence[slice] | None = None,
    mask: np.ndarray | None = None,
    sigma: np.ndarray | None = None,
    positions: np.ndarray | None = None,
    size: int | Sequence[int] = 7,
    batch_axes: int | Sequence[int] | None = None,
    workers: int = 1,
) -> DataSet:
    """Cut a data set out of an array (numpy order; pixel/offset/units x first) as asked."""
    array = np.asarray(array)
    if array.ndim == 0 or array.size == 0:
        raise DataError(f"{name}: data must be a non-empty array with at least one axis, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise DataError(f"{name}: data must be real numbers, got dtype {array.dtype}")
    array = np.asarray(array, dtype=float)  # no copy of float data: the session's log already holds a private one
    extras = {"mask": mask, "sigma": sigma}
    for key, extra in extras.items():
        if extra is not None:
            extra = np.asarray(extra, dtype=bool if key == "mask" else float)
            if extra.shape != array.shape:
                raise DataError(f"{name}: {key} must have the data's shape {array.shape}, got {extra.shape}")
            extras[key] = extra
    ndim = array.ndim
    pixel = tuple(float(p) for p in pixel)
    offset = tuple(float(o) for o in offset)
    if len(pixel) != ndim or len(offset) != ndim or not all(np.isfinite(pixel)) or 0.0 in pixel:
        raise DataError(f"{name}: need {ndim} finite non-zero pixel sizes and offsets, got {pixel} and {offset}")
    chosen = [x is not None for x in (roi, positions, batch_axes)]
    if sum(chosen) > 1:
        raise DataError(f"{name}: give at most one of roi, positions and batch_axes")

    def axis_coords(i: int, start: np.ndarray, length: int) -> np.ndarray:
        return offset[i] + (start[:, None] + np.arange(length)[None, :] + 0.5) * pixel[i]

    if batch_axes is not None:
        axes = (batch_axes,) if isinstance(batch_axes, (int, np.integer)) else tuple(batch_axes)
        if not axes or len(set(axes)) != len(axes) or not all(isinstance(a, (int, np.integer)) and 0 <= a < ndim for a in axes) or len(axes) >= ndim:
            raise DataError(f"{name}: batch_axes must be distinct numpy axes in 0..{ndim - 1}, leaving at least one axis to fit; got {batch_axes!r}")
        keep = [a for a in range(ndim) if a not in axes]

        def cut(x: np.ndarray) -> np.ndarray:
            moved = np.moveaxis(x, list(axes), list(range(len(axes))))
            return moved.reshape((-1,) + tuple(x.shape[a] for a in keep))

        xfirst = [ndim - 1 - a for a in reversed(keep)]
        grid_axes = tuple(axis_coords(i, np.zeros(1), array.shape[ndim - 1 - i]) for i in xfirst)
        grid = Grid(grid_axes, tuple(pixel[i] for i in xfirst))
        unit_list = tuple(units[i] for i in xfirst)
        counts = cut(array)
        item_mask = None if extras["mask"] is None else cut(extras["mask"])
        item_sigma = None if extras["sigma"] is None else cut(extras["sigma"])
    elif positions is not None:
        pos = np.asarray(positions, dtype=float)
        if pos.ndim != 2 or pos.shape[1] != ndim or pos.shape[0] == 0 or not np.all(np.isfinite(pos)):
            raise DataError(f"{name}: positions must be a finite (N, {ndim}) array of pixel indices (x first), got shape {pos.shape}")
        sizes = _int_tuple(size, ndim, "ROI size")
        starts = [np.rint(pos[:, i]).astype(np.int64) - sizes[i] // 2 for i in range(ndim)]
        index, inside = [], np.ones((pos.shape[0],) + tuple(reversed(sizes)), dtype=bool)
        for a in range(ndim):  # numpy axis a <-> x-first axis i
            i = ndim - 1 - a
            shape = [pos.shape[0]] + [1] * ndim
            shape[a + 1] = sizes[i]
            idx = (starts[i][:, None] + np.arange(sizes[i])[None, :]).reshape(shape)
            inside &= (idx >= 0) & (idx < array.shape[a])
            index.append(np.clip(idx, 0, array.shape[a] - 1))

        def take(x: np.ndarray, fill: float | bool) -> np.ndarray:
            return np.where(inside, x[tuple(index)], fill)

        counts = take(array, 0.0)
        item_mask = inside if extras["mask"] is None else inside & take(extras["mask"], False)
        item_sigma = None if extras["sigma"] is None else take(extras["sigma"], 1.0)
        empty = ~item_mask.reshape(pos.shape[0], -1).any(axis=1)
        if np.any(empty):
            first = int(np.argmax(empty))
            raise DataError(f"{name}: the ROI around position {first} ({pos[first].tolist()}) holds no usable pixel (outside the image or masked)")
        grid = Grid(tuple(axis_coords(i, starts[i], sizes[i]) for i in range(ndim)), pixel)
        unit_list = tuple(units)
    else:
        slices = tuple(roi) if roi is not None else (slice(None),) * ndim
        if len(slices) != ndim or not all(isinstance(s, slice) for s in slices):
            raise DataError(f"{name}: roi must be a tuple of {ndim} slices in numpy order, got {roi!r}")
        ranges = [range(array.shape[a])[s] for a, s in enumerate(slices)]
        if any(len(r) == 0 for r in ranges):
            raise DataError(f"{name}: the region of interest {roi!r} selects no pixels of data shaped {array.shape}")
        if any(r.step != 1 for r in ranges):
            raise DataError(f"{name}: roi slices must have step 1, got {roi!r}")
        counts = array[slices][None]
        item_mask = None if extras["mask"] is None else extras["mask"][slices][None]
        item_sigma = None if extras["sigma"] is None else extras["sigma"][slices][None]
        grid = Grid(
            tuple(axis_coords(i, np.array([ranges[ndim - 1 - i].start]), len(ranges[ndim - 1 - i])) for i in range(ndim)),
            pixel,
        )
        unit_list = tuple(units)
    if item_mask is not None and not item_mask.any():
        raise DataError(f"{name}: the mask leaves no pixel to fit")
    if item_mask is not None and item_mask.all():
        item_mask = None
    return DataSet(np.ascontiguousarray(counts), item_mask, item_sigma, grid, stat, name, unit_list, workers)
