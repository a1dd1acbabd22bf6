"""The World: one simulated microscope (sample, optics, lasers, light path, stage, scanner,
detector) on one simulated clock, with the ground truth open to tests."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from device_sim.clock import Clock
from device_sim.detector import Detector
from device_sim.lasers import Laser
from device_sim.light_path import FilterWheel, Shutter
from device_sim.optics import Optics
from device_sim.sample import Sample
from device_sim.stage import Stage


@dataclass
class Raster:
    """A scan field in scanner coordinates (metres from the optical axis) and its pixel dwell."""

    nx: int = 64
    ny: int = 64
    pixel_x: float = 50e-9
    pixel_y: float = 50e-9
    offset_x: float = 0.0
    offset_y: float = 0.0
    dwell: float = 10e-6

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates (xs, ys), centred on the offsets."""
        xs = self.offset_x + (np.arange(self.nx) - (self.nx - 1) / 2) * self.pixel_x
        ys = self.offset_y + (np.arange(self.ny) - (self.ny - 1) / 2) * self.pixel_y
        return xs, ys

    @property
    def duration(self) -> float:
        """Simulated seconds for one frame (pixel clock = 1/dwell, no flyback)."""
        return self.nx * self.ny * self.dwell


@dataclass(frozen=True)
class Exposure:
    """What a scan sees: STED power (W), stage position (m), excitation (in units of p_ref) and filter
    transmission at its start, and the sample, optics and detector it images."""

    p_sted: float
    stage: tuple[float, float, float]
    excitation: float
    transmission: float
    sample: Sample
    optics: Optics
    detector: Detector

    def rate_rows(self, xs: np.ndarray, ys: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Photon rate at the detector (counts/s, before dead time) at xs x ys, band by band of rows:
        (first row, rows x nx)."""
        sx, sy, sz = self.stage
        scale = self.excitation * self.transmission
        background, dark = self.detector.background_rate, self.detector.dark_rate
        for start, rate in self.optics.rate_rows(self.sample, np.asarray(xs) + sx, np.asarray(ys) + sy, sz,
                                                 self.p_sted):
            rate += background
            rate *= scale
            rate += dark
            yield start, rate


def build(cls: type, table: dict[str, Any], where: str, **fixed: Any) -> Any:
    """A dataclass from a TOML table, refusing unknown keys (a typo must not pass silently)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise ValueError(f"unknown keys in [{where}]: {sorted(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) and k == "travel" else v for k, v in table.items()}
    return cls(**{**values, **fixed})


class World:
    """The simulated microscope. Instruments change it under `lock`; tests read `truth()`."""

    def __init__(self, sample: Sample | None = None, *, seed: int = 0, time_scale: float = 100.0,
                 optics: Optics | None = None, detector: Detector | None = None,
                 lasers: dict[str, Laser] | None = None, stage: Stage | None = None,
                 wheel: FilterWheel | None = None) -> None:
        """Assemble a World; every random draw comes from one generator seeded with `seed`."""
        self.lock = threading.RLock()
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.clock = Clock(time_scale)
        self.sample = sample if sample is not None else Sample.random(np.random.default_rng(seed))
        self.optics = optics or Optics()
        self.detector = detector or Detector()
        self.lasers = lasers or {
            "excitation": Laser("excitation", 640e-9, 0.1),
            "sted": Laser("sted", 775e-9, 1.0),
        }
        self.stage = stage or Stage()
        self.shutter = Shutter()
        self.wheel = wheel or FilterWheel()
        self.beam = (0.0, 0.0)  # where the scanner parks the beam, scanner coordinates (m)

    @classmethod
    def from_config(cls, table: dict[str, Any]) -> "World":
        """A World from a rig TOML's `[simulation]` table (every key optional)."""
        seed = int(table.get("seed", 0))
        sample = Sample.from_config(table.get("sample", {}), np.random.default_rng(seed))
        lasers_cfg = table.get("lasers", {})
        lasers = {
            "excitation": build(Laser, {"wavelength": 640e-9, "max_power": 0.1,
                                        **lasers_cfg.get("excitation", {})},
                                "simulation.lasers.excitation", name="excitation"),
            "sted": build(Laser, {"wavelength": 775e-9, "max_power": 1.0, **lasers_cfg.get("sted", {})},
                          "simulation.lasers.sted", name="sted"),
        }
        stage = Stage()
        for name, axis_cfg in table.get("stage", {}).items():
            if name not in stage.axes:
                raise ValueError(f"unknown stage axis [simulation.stage.{name}]")
            stage.axes[name] = build(type(stage.axes[name]), {**dataclasses.asdict(stage.axes[name]),
                                                                **axis_cfg}, f"simulation.stage.{name}")
        return cls(
            sample, seed=seed, time_scale=float(table.get("time_scale", 100.0)),
            optics=build(Optics, table.get("optics", {}), "simulation.optics"),
            detector=build(Detector, table.get("detector", {}), "simulation.detector"),
            lasers=lasers, stage=stage,
            wheel=build(FilterWheel, table.get("filter_wheel", {}), "simulation.filter_wheel"),
        )

    def powers(self, now: float) -> tuple[float, float]:
        """(excitation, STED) power reaching the sample: laser output through the shutter."""
        t = self.shutter.transmission()
        return self.lasers["excitation"].output(now) * t, self.lasers["sted"].output(now) * t

    def exposure(self, now: float | None = None) -> Exposure:
        """The light and the sample position a scan starting at `now` sees (a snapshot: later changes miss it)."""
        with self.lock:
            now = self.clock.now() if now is None else now
            p_exc, p_sted = self.powers(now)
            return Exposure(p_sted, self.stage.position(now), p_exc / self.optics.p_ref, self.wheel.transmission(),
                            self.sample, self.optics, self.detector)

    def true_rate(self, xs: np.ndarray, ys: np.ndarray, now: float | None = None) -> np.ndarray:
        """Photon rate at the detector (counts/s, before dead time) for beam positions xs x ys."""
        image = np.empty((len(ys), len(xs)))
        for start, band in self.exposure(now).rate_rows(xs, ys):
            image[start:start + len(band)] = band
        return image

    def frame(self, raster: Raster, now: float | None = None) -> np.ndarray:
        """One frame of counts, shape (ny, nx): the scan field imaged with Poisson noise."""
        out = np.empty((raster.ny, raster.nx), np.uint64)
        for _ in self.develop(self.exposure(now), raster, out):
            pass
        return out

    def develop(self, exposure: Exposure, raster: Raster, out: np.ndarray) -> Iterator[int]:
        """Count `raster` as seen under `exposure` into `out` (ny, nx, uint64), band by band of rows, drawing the
        noise from the World's generator; yields the number of rows done after each band (readers may use them).

        Bands also keep every temporary small enough to be reused: frame-sized ones went back to the kernel
        after each frame and cost ~2000 page faults per 512 x 512 frame (~4 ms) in the simulator process.
        """
        xs, ys = raster.axes()
        for start, rate in exposure.rate_rows(xs, ys):
            stop = start + len(rate)
            with self.lock:
                exposure.detector.count(rate, raster.dwell, self.rng, out[start:stop])
            yield stop

    def point_counts(self, samples: int, gate: float, now: float | None = None) -> np.ndarray:
        """`samples` gates of `gate` seconds each with the beam parked at `beam`."""
        rate = self.true_rate(np.array([self.beam[0]]), np.array([self.beam[1]]), now)[0, 0]
        with self.lock:
            return self.detector.count(np.full(samples, rate), gate, self.rng)

    def truth(self) -> dict[str, Any]:
        """The ground truth for tests: emitters, PSF, STED saturation, detector and light path."""
        with self.lock:
            return {
                "positions": self.sample.positions.copy(),
                "brightness": self.sample.brightness.copy(),
                "radius": self.sample.radius.copy(),
                "d0": self.optics.d0, "d0_axial": self.optics.d0_axial,
                "psat": self.optics.psat, "p_ref": self.optics.p_ref,
                "dark_rate": self.detector.dark_rate,
                "background_rate": self.detector.background_rate,
                "dead_time": self.detector.dead_time,
                "stage": self.stage.position(self.clock.now()),
                "shutter_open": self.shutter.open,
                "filter_position": self.wheel.position(),
                "transmissions": list(self.wheel.transmissions),
                "laser_output": {n: l.output(self.clock.now()) for n, l in self.lasers.items()},
            }
