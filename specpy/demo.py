"""`specpy demo`: write a synthetic bead image to an .obf file and show what reads back.

This is the foundation's demo; the full simulated acquisition replaces it once the rig and the
application exist.
"""

from __future__ import annotations

import os

import numpy as np

from .info import stack_summary
from .obf import File
from .stack import Stack

PIXEL = 20e-9  # metres


def bead_image(seed: int = 1, size: int = 256, beads: int = 40) -> np.ndarray:
    """Photon counts of point-like beads under a Gaussian PSF (FWHM 250 nm), Poisson noise, background."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    sigma = 250e-9 / PIXEL / 2.3548
    expected = np.full((size, size), 2.0)
    for cx, cy, brightness in zip(rng.uniform(8, size - 8, beads), rng.uniform(8, size - 8, beads),
                                  rng.uniform(50, 200, beads)):
        expected += brightness * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return rng.poisson(expected).astype(np.uint16)


def run_demo(path: str | os.PathLike) -> int:
    """Write the demo stack (compressed) and print the summary and statistics of the stack read back."""
    image = bead_image()
    stack = Stack(image[np.newaxis])
    stack.set_name("beads (synthetic confocal)")
    stack.set_labels(["x", "y", "z"])
    stack.set_lengths([PIXEL * image.shape[1], PIXEL * image.shape[0], 1e-7])
    stack.set_offsets([0.0, 0.0, 0.0])
    for axis in range(3):
        stack.set_unit(axis, "m")
    stack.set_parameters("scan/dwell_time", 10e-6)
    with File(path, File.Write) as f:
        f.set_description("specpy demo: synthetic beads")
        f.write(stack, True)
    with File(path, File.Read) as f:
        back = f.read(0)
        print(f"wrote {os.fspath(path)} ({os.path.getsize(path)} bytes); read back:")
        print("\n".join(stack_summary(0, back)))
        data = back.data()
        same = bool(np.array_equal(data[0], image))
        print(f"    counts: min {data.min()}, mean {data.mean():.1f}, max {data.max()}; identical to what was written: {same}")
    return 0 if same else 1
