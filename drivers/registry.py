"""Finding drivers: the `specpy.drivers` entry-point group (name -> Driver class) or a dotted path.

An installed entry point that fails to import is reported beside the working ones, never fatal:
one broken plug-in must not take the whole rig down.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata

from specpy.errors import Error
from specpy.tree.paths import closest

from .base import Driver

ENTRY_POINT_GROUP = "specpy.drivers"


class DriverNotFound(Error, LookupError):
    """No driver by that name or path; names the installed ones nearest to it."""


@dataclass(frozen=True)
class DriverInfo:
    """One usable driver: its registered name, where it lives, and what it talks over."""

    name: str
    target: str
    cls: type[Driver]

    @property
    def resource_kinds(self) -> tuple[str, ...]:
        return self.cls.RESOURCE_KINDS

    @property
    def description(self) -> str:
        return self.cls.description()


@dataclass(frozen=True)
class LoadProblem:
    """An entry point that could not be used, and why."""

    name: str
    target: str
    error: str


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))


def _as_driver(obj: object, target: str) -> type[Driver]:
    """`obj` if it is a Driver subclass, else DriverNotFound saying what it is instead."""
    if isinstance(obj, type) and issubclass(obj, Driver) and obj is not Driver:
        return obj
    raise DriverNotFound(f"{target} is {obj!r}, not a Driver subclass")


def installed_drivers() -> tuple[list[DriverInfo], list[LoadProblem]]:
    """Every entry point of the group loaded: the usable drivers and the problems, both sorted by name."""
    drivers: list[DriverInfo] = []
    problems: list[LoadProblem] = []
    seen: dict[str, str] = {}
    for ep in _entry_points():
        if ep.name in seen:
            if seen[ep.name] != ep.value:
                problems.append(LoadProblem(ep.name, ep.value, f"name already taken by {seen[ep.name]}"))
            continue
        seen[ep.name] = ep.value
        try:
            drivers.append(DriverInfo(ep.name, ep.value, _as_driver(ep.load(), ep.value)))
        except Exception as error:  # any import-time failure of a plug-in is reported, not raised
            problems.append(LoadProblem(ep.name, ep.value, f"{type(error).__name__}: {error}"))
    return drivers, problems


def load_driver(spec: str) -> type[Driver]:
    """The Driver class for an entry-point name ('scpi') or a dotted path ('pkg.module:Class' or 'pkg.module.Class')."""
    if not isinstance(spec, str) or not spec.strip():
        raise DriverNotFound(f"a driver is named by an entry-point name or a dotted path, not {spec!r}")
    if ":" in spec or "." in spec:
        return _load_path(spec)
    matches = [ep for ep in _entry_points() if ep.name == spec]
    if not matches:
        names = sorted({ep.name for ep in _entry_points()})
        near = closest(spec, names)
        hint = f"; did you mean {', '.join(near)}?" if near else f"; installed: {', '.join(names) or 'none'}"
        raise DriverNotFound(f"no driver named {spec!r} in entry-point group {ENTRY_POINT_GROUP!r}{hint}")
    try:
        obj = matches[0].load()
    except Exception as error:
        raise DriverNotFound(f"driver {spec!r} ({matches[0].value}) failed to import: {error}") from error
    return _as_driver(obj, matches[0].value)


def _load_path(spec: str) -> type[Driver]:
    """Import 'pkg.module:Class' or 'pkg.module.Class' (an installed module, never code from a file)."""
    module_name, _, attribute = spec.partition(":") if ":" in spec else spec.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise DriverNotFound(f"driver {spec!r}: cannot import module {module_name!r}: {error}") from error
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise DriverNotFound(f"driver {spec!r}: module {module_name!r} has no {attribute!r}")
        obj = getattr(obj, part)
    return _as_driver(obj, spec)


def format_listing(drivers: list[DriverInfo], problems: list[LoadProblem]) -> str:
    """The `specpy drivers` table: name, resource kinds, class and description; then the problems."""
    if not drivers:
        lines = [f"no drivers installed in entry-point group {ENTRY_POINT_GROUP!r}"]
    else:
        rows = [(d.name, ", ".join(d.resource_kinds), d.target, d.description) for d in drivers]
        head = ("NAME", "RESOURCES", "CLASS", "DESCRIPTION")
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3] for row in [head, *rows]
        ]
    if problems:
        lines.append("")
        lines.append(f"{len(problems)} entry point(s) could not be loaded:")
        lines.extend(f"  {p.name} ({p.target}): {p.error}" for p in problems)
    return "\n".join(line.rstrip() for line in lines)
