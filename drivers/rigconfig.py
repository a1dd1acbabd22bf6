"""Rig configuration in TOML: every device with its driver, resource and options, checked all at once.

    [rig]
    name = "sted-1"

    [devices.laser]
    driver = "scpi"                              # entry-point name or dotted path
    resource = "TCPIP::192.168.1.5::5025::SOCKET"
    options = { timeout = "500 ms" }
    role = "sted_laser"                          # what the acquisition engine uses it as (default: its name)
    simulator = "sted_laser"                     # the simulated instrument it is when simulated (default: its name)

With `simulated = true` under [rig], drivers.rig starts the simulator (which reads [simulation]) and
points every device at its simulated instrument; resources may then be left out. Loading reports every
problem in one RigConfigError, each with its line and key in the file.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from specpy.errors import Error, ValidationError
from specpy.tree.paths import closest

from .base import Driver
from .registry import DriverNotFound, load_driver

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_TOP_KEYS = {
    "rig": "the rig's name and description", "devices": "one table per device",
    "simulation": "the simulator's settings (read by device_sim when simulated = true)",
}
_RIG_KEYS = ("name", "description", "simulated")
_DEVICE_KEYS = ("driver", "resource", "options", "description", "role", "simulator")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rig file: where (line, key) and what."""

    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where} [{self.key}]: {self.message}" if self.key else f"{where}: {self.message}"


class RigConfigError(Error, ValueError):
    """A rig file with problems; `problems` lists every one of them."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source, self.problems = source, problems
        listing = "\n".join(f"  {source}: {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the rig configuration:\n{listing}")


@dataclass(frozen=True)
class DeviceConfig:
    """One checked device: its name, driver class, resource and options (defaults filled in), role and simulator.

    `resource` is None only in a simulated rig that leaves it out; `line` is where its table starts.
    """

    name: str
    driver: type[Driver]
    resource: str | None
    options: dict[str, Any]
    description: str = ""
    role: str = ""
    simulator: str = ""
    line: int | None = None

    def create(self, resource: str | None = None) -> Driver:
        """The driver object for this device (at `resource` if given, else its own), not yet connected."""
        where = resource or self.resource
        if where is None:
            raise RigConfigError("<rig>", [Problem(self.line, f"devices.{self.name}.resource", "no resource given")])
        return self.driver(where, name=self.name, **self.options)


@dataclass(frozen=True)
class RigConfig:
    """A checked rig: its name and devices in file order; simulated or not, with the file it came from."""

    name: str
    devices: dict[str, DeviceConfig] = field(default_factory=dict)
    description: str = ""
    simulated: bool = False
    source: str = "<rig>"
    text: str = ""


class _Locator:
    """Finds the line of a dotted key in TOML text: table headers, key = value lines, inline tables."""

    _HEADER = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?\Z")
    _PART = r"(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')"  # a bare or quoted key
    _KEY = re.compile(rf"\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")

    def __init__(self, text: str):
        self.lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), 1):
            header = self._HEADER.match(line)
            if header and not line.lstrip().startswith("[["):
                table = self._split(header.group(1))
                self.lines.setdefault(table, number)
                continue
            key = self._KEY.match(line)
            if key:
                self.lines.setdefault(table + self._split(key.group(1)), number)

    @staticmethod
    def _split(dotted: str) -> tuple[str, ...]:
        parts = re.findall(r"\"[^\"]*\"|'[^']*'|[^.\s]+", dotted)
        return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)

    def line(self, key: tuple[str, ...]) -> int | None:
        """The line of `key`, or of its nearest enclosing key that has one (inline tables)."""
        for end in range(len(key), 0, -1):
            if key[:end] in self.lines:
                return self.lines[key[:end]]
        return None


class _Checker:
    """Walks a parsed rig file, collecting every problem with its location."""

    def __init__(self, text: str):
        self.locate = _Locator(text)
        self.problems: list[Problem] = []

    def problem(self, key: tuple[str, ...], message: str) -> None:
        self.problems.append(Problem(self.locate.line(key), ".".join(key), message))

    def unknown_keys(
        self, table: Mapping[str, Any], allowed: Mapping[str, str] | tuple[str, ...], where: tuple[str, ...]
    ) -> None:
        for key in table:
            if key not in allowed:
                near = closest(key, list(allowed))
                hint = f"did you mean {near[0]!r}? " if near else ""
                self.problem((*where, key), f"unknown key; {hint}allowed: {', '.join(allowed)}")

    def text(self, table: Mapping[str, Any], key: str, where: tuple[str, ...], required: bool) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                self.problem(where, f"{key!r} is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem((*where, key), f"must be a non-empty string, not {value!r}")
            return None
        return value

    def device(self, name: str, table: Any, simulated: bool = False) -> DeviceConfig | None:
        where = ("devices", name)
        if not _NAME.match(name):
            self.problem(where, "a device name starts with a letter or '_' and holds only letters, digits, '_', '-'")
        if not isinstance(table, Mapping):
            self.problem(where, "must be a table with driver, resource and options")
            return None
        self.unknown_keys(table, _DEVICE_KEYS, where)
        spec = self.text(table, "driver", where, True)
        resource = self.text(table, "resource", where, not simulated)
        description = self.text(table, "description", where, False) or ""
        role = self.text(table, "role", where, False) or name
        simulator = self.text(table, "simulator", where, False) or name
        options = table.get("options", {})
        if not isinstance(options, Mapping):
            self.problem((*where, "options"), f"must be a table, not {options!r}")
            options = {}
        driver: type[Driver] | None = None
        if spec is not None:
            try:
                driver = load_driver(spec)
            except DriverNotFound as error:
                self.problem((*where, "driver"), str(error))
        if driver is None:
            return None
        resource_ok = True
        if resource is not None:
            try:
                driver.check_resource(resource)
            except ValidationError as error:
                self.problem((*where, "resource"), str(error))
                resource_ok = False
        values, problems = driver.check_options(options)
        for error in problems:
            self.problem((*where, "options", getattr(error, "path", "")), str(error))
        if not resource_ok or (resource is None and not simulated) or problems:
            return None
        return DeviceConfig(name, driver, resource, values, description, role, simulator, self.locate.line(where))


def parse_rig(text: str, source: str = "<rig>") -> RigConfig:
    """Check a rig configuration given as TOML text; RigConfigError lists every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RigConfigError(source, [Problem(None, "", f"not valid TOML: {error}")]) from None
    check = _Checker(text)
    check.unknown_keys(data, _TOP_KEYS, ())
    rig = data.get("rig", {})
    if not isinstance(rig, Mapping):
        check.problem(("rig",), "must be a table with name and description")
        rig = {}
    check.unknown_keys(rig, _RIG_KEYS, ("rig",))
    name = check.text(rig, "name", ("rig",), False) or os.path.splitext(os.path.basename(source))[0]
    simulated = rig.get("simulated", False)
    if not isinstance(simulated, bool):
        check.problem(("rig", "simulated"), f"must be true or false, not {simulated!r}")
        simulated = False
    if not isinstance(data.get("simulation", {}), Mapping):
        check.problem(("simulation",), "must be a table of simulator settings")
    devices = data.get("devices")
    if not isinstance(devices, Mapping) or not devices:
        check.problem(("devices",), "a rig needs at least one [devices.NAME] table")
        devices = {}
    checked: dict[str, DeviceConfig] = {}
    owners: dict[tuple[str, str], str] = {}
    for device_name, table in devices.items():
        device = check.device(device_name, table, simulated)
        if device is None:
            continue
        claims = [("resource", device.resource), ("role", device.role)]
        if simulated:
            claims.append(("simulator", device.simulator))
        clash = False
        for key, value in claims:
            if value is None:
                continue
            owner = owners.setdefault((key, value), device_name)
            if owner != device_name:
                check.problem(("devices", device_name, key), f"{value!r} is already used by {owner!r}")
                clash = True
        if not clash:
            checked[device_name] = device
    if check.problems:
        raise RigConfigError(source, check.problems)
    description = check.text(rig, "description", ("rig",), False) or ""
    return RigConfig(name, checked, description, simulated, source, text)


def load_rig(path: str | os.PathLike[str]) -> RigConfig:
    """Read and check a rig configuration file."""
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    return parse_rig(text, os.fspath(path))
