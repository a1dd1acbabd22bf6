"""A CW laser: power setpoint and limit, emission on/off, interlock and warm-up delay."""

from __future__ import annotations

from dataclasses import dataclass

from device_sim.errors import DeviceError


@dataclass
class Laser:
    """One laser head; times are simulated seconds, powers are output powers in watts."""

    name: str
    wavelength: float
    max_power: float
    warmup: float = 2.0
    setpoint: float = 0.0
    enabled: bool = False
    interlock_closed: bool = True
    t_enabled: float = 0.0

    def set_power(self, watts: float) -> None:
        """Set the power setpoint; outside 0..max_power raises ValueError."""
        if not 0.0 <= watts <= self.max_power:
            raise ValueError(f"{self.name}: power {watts} W outside 0..{self.max_power} W")
        self.setpoint = float(watts)

    def enable(self, on: bool, now: float) -> None:
        """Switch emission on (after the warm-up delay) or off; on with the interlock open fails."""
        if on and not self.interlock_closed:
            raise DeviceError(f"{self.name}: interlock open")
        if on and not self.enabled:
            self.t_enabled = now
        self.enabled = bool(on)

    def set_interlock(self, closed: bool) -> None:
        """Close or open the interlock; opening it stops emission until enabled again."""
        self.interlock_closed = bool(closed)
        if not closed:
            self.enabled = False

    def warming_up(self, now: float) -> bool:
        """True between enabling and the end of the warm-up delay."""
        return self.enabled and now < self.t_enabled + self.warmup

    def output(self, now: float) -> float:
        """The emitted power in watts at simulated time `now`."""
        if not self.enabled or not self.interlock_closed or self.warming_up(now):
            return 0.0
        return self.setpoint

    def reset(self) -> None:
        """Power-on state: emission off, setpoint 0 (the interlock is wiring, not state)."""
        self.enabled = False
        self.setpoint = 0.0
