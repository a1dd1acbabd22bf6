"""Per-worker scratch buffers: a batch fit's hot loop reuses them instead of allocating per chunk.

A fresh array of a chunk's size is page-faulted in on first use, which on a virtual machine costs
about as much as the arithmetic on it; a worker thread keeps one buffer per purpose, sized for its
largest chunk, and hands out views of it.
"""

from __future__ import annotations

import math

import numpy as np


class Scratch:
    """Named float buffers of one worker thread, grown on demand and reused for every chunk."""

    def __init__(self) -> None:
        self._buffers: dict[object, np.ndarray] = {}

    def get(self, key: object, shape: tuple[int, ...]) -> np.ndarray:
        """A contiguous float view shaped `shape` of the buffer `key` (its contents are left over from earlier use)."""
        size = math.prod(shape)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[key] = np.empty(size)
        return buffer[:size].reshape(shape)

    def columns(self, key: object, rows: np.ndarray, items: np.ndarray | slice) -> np.ndarray:
        """Rows `items` of an (items, values) array as (values, n) columns: the items-last layout of a chunk."""
        if not isinstance(items, slice):  # gather the rows first: a gather along the strided axis is slow
            picked = np.take(rows, items, axis=0, out=self.get((key, "rows"), (items.size, rows.shape[1])))
            rows, items = picked, slice(None)
        source = rows[items].T
        out = self.get(key, source.shape)
        np.copyto(out, source)
        return out
