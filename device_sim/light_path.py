"""The shutter (illumination path) and the motorised emission filter wheel, driven by GPIO."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Shutter:
    """A solenoid shutter: follows its drive line unless stuck; its sensor reports the blade."""

    open: bool = False
    stuck: bool = False

    def drive(self, level: bool) -> None:
        """The firmware drives the solenoid; a stuck blade does not move."""
        if not self.stuck:
            self.open = bool(level)

    def transmission(self) -> float:
        """1 when open, 0 when closed."""
        return 1.0 if self.open else 0.0


@dataclass
class FilterWheel:
    """A stepper-driven wheel of filters; between positions the frame blocks the light."""

    transmissions: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.25, 0.1, 0.01, 0.0])
    steps_per_position: int = 8
    step: int = 3  # power-on: somewhere unknown, between positions
    jammed: bool = False

    @property
    def steps_per_turn(self) -> int:
        """Motor steps for one full turn."""
        return self.steps_per_position * len(self.transmissions)

    def pulse(self, forward: bool) -> None:
        """One motor step (a rising edge on STEP); a jammed wheel does not turn."""
        if not self.jammed:
            self.step = (self.step + (1 if forward else -1)) % self.steps_per_turn

    def index_sensor(self) -> bool:
        """The index flag: high at filter position 0 only."""
        return self.step == 0

    def position(self) -> int | None:
        """The filter in the beam (0-based), or None between positions."""
        index, rest = divmod(self.step, self.steps_per_position)
        return None if rest else index

    def transmission(self) -> float:
        """The transmission of the filter in the beam (0 between positions)."""
        position = self.position()
        return 0.0 if position is None else float(self.transmissions[position])
