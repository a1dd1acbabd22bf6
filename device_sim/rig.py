"""The simulated rig: one World and every instrument on its own endpoint, started and stopped
together (a context manager for tests and the application; `python -m device_sim` for people)."""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from device_sim.faults import Faults
from device_sim.firmware import ShutterWheelController
from device_sim.instruments.asi_stage import AsiStage
from device_sim.instruments.counter import Counter
from device_sim.instruments.obis_laser import ObisLaser
from device_sim.instruments.pixel_clock import PixelClock
from device_sim.instruments.scanner import Scanner
from device_sim.world import World

NAMES = ("excitation_laser", "sted_laser", "stage", "scanner", "counter", "shutter_wheel")
WIRE_FAULTS = {"latency", "drop", "garble", "drop_rate", "garble_rate"}


def load_config(config: dict[str, Any] | str | Path | None) -> dict[str, Any]:
    """A rig configuration: a dict as is, a path read as TOML, None as empty."""
    if config is None:
        return {}
    if isinstance(config, dict):
        return config
    with open(config, "rb") as fh:
        return tomllib.load(fh)


class Rig:
    """Every simulated instrument of one rig around one World.

    Serial devices appear as symlinks `<run_dir>/<name>` to their current pty; the run
    directory is temporary unless given. `firmware=False` leaves out the shutter/wheel
    controller (no C build), e.g. for tests that do not need it; `firmware_binary` uses an
    already built firmware instead of building into the cache.
    """

    def __init__(self, config: dict[str, Any] | str | Path | None = None, *,
                 world: World | None = None, run_dir: str | Path | None = None,
                 firmware: bool = True, firmware_binary: Path | None = None) -> None:
        """Read `[simulation]` of the rig config; nothing starts until start()."""
        self.config = load_config(config)
        simulation = self.config.get("simulation", {})
        self.world = world or World.from_config(simulation)
        self._fault_config: dict[str, dict[str, float]] = simulation.get("faults", {})
        unknown = set(self._fault_config) - set(NAMES)
        if unknown:
            raise ValueError(f"unknown instruments in [simulation.faults]: {sorted(unknown)}")
        self._given_run_dir = Path(run_dir) if run_dir else None
        self.run_dir: Path | None = None
        self.firmware = firmware
        self.firmware_binary = firmware_binary
        self.instruments: dict[str, Any] = {}

    def _build(self, run_dir: Path) -> dict[str, Any]:
        seed, world = self.world.seed, self.world
        faults = {n: Faults(seed=seed + i) for i, n in enumerate(NAMES)}
        pixel_clock = PixelClock()
        instruments: dict[str, Any] = {
            "excitation_laser": ObisLaser(world, "excitation", run_dir / "excitation_laser",
                                          "SIM-OBIS-0001", faults["excitation_laser"]),
            "sted_laser": ObisLaser(world, "sted", run_dir / "sted_laser", "SIM-OBIS-0002",
                                    faults["sted_laser"]),
            "stage": AsiStage(world, run_dir / "stage", faults["stage"]),
            "scanner": Scanner(world, pixel_clock, faults["scanner"]),
            "counter": Counter(world, pixel_clock, faults["counter"]),
        }
        if self.firmware:
            instruments["shutter_wheel"] = ShutterWheelController(world, run_dir / "shutter_wheel",
                                                                 self.firmware_binary)
        return instruments

    def start(self) -> "Rig":
        """Start every instrument (building the firmware if needed); stops all on failure."""
        if self._given_run_dir:
            self._given_run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = self._given_run_dir or Path(tempfile.mkdtemp(prefix="device_sim-"))
        self.instruments = self._build(self.run_dir)
        try:
            for name, instrument in self.instruments.items():
                instrument.start()
                wire = self._fault_config.get(name, {})
                if wire:
                    instrument.faults.set(**wire)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every instrument and remove a temporary run directory."""
        for instrument in reversed(list(self.instruments.values())):
            instrument.stop()
        self.instruments = {}
        if self.run_dir is not None and self._given_run_dir is None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir = None

    def __enter__(self) -> "Rig":
        """Start the rig."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the rig."""
        self.stop()

    def __getitem__(self, name: str) -> Any:
        """An instrument by name (see NAMES)."""
        return self.instruments[name]

    def addresses(self) -> dict[str, dict[str, str]]:
        """Each instrument's VISA resource string, and for serial ones the path and the pty."""
        out: dict[str, dict[str, str]] = {}
        for name, instrument in self.instruments.items():
            entry = {"resource": instrument.address}
            if instrument.pty is not None:
                entry.update(path=str(instrument.pty.link), device=instrument.pty.device)
            out[name] = entry
        return out

    def inject(self, name: str, kind: str, value: Any = None) -> None:
        """Inject a fault into one instrument: a wire fault (latency s, drop n, garble n,
        drop_rate, garble_rate; "clear"), "unplug", "replug", or a device error ("interlock",
        "limit", "stuck_shutter", "jam_wheel"; "error" n on SCPI instruments)."""
        instrument = self.instruments[name]
        if kind in WIRE_FAULTS:
            instrument.faults.set(**{kind: float(value)})
        elif kind == "clear":
            instrument.faults.clear()
        elif kind == "unplug":
            instrument.unplug()
        elif kind == "replug":
            instrument.replug()
        else:
            instrument.device_error(kind, value)
