"""A motorised XYZ stage: finite speed per axis, soft limits inside the travel, homing, limit trips."""

from __future__ import annotations

from dataclasses import dataclass, field

from device_sim.errors import DeviceError


@dataclass
class Axis:
    """One linear axis; positions in metres, speed in m/s, times in simulated seconds."""

    name: str
    travel: tuple[float, float] = (-10e-3, 10e-3)
    speed: float = 2e-3
    max_speed: float = 10e-3
    low: float = -10e-3
    high: float = 10e-3
    start: float = 0.0
    target: float = 0.0
    t_start: float = 0.0
    home_at: float | None = None  # when the homing move ends (None: never homed)
    limit_tripped: bool = False

    def position(self, now: float) -> float:
        """Where the axis is at `now`: moving linearly from start to target at its speed."""
        distance = self.target - self.start
        if distance == 0.0:
            return self.target
        done = (now - self.t_start) * self.speed
        if done >= abs(distance):
            return self.target
        return self.start + done * (1.0 if distance > 0 else -1.0)

    def moving(self, now: float) -> bool:
        """True until the axis reaches its target."""
        return self.position(now) != self.target

    def homed(self, now: float) -> bool:
        """True once a homing move has reached the home switch."""
        return self.home_at is not None and now >= self.home_at

    def _go(self, target: float, now: float) -> None:
        if self.home_at is not None and now < self.home_at:
            self.home_at = None  # a homing move interrupted: not homed
        self.start = self.position(now)
        self.target = float(target)
        self.t_start = now

    def _arrival(self) -> float:
        return self.t_start + abs(self.target - self.start) / self.speed

    def move_to(self, target: float, now: float) -> None:
        """Start a move to `target`; a tripped limit or a target beyond the soft limits fails."""
        if self.limit_tripped:
            raise DeviceError(f"axis {self.name}: limit switch hit, home the axis first")
        if not self.low <= target <= self.high:
            raise ValueError(f"axis {self.name}: {target} m outside {self.low}..{self.high} m")
        self._go(target, now)

    def halt(self, now: float) -> None:
        """Stop where the axis is now."""
        self._go(self.position(now), now)

    def home(self, now: float) -> None:
        """Drive to the home switch at 0 (clears a limit trip); the axis is homed on arrival."""
        self.limit_tripped = False
        self._go(0.0, now)
        self.home_at = self._arrival()

    def trip_limit(self, now: float) -> None:
        """A limit switch fires: the axis stops and refuses moves until homed."""
        self.halt(now)
        self.limit_tripped = True

    def set_speed(self, speed: float, now: float) -> None:
        """Change the speed (0 < speed <= max_speed); a move in progress continues at the new speed."""
        if not 0.0 < speed <= self.max_speed:
            raise ValueError(f"axis {self.name}: speed {speed} m/s outside (0, {self.max_speed}]")
        homing = self.home_at is not None and now < self.home_at
        self._go(self.target, now)  # restart from here so the new speed applies from now on
        self.speed = float(speed)
        if homing:
            self.home_at = self._arrival()

    def set_limits(self, low: float | None, high: float | None) -> None:
        """Set the soft limits, which must lie inside the mechanical travel."""
        low = self.low if low is None else float(low)
        high = self.high if high is None else float(high)
        if not self.travel[0] <= low < high <= self.travel[1]:
            raise ValueError(f"axis {self.name}: limits {low}..{high} m outside travel {self.travel}")
        self.low, self.high = low, high


@dataclass
class Stage:
    """Three axes x, y, z; the sample moves with the stage, z places the focal plane in the sample."""

    axes: dict[str, Axis] = field(default_factory=lambda: {
        "x": Axis("x"), "y": Axis("y"),
        "z": Axis("z", travel=(-1e-3, 1e-3), speed=0.2e-3, max_speed=1e-3, low=-1e-3, high=1e-3),
    })

    def position(self, now: float) -> tuple[float, float, float]:
        """(x, y, z) in metres at `now`."""
        return tuple(self.axes[a].position(now) for a in "xyz")  # type: ignore[return-value]

    def moving(self, now: float) -> bool:
        """True while any axis moves."""
        return any(axis.moving(now) for axis in self.axes.values())
