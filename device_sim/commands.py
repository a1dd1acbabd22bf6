"""Command tables as data: SCPI-style headers (long/short forms, optional nodes) mapped to
handler names and argument specs, loaded from TOML and dispatched to an instrument object."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_sim.streamed import Streamed

TABLES = Path(__file__).parent / "tables"
FORMAT_SPEC = re.compile(r"^[0-9.]*[gGfFeEdxX]$")
NAMED_FORMATS = {"text", "onoff", "data", "bool"}
TYPES = {"none", "float", "int", "bool", "choice"}


class CommandError(Exception):
    """A command failed; `kind` names the error class that each protocol maps to its own code."""

    def __init__(self, kind: str, detail: str = "") -> None:
        """Keep the kind (e.g. "undefined_header", "out_of_range") and a human-readable detail."""
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def short_form(mnemonic: str) -> str:
    """The SCPI short form: the leading upper-case letters and digits ("SOURce" -> "SOUR")."""
    match = re.match(r"[A-Z0-9*]+", mnemonic)
    return match.group(0) if match else mnemonic.upper()


def mnemonic_regex(mnemonic: str) -> str:
    """A regex alternative matching the short or the long form of one mnemonic."""
    forms = sorted({short_form(mnemonic), mnemonic.upper()}, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(f) for f in forms) + ")"


def header_regex(pattern: str) -> re.Pattern[str]:
    """Compile a header pattern like "SYSTem:ERRor[:NEXT]" or "[SENSe:]GATE:TIME"."""
    nodes = [(m.group(2), bool(m.group(1))) for m in re.finditer(r"(\[)?:?([*A-Za-z0-9]+):?\]?", pattern)]
    if not nodes:
        raise ValueError(f"empty header pattern {pattern!r}")
    regex, leading = "", True
    for name, optional in nodes:
        node = mnemonic_regex(name)
        if leading and optional:
            regex += f"(?:{node}:)?"
        elif leading:
            regex += node
            leading = False
        else:
            regex += f"(?::{node})?" if optional else f":{node}"
    return re.compile(f"^:?{regex}$", re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    """One table row: a header, the set and query handler names, and the argument spec."""

    header: str
    regex: re.Pattern[str]
    set: str | None
    query: str | None
    field: str | None
    type: str
    minimum: float | None
    maximum: float | None
    default: Any
    choices: tuple[str, ...]
    format: str
    unit: str

    def convert(self, args: list[str]) -> Any:
        """The typed argument of a set command, checked against the spec (or None for "none")."""
        if self.type == "none":
            if args:
                raise CommandError("parameter_not_allowed", f"{self.header} takes no parameter")
            return None
        if not args or args[0] == "":
            raise CommandError("missing_parameter", f"{self.header} needs a parameter")
        if len(args) > 1:
            raise CommandError("parameter_not_allowed", f"{self.header} takes one parameter")
        text = args[0].strip()
        if self.type == "bool":
            value = {"ON": True, "1": True, "OFF": False, "0": False}.get(text.upper())
            if value is None:
                raise CommandError("illegal_value", f"{text!r} is not ON|OFF|1|0")
            return value
        if self.type == "choice":
            for choice in self.choices:
                if text.upper() in {short_form(choice), choice.upper()}:
                    return choice.upper()
            raise CommandError("illegal_value", f"{text!r} not one of {', '.join(self.choices)}")
        return self._number(text)

    def _number(self, text: str) -> float | int:
        keyword = {"MIN": self.minimum, "MINIMUM": self.minimum, "MAX": self.maximum,
                   "MAXIMUM": self.maximum, "DEF": self.default, "DEFAULT": self.default}
        if text.upper() in keyword:
            value = keyword[text.upper()]
            if value is None:
                raise CommandError("illegal_value", f"{self.header} has no {text.upper()}")
        else:
            try:
                value = float(text)
            except ValueError:
                raise CommandError("data_type", f"{text!r} is not a number") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise CommandError("data_type", f"{text!r} is not a finite number")
        if self.type == "int":
            if value != int(value):
                raise CommandError("data_type", f"{text!r} is not an integer")
            value = int(value)
        lo, hi = self.minimum, self.maximum
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise CommandError("out_of_range", f"{self.header} {value} outside {lo}..{hi} {self.unit}")
        return value

    def render(self, value: Any) -> str | bytes | Streamed:
        """A query result as reply text (or raw bytes, maybe streamed, for a binary block)."""
        if self.format == "data":  # bytes go out as a definite-length block, text as is
            if isinstance(value, (bytes, Streamed)):
                return value
            return bytes(value) if isinstance(value, bytearray) else str(value)
        if self.format == "onoff":
            return "ON" if value else "OFF"
        if self.format == "bool":
            return "1" if value else "0"
        if self.format == "text":
            return str(value)
        return format(value, self.format)


def command_from_row(row: dict[str, Any], where: str) -> Command:
    """Validate one `[[command]]` row of a table."""
    known = {"header", "set", "query", "field", "type", "min", "max", "default", "choices", "format",
             "unit"}
    unknown = set(row) - known
    if unknown or "header" not in row:
        raise ValueError(f"{where}: bad command row {row!r} (unknown {sorted(unknown)})")
    kind = row.get("type", "none")
    fmt = row.get("format", "text")
    if kind not in TYPES or not (fmt in NAMED_FORMATS or FORMAT_SPEC.match(fmt)):
        raise ValueError(f"{where}: {row['header']}: bad type {kind!r} or format {fmt!r}")
    if not (row.get("set") or row.get("query") or row.get("field")):
        raise ValueError(f"{where}: {row['header']} has no set, query or field")
    field = row.get("field")
    return Command(row["header"], header_regex(row["header"]), row.get("set") or field,
                   row.get("query") or field, field,
                   kind, row.get("min"), row.get("max"), row.get("default"),
                   tuple(row.get("choices", ())), fmt, row.get("unit", ""))


class CommandTable:
    """An ordered list of commands (first match wins) plus the table's other sections."""

    def __init__(self, commands: list[Command], sections: dict[str, Any]) -> None:
        """Keep the commands and the extra sections (identity, error codes, status bits, ...)."""
        self.commands = commands
        self.sections = sections

    @classmethod
    def load(cls, *names: str) -> "CommandTable":
        """Load and merge tables/<name>.toml files in order (e.g. "scpi_common", "scanner")."""
        commands: list[Command] = []
        sections: dict[str, Any] = {}
        for name in names:
            path = TABLES / f"{name}.toml"
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
            commands += [command_from_row(r, str(path)) for r in data.pop("command", [])]
            for key, value in data.items():
                sections.setdefault(key, {}).update(value)
        return cls(commands, sections)

    def match(self, header: str) -> Command | None:
        """The first command whose header pattern matches `header` (without the "?")."""
        for command in self.commands:
            if command.regex.match(header):
                return command
        return None

    def check_handlers(self, target: object) -> None:
        """Fail at start-up if a row names a handler or field that `target` does not have."""
        for c in self.commands:
            if c.field:
                if not hasattr(getattr(target, "settings", None), c.field):
                    raise TypeError(f"{type(target).__name__}.settings lacks {c.field} for {c.header}")
                continue
            for prefix, name in (("do_", c.set), ("q_", c.query)):
                if name and not callable(getattr(target, prefix + name, None)):
                    raise TypeError(f"{type(target).__name__} lacks {prefix}{name} for {c.header}")


@dataclass(frozen=True)
class Unit:
    """One program message unit: a header, its arguments, and whether it is a query."""

    header: str
    args: list[str]
    query: bool


def split_units(line: str) -> list[Unit]:
    """Split a message at ";" into units; the header ends at the first blank, args split at ","."""
    units = []
    for part in line.split(";"):
        part = part.strip()
        if not part:
            continue
        head, _, rest = part.partition(" ")
        if not re.fullmatch(r"[*:A-Za-z0-9\[\]]+\??", head):
            raise CommandError("syntax", f"bad header {head[:40]!r}")
        query = head.endswith("?")
        args = [a.strip() for a in rest.split(",")] if rest.strip() else []
        units.append(Unit(head.rstrip("?"), args, query))
    return units


def dispatch(table: CommandTable, target: Any, unit: Unit) -> Any:
    """Run one unit against `target`: q_<name>() for queries, do_<name>(value) for settings;
    `field` rows read target.settings.<field> and write it through target.write_field().

    Handlers raise ValueError for out-of-range values and CommandError for anything else.
    """
    command = table.match(unit.header)
    if command is None or (command.query if unit.query else command.set) is None:
        raise CommandError("undefined_header", f"{unit.header}{'?' if unit.query else ''}")
    try:
        if unit.query:
            if unit.args:
                raise CommandError("parameter_not_allowed", f"{unit.header}? takes no parameter")
            if command.field:
                return command.render(getattr(target.settings, command.field))
            return command.render(getattr(target, "q_" + command.query)())
        value = command.convert(unit.args)
        if command.field:
            target.write_field(command.field, value)
        else:
            getattr(target, "do_" + command.set)(value)
        return None
    except ValueError as exc:
        raise CommandError("out_of_range", str(exc)) from None
