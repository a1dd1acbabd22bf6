"""Synthetic stacks for the CLI tests: seeded Gaussian beads with pixel sizes in metres."""

from __future__ import annotations

import numpy as np
import pytest

from specpy import File, Stack

PIXEL = 25e-9  # m
FWHM = 200e-9  # m, of every synthetic bead
BEADS = 6


def bead_image(seed: int, size: int = 96, beads: int = BEADS) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts of `beads` Gaussian spots on a flat background; (image, true x-y positions in pixels)."""
    rng = np.random.default_rng(seed)
    grid = np.arange(size)
    centres = np.array([(16 + 32 * (i % 3) + rng.uniform(-2, 2), 24 + 48 * (i // 3) + rng.uniform(-2, 2))
                        for i in range(beads)])
    sigma = FWHM / PIXEL / (2 * np.sqrt(2 * np.log(2)))
    x, y = np.meshgrid(grid, grid)
    rate = np.full((size, size), 2.0)
    for cx, cy in centres:
        rate += 200.0 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return rng.poisson(rate).astype(np.uint16), centres


def physical_stack(data: np.ndarray, name: str) -> Stack:
    """A stack with x, y (and z, t) axes in metres / seconds, offsets and tags, as a microscope writes them."""
    stack = Stack(data)
    stack.set_name(name)
    rank = stack.number_of_dimensions()
    stack.set_labels(["x", "y", "z", "t"][:rank])
    for axis, (pixel, unit) in enumerate([(PIXEL, "m"), (PIXEL, "m"), (250e-9, "m"), (0.5, "s")][:rank]):
        stack.set_length(axis, pixel * stack.size(axis))
        stack.set_offset(axis, -pixel * stack.size(axis) / 2)
        stack.set_unit(axis, unit)
    stack.set_value_unit("")
    stack.set_tag("sample", "synthetic beads")
    return stack


@pytest.fixture
def bead_file(tmp_path):
    """An .obf file of two stacks: one bead frame (uint16, 2D) and a 4D float32 stack of two such frames."""
    frame, _ = bead_image(seed=7)
    frames = np.stack([bead_image(seed=8)[0], bead_image(seed=9)[0]]).astype(np.float32)[:, None]  # t, z, y, x
    path = tmp_path / "beads.obf"
    with File(path, File.Write) as f:
        f.write(physical_stack(frame, "confocal counts"))
        f.write(physical_stack(frames, "time series"))
    return path
