"""The sample: point emitters and beads in 3D with known positions, sizes and brightness."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sample:
    """Emitters in sample coordinates (metres); brightness is the detected rate (counts/s) of an
    emitter centred in the confocal focus at the reference excitation power, with the filter open."""

    positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    brightness: np.ndarray = field(default_factory=lambda: np.zeros(0))
    radius: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        """Normalise to float arrays and check that the three arrays agree."""
        self.positions = np.asarray(self.positions, dtype=float).reshape(-1, 3)
        n = len(self.positions)
        self.brightness = np.broadcast_to(np.asarray(self.brightness, dtype=float), (n,)).copy()
        self.radius = np.broadcast_to(np.asarray(self.radius, dtype=float), (n,)).copy()
        if np.any(self.brightness < 0) or np.any(self.radius < 0):
            raise ValueError("brightness and radius must be >= 0")

    def __len__(self) -> int:
        """The number of emitters (point emitters and beads)."""
        return len(self.positions)

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        *,
        emitters: int = 200,
        beads: int = 20,
        extent: tuple[float, float, float] = (20e-6, 20e-6, 0.0),
        emitter_brightness: float = 2e5,
        bead_brightness: float = 2e6,
        bead_radius: float = 20e-9,
        brightness_spread: float = 0.2,
    ) -> "Sample":
        """A seeded random sample: emitters and beads spread uniformly over `extent` around 0."""
        n = emitters + beads
        half = np.asarray(extent, dtype=float) / 2
        positions = rng.uniform(-half, half, size=(n, 3))
        mean = np.r_[np.full(emitters, emitter_brightness), np.full(beads, bead_brightness)]
        spread = rng.lognormal(0.0, brightness_spread, n) if brightness_spread > 0 else np.ones(n)
        radius = np.r_[np.zeros(emitters), np.full(beads, bead_radius)]
        return cls(positions, mean * spread, radius)

    @classmethod
    def from_config(cls, table: dict[str, Any], rng: np.random.Generator) -> "Sample":
        """A sample from a rig TOML `[simulation.sample]` table (explicit `emitter` rows or random)."""
        rows = table.get("emitter", [])
        if rows:
            return cls(
                [[r.get("x", 0.0), r.get("y", 0.0), r.get("z", 0.0)] for r in rows],
                [r["brightness"] for r in rows],
                [r.get("radius", 0.0) for r in rows],
            )
        keys = ("emitters", "beads", "emitter_brightness", "bead_brightness", "bead_radius",
                "brightness_spread")
        kwargs: dict[str, Any] = {k: table[k] for k in keys if k in table}
        if "extent" in table:
            kwargs["extent"] = tuple(table["extent"])
        unknown = set(table) - set(keys) - {"extent", "emitter"}
        if unknown:
            raise ValueError(f"unknown [simulation.sample] keys: {sorted(unknown)}")
        return cls.random(rng, **kwargs)
