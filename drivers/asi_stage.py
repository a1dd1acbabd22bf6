"""ASI MS-2000-style XYZ stage over serial: live positions in m, speeds in m/s, moves checked against the
controller's travel before anything is sent, busy polling, homing; ':N-<n>' refusals as DeviceError."""

from __future__ import annotations

import re
from typing import Any

from specpy.errors import ValidationError
from specpy.tree import Bool, Float, Int, Str

from .base import Driver
from .control import Control
from .errors import DeviceError, LimitSwitchHit
from .waiting import poll_until

AXES = ("x", "y", "z")
POSITION_UNIT = 1e-7  # the wire's positions are tenths of a micrometre
SPEED_UNIT = 1e-3  # speeds in mm/s
LIMIT_UNIT = 1e-3  # soft limits in mm
_ERR = re.compile(r":N-?(\d+)\s*\Z")
#: The MS-2000 error numbers (':N-<n>').
ERROR_TEXT = {1: "unknown command", 2: "unknown axis", 3: "missing parameter", 4: "value out of range",
              5: "operation failed (limit switch hit: home the axis)"}
#: Speed limits per axis in m/s (the controller does not report them; from the MS-2000 manual's defaults).
MAX_SPEED = {"x": 10e-3, "y": 10e-3, "z": 1e-3}


def _assigned(text: str) -> float:
    """The number of an 'X=2.000000' reply."""
    return float(text.partition("=")[2])


def _axis_controls() -> tuple[dict[str, Control], dict[str, Control]]:
    positions = {a: Control(Float(unit="m", read_only=True, description=f"{a} position"), get=f"WHERE {a.upper()}",
                            scale=POSITION_UNIT) for a in AXES}
    speeds = {a: Control(Float(unit="m/s", min=1e-9, max=MAX_SPEED[a], description=f"{a} speed"),
                         get=f"SPEED {a.upper()}?", set=f"SPEED {a.upper()}={{}}", parse=_assigned, scale=SPEED_UNIT)
              for a in AXES}
    return positions, speeds


_POSITIONS, _SPEEDS = _axis_controls()


class AsiStage(Driver):
    """An ASI MS-2000-style motorised XYZ stage (serial ASCII, ':A' / ':N-<n>' replies): moves, busy, homing."""

    RESOURCE_KINDS = ("serial",)
    IDENTIFY = "WHO"
    OPTIONS = {
        "read_termination": Str(default="\r\n", description="end of every reply line"),
        "write_termination": Str(default="\r", description="end of every command"),
        "baud_rate": Int(min=50, max=4_000_000, default=9600, description="serial ports only"),
        "move_timeout": Float(unit="s", min=0.001, max=3600.0, default=120.0, description="default wait for a move"),
    }
    PARAMETERS = {"speed": _SPEEDS}
    STATES = {"position": _POSITIONS, "busy": Control(Bool(read_only=True), get="STATUS", wire={True: "B", False: "N"})}

    def on_connect(self) -> None:
        """Read each axis's soft limits and make them the travel its moves are checked against."""
        self._travel: dict[str, tuple[float, float]] = {}
        self._targets: dict[str, Any] = {}
        for axis in AXES:
            low = _assigned(self.ask(f"SETLOW {axis.upper()}?", idempotent=True)) * LIMIT_UNIT
            high = _assigned(self.ask(f"SETUP {axis.upper()}?", idempotent=True)) * LIMIT_UNIT
            self._travel[axis] = (low, high)
            self.refine(f"position/{axis}", Float(unit="m", min=low, max=high, read_only=True,
                                                  description=f"{axis} position"))
            self._targets[axis] = Float(unit="m", min=low, max=high)
        self.refresh()

    def travel(self) -> dict[str, tuple[float, float]]:
        """Each axis's travel (low, high) in m, as the controller's soft limits were at connect."""
        return dict(self._travel)

    # -- the MS-2000 exchange: ':A [data]' on success, 'N'/'B' for STATUS, ':N-<n>' on error -----------------
    def _checked(self, command: str, reply: str) -> str:
        reply = reply.strip()
        match = _ERR.match(reply)
        if match:
            code = int(match.group(1))
            raise DeviceError(self.name, command, -code, f":N-{code} {ERROR_TEXT.get(code, 'error')}")
        return reply[2:].strip() if reply.startswith(":A") else reply

    def _query(self, command: str) -> str:
        return self._checked(command, self._io().query(command))

    def _command(self, command: str) -> None:
        reply = self._io().query(command)
        self._checked(command, reply)

    # -- moves ------------------------------------------------------------------------------------
    def _check_targets(self, targets: dict[str, Any]) -> dict[str, float]:
        """Every target checked against its axis's travel before anything is sent (ValidationError naming all)."""
        checked, problems = {}, []
        for axis, value in targets.items():
            try:
                checked[axis] = self._targets[axis].check(f"position/{axis}", value)
            except ValidationError as problem:
                problems.append(str(problem))
        if problems:
            raise ValidationError(f"{self.name}: move refused, nothing sent: " + "; ".join(problems))
        return checked

    def _move(self, word: str, targets: dict[str, float], wait: bool, timeout: float | None) -> None:
        command = word + " " + " ".join(f"{a.upper()}={v / POSITION_UNIT:.1f}" for a, v in targets.items())
        try:
            self.send(command)
        except DeviceError as error:
            if error.code == -5:
                axes = ", ".join(targets)
                raise LimitSwitchHit(self.name, command, error.code,
                                     f"limit switch hit on axis {axes} (or one of them): home it first") from error
            raise
        if wait:
            self.wait_until_idle(timeout)

    def move_to(self, x: Any = None, y: Any = None, z: Any = None, wait: bool = True,
                timeout: float | None = None) -> None:
        """Move the given axes to absolute positions (m); refused before sending if outside the travel."""
        targets = self._check_targets({a: v for a, v in zip(AXES, (x, y, z)) if v is not None})
        if targets:
            self._move("MOVE", targets, wait, timeout)

    def move_by(self, dx: Any = None, dy: Any = None, dz: Any = None, wait: bool = True,
                timeout: float | None = None) -> None:
        """Move the given axes by a distance (m) from where they are; the end points are checked first."""
        steps = {a: v for a, v in zip(AXES, (dx, dy, dz)) if v is not None}
        if not steps:
            return
        plain = {a: Float(unit="m").check(f"position/{a}", v) for a, v in steps.items()}
        here = dict(zip(AXES, self.position()))
        targets = self._check_targets({a: here[a] + d for a, d in plain.items()})
        self._move("MOVE", targets, wait, timeout)

    def home(self, wait: bool = True, timeout: float | None = None) -> None:
        """Drive every axis to its home switch (clears a limit trip)."""
        self.send("HOME X Y Z")
        if wait:
            self.wait_until_idle(timeout)

    def halt(self) -> None:
        """Stop every axis now."""
        self.send("HALT")

    def is_busy(self) -> bool:
        """Whether any axis is moving (a live reading)."""
        return bool(self.states.read("busy"))

    def wait_until_idle(self, timeout: float | None = None) -> None:
        """Block until no axis moves; WaitTimeout after `timeout` s (default: the move_timeout option)."""
        limit = self.options["move_timeout"] if timeout is None else timeout
        poll_until(self.name, "idle", lambda: (not self.is_busy(), "busy"), limit, interval=0.01)

    def position(self) -> tuple[float, float, float]:
        """(x, y, z) in m, read live in one exchange (and stored in the state tree)."""
        reply = self.ask("WHERE X Y Z", idempotent=True)
        values = tuple(float(v) * POSITION_UNIT for v in reply.split())
        if len(values) != 3:
            raise DeviceError(self.name, "WHERE X Y Z", None, f"expected three positions, got {reply!r}")
        for axis, value in zip(AXES, values):
            self.states.update(f"position/{axis}", value)
        return values  # type: ignore[return-value]
