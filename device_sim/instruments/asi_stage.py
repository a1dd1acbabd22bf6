"""An XYZ stage controller speaking the ASI MS-2000 ASCII protocol (MOVE X=.. Y=.., WHERE X,
STATUS -> N|B, ":A" acknowledgements and ":N-<n>" errors)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from device_sim.commands import TABLES, CommandError
from device_sim.endpoint import Served
from device_sim.errors import DeviceError
from device_sim.faults import Faults
from device_sim.serial_server import SerialLineServer
from device_sim.world import World

EOL = b"\r\n"
ARG_KINDS = {"none", "axes", "assign", "assign_or_query"}


def load_table() -> dict:
    """tables/asi_stage.toml: command words and aliases, units, error replies."""
    with open(TABLES / "asi_stage.toml", "rb") as fh:
        table = tomllib.load(fh)
    for row in table["command"]:
        if row.get("args", "none") not in ARG_KINDS:
            raise ValueError(f"asi_stage.toml: bad args kind in {row}")
    return table


def split_word(text: str) -> tuple[str, str]:
    """The command word and the rest; the one-character commands / \\ ! need no blank."""
    if text[:1] in ("/", "\\", "!"):
        return text[0], text[1:]
    word, _, rest = text.partition(" ")
    return word, rest


class AsiStage(Served):
    """The World stage behind a pty; moves run in the background (poll STATUS for B/N)."""

    def __init__(self, world: World, link: Path, faults: Faults | None = None) -> None:
        """Serve the World's stage on a pty reached via `link`."""
        self.world = world
        self.table = load_table()
        self.words = {name.upper(): row for row in self.table["command"] for name in row["names"]}
        for row in self.table["command"]:
            if not callable(getattr(self, "cmd_" + row["handler"], None)):
                raise TypeError(f"AsiStage lacks cmd_{row['handler']}")
        self.server = SerialLineServer(link, self.process, faults, EOL)

    def process(self, raw: bytes) -> bytes | None:
        """Execute one command line; one reply line."""
        errors = self.table["errors"]
        try:
            word, rest = split_word(raw.decode("ascii").strip())
            row = self.words.get(word.upper())
            if row is None:
                raise CommandError("unknown_command", word)
            with self.world.lock:
                reply = getattr(self, "cmd_" + row["handler"])(self._args(row, rest.split()))
        except UnicodeDecodeError:
            reply = errors["unknown_command"]
        except CommandError as exc:
            reply = errors[exc.kind]
        except DeviceError:
            reply = errors["failed"]
        except Exception as exc:  # a handler bug is a failed operation, never a dead port
            print(f"device_sim: ASI stage: {exc!r}", file=sys.stderr)
            reply = errors["failed"]
        return reply.encode() + EOL

    def _args(self, row: dict, tokens: list[str]) -> dict[str, float | None]:
        """Parse X=1.5 / X? / X tokens into {axis: value or None}, per the row's args kind."""
        kind = row.get("args", "none")
        if kind == "none":
            return {}
        parsed: dict[str, float | None] = {}
        for token in tokens:
            axis, eq, value = token.partition("=")
            query = axis.endswith("?")
            axis = axis.rstrip("?").lower()
            if axis not in self.world.stage.axes:
                raise CommandError("bad_axis", token)
            if eq:
                if kind not in {"assign", "assign_or_query"}:
                    raise CommandError("bad_axis", token)
                try:
                    parsed[axis] = float(value)
                except ValueError:
                    raise CommandError("out_of_range", token) from None
                if parsed[axis] != parsed[axis] or abs(parsed[axis]) == float("inf"):
                    raise CommandError("out_of_range", token)
            elif query or kind == "axes":
                parsed[axis] = None
            else:
                raise CommandError("missing_parameter", token)
        if kind == "assign" and not parsed:
            raise CommandError("missing_parameter", row["names"][0])
        return parsed

    def _unit(self, name: str) -> float:
        return float(self.table["units"][name])

    def _now(self) -> float:
        return self.world.clock.now()

    def _axes(self, args: dict[str, float | None]) -> list[str]:
        return list(args) or list(self.world.stage.axes)

    def cmd_move(self, args: dict[str, float | None]) -> str:
        """MOVE X=<tenths of um> ...: absolute move of the named axes."""
        return self._move({a: v * self._unit("position") for a, v in args.items() if v is not None})

    def cmd_move_relative(self, args: dict[str, float | None]) -> str:
        """MOVREL X=<tenths of um> ...: relative move (from the current target)."""
        axes = self.world.stage.axes
        return self._move({a: axes[a].target + v * self._unit("position")
                           for a, v in args.items() if v is not None})

    def _move(self, targets: dict[str, float]) -> str:
        axes, now = self.world.stage.axes, self._now()
        for a, target in targets.items():  # check all axes before moving any
            if axes[a].limit_tripped:
                raise DeviceError(f"axis {a} at a limit switch")
            if not axes[a].low <= target <= axes[a].high:
                raise CommandError("out_of_range", f"{a}={target}")
        for a, target in targets.items():
            axes[a].move_to(target, now)
        return ":A"

    def cmd_where(self, args: dict[str, float | None]) -> str:
        """WHERE X Y: positions in tenths of um (all axes if none named)."""
        fmt, now, unit = self.table["formats"]["position"], self._now(), self._unit("position")
        axes = self.world.stage.axes
        return ":A " + " ".join(format(axes[a].position(now) / unit, fmt) for a in self._axes(args))

    def cmd_status(self, _: dict[str, float | None]) -> str:
        """STATUS or /: B while any axis moves, else N."""
        return "B" if self.world.stage.moving(self._now()) else "N"

    def cmd_speed(self, args: dict[str, float | None]) -> str:
        """SPEED X=<mm/s> or SPEED X?: axis speed."""
        return self._setting(args, "speed", lambda ax, v: ax.set_speed(v, self._now()))

    def cmd_low(self, args: dict[str, float | None]) -> str:
        """SETLOW X=<mm> or SETLOW X?: lower soft limit."""
        return self._setting(args, "limit", lambda ax, v: ax.set_limits(v, None), "low")

    def cmd_high(self, args: dict[str, float | None]) -> str:
        """SETUP X=<mm> or SETUP X?: upper soft limit."""
        return self._setting(args, "limit", lambda ax, v: ax.set_limits(None, v), "high")

    def _setting(self, args: dict[str, float | None], unit_name: str, setter, attr: str | None = None) -> str:
        axes, unit = self.world.stage.axes, self._unit(unit_name)
        if not args:
            raise CommandError("missing_parameter", "no axis")
        if any(v is None for v in args.values()):
            fmt = self.table["formats"][unit_name]
            return ":A " + " ".join(f"{a.upper()}={format(getattr(axes[a], attr or unit_name) / unit, fmt)}"
                                    for a in args)
        try:
            for a, v in args.items():
                setter(axes[a], v * unit)
        except ValueError as exc:
            raise CommandError("out_of_range", str(exc)) from None
        return ":A"

    def cmd_home(self, args: dict[str, float | None]) -> str:
        """HOME X Y or !: drive the axes to their home switch (clears a limit trip)."""
        for a in self._axes(args):
            self.world.stage.axes[a].home(self._now())
        return ":A"

    def cmd_halt(self, _: dict[str, float | None]) -> str:
        """HALT or \\: stop every axis now."""
        for axis in self.world.stage.axes.values():
            axis.halt(self._now())
        return ":A"

    def cmd_who(self, _: dict[str, float | None]) -> str:
        """WHO: the controller's name."""
        return ":A " + self.table["instrument"]["who"]

    def device_error(self, kind: str, value: object = None) -> None:
        """"limit": the limit switch of axis `value` ("x", "y" or "z") fires."""
        if kind != "limit" or str(value).lower() not in self.world.stage.axes:
            super().device_error(kind, value)
        with self.world.lock:
            self.world.stage.axes[str(value).lower()].trip_limit(self.world.clock.now())
