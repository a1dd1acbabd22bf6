"""Measurement and Configuration, as Imspector's SpecPy documents them.

A measurement holds configurations (one active); each configuration holds its parameters (the
measurement-parameter schema, a validated tree) and its stacks. Stack names are unique within a
measurement: a clash gets the suffix ` [1]`, ` [2]`, ... as in Imspector.
"""

from __future__ import annotations

import copy
import operator
import os
import threading
from typing import TYPE_CHECKING, Any

from .errors import Error, StackIndexError, ValidationError
from .measurement_schema import measurement_schema
from .obf import File
from .stack import Stack
from .tree import Tree

if TYPE_CHECKING:
    from .application import Imspector


class Configuration:
    """One set of measurement parameters and the stacks it acquired."""

    def __init__(self, measurement: Measurement, name: str, identifier: int, values: dict[str, Any] | None = None):
        self._measurement = measurement
        self._name = name
        self._id = identifier
        self._tree: Tree | None = Tree(measurement_schema(), name=f"configuration {name!r}")
        if values:
            self._tree.set("", values)
        self._stacks: list[Stack] = []
        self._acquired: Stack | None = None  # the stack the engine fills for this configuration

    def name(self) -> str:
        """The configuration's name."""
        return self._name

    def set_name(self, name: str) -> None:
        """Rename the configuration (names are unique within the measurement)."""
        self._measurement._rename_configuration(self, name)

    def id(self) -> int:
        """A number that identifies the configuration within its measurement."""
        return self._id

    def parameters(self, path: str = "") -> Any:
        """The parameter at `path` (`scan/dwell_time`, ...); the empty path returns the whole dict."""
        return self.tree().get(path)

    def set_parameters(self, path: str, value: Any) -> None:
        """Set a parameter (SI, or an astropy Quantity); the empty path sets a dict of them, all or nothing."""
        self._measurement._check_not_running(f"set {path or 'the parameters'} of {self._name!r}")
        self.tree().set(path, value)

    def tree(self) -> Tree:
        """The validated parameter tree (schema, subscriptions, snapshot)."""
        if self._tree is None:
            raise Error(f"configuration {self._name!r} belongs to the closed measurement "
                        f"{self._measurement.name()!r}; open its file to see its parameters again")
        return self._tree

    def number_of_stacks(self) -> int:
        """How many stacks this configuration holds."""
        return len(self._stacks)

    def stack_names(self) -> list[str]:
        """The names of this configuration's stacks."""
        return [s.name() for s in self._stacks]

    def stack(self, key: int | str) -> Stack:
        """A stack by position (0 ..) or by name."""
        return _pick(self._stacks, key, f"configuration {self._name!r}")

    def __repr__(self) -> str:
        return f"<specpy.Configuration {self._name!r} of {self._measurement.name()!r}>"


class Measurement:
    """Configurations, their stacks and, once started, an acquisition run by the application's engine."""

    def __init__(self, application: Imspector, name: str, path: str):
        self._application = application
        self._name = name
        self._path = path
        self._lock = threading.RLock()
        self._configurations: list[Configuration] = []
        self._active: Configuration | None = None
        self._next_id = 0
        self.run_state = RunState()
        self._add_configuration("Configuration")

    # --- identity ---------------------------------------------------------------------------

    def name(self) -> str:
        """The measurement's name."""
        return self._name

    def path(self) -> str:
        """The .obf file the measurement is saved (and autosaved) to."""
        return self._path

    def status(self) -> str:
        """'idle', 'running', 'paused', 'finished', 'failed' or 'closed' (see also `status_message`)."""
        return self.run_state.status

    def status_message(self) -> str:
        """Why the measurement is paused or failed ('' otherwise)."""
        return self.run_state.message

    # --- configurations ---------------------------------------------------------------------

    def number_of_configurations(self) -> int:
        """How many configurations the measurement holds."""
        return len(self._configurations)

    def configuration_names(self) -> list[str]:
        """The configurations' names, in order."""
        return [c.name() for c in self._configurations]

    def active_configuration(self) -> Configuration:
        """The configuration that `parameters`/`set_parameters` address."""
        assert self._active is not None
        return self._active

    def configuration(self, key: int | str) -> Configuration:
        """A configuration by position (0 ..) or by name."""
        return _pick(self._configurations, key, f"measurement {self._name!r}", what="configuration")

    def activate(self, configuration: Configuration) -> None:
        """Make `configuration` the active one."""
        self._active = self._own(configuration)

    def clone(self, configuration: Configuration) -> Configuration:
        """Add a copy of `configuration`'s parameters (without its stacks), activate and return it."""
        self._check_not_running("clone a configuration")
        source = self._own(configuration)
        clone = self._add_configuration(f"{source.name()} (copy)", source.parameters(""))
        self._active = clone
        return clone

    def remove(self, configuration: Configuration) -> None:
        """Remove a configuration and its stacks; the last one cannot be removed."""
        self._check_not_running("remove a configuration")
        configuration = self._own(configuration)
        if len(self._configurations) == 1:
            raise Error(f"{configuration.name()!r} is the only configuration of {self._name!r}; a measurement keeps one")
        with self._lock:
            self._configurations.remove(configuration)
            if self._active is configuration:
                self._active = self._configurations[0]

    def _add_configuration(self, name: str, values: dict[str, Any] | None = None) -> Configuration:
        with self._lock:
            configuration = Configuration(self, self._unique(name, [c.name() for c in self._configurations]),
                                          self._next_id, values)
            self._next_id += 1
            self._configurations.append(configuration)
            if self._active is None:
                self._active = configuration
            return configuration

    def _rename_configuration(self, configuration: Configuration, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError(f"a configuration name is a non-empty str, not {name!r}")
        others = [c.name() for c in self._configurations if c is not configuration]
        if name in others:
            raise ValidationError(f"{self._name!r} already has a configuration {name!r}; names: {others}")
        configuration._name = name

    def _own(self, configuration: Configuration) -> Configuration:
        if not isinstance(configuration, Configuration) or configuration not in self._configurations:
            raise ValidationError(f"{configuration!r} is not a configuration of {self._name!r}")
        return configuration

    # --- parameters of the active configuration ---------------------------------------------

    def parameters(self, path: str = "") -> Any:
        """A parameter of the active configuration; the empty path returns the whole dict."""
        return self.active_configuration().parameters(path)

    def set_parameters(self, path: str, value: Any) -> None:
        """Set a parameter of the active configuration (the empty path: a dict, all or nothing)."""
        self.active_configuration().set_parameters(path, value)

    # --- stacks -----------------------------------------------------------------------------

    def _all_stacks(self) -> list[Stack]:
        return [s for c in self._configurations for s in c._stacks]

    def number_of_stacks(self) -> int:
        """How many stacks the measurement holds (over all configurations)."""
        return len(self._all_stacks())

    def stack_names(self) -> list[str]:
        """The names of all stacks."""
        return [s.name() for s in self._all_stacks()]

    def stack(self, key: int | str) -> Stack:
        """A stack by position (0 ..) or by name."""
        return _pick(self._all_stacks(), key, f"measurement {self._name!r}")

    def create_stack(self, type_: Any, sizes: Any, noview: bool = False) -> Stack:
        """A new zero-filled stack of exactly four sizes (x, y, z, t), added to the active configuration."""
        sizes = list(sizes) if not isinstance(sizes, (str, bytes)) else sizes
        if not isinstance(sizes, list) or len(sizes) != 4:
            raise ValidationError(f"create_stack takes exactly four sizes (x, y, z, t), got {sizes!r}")
        stack = Stack(type_, sizes)
        stack.set_labels(["x", "y", "z", "t"])
        self._adopt(stack, self.active_configuration(), "Stack")
        return stack

    def _adopt(self, stack: Stack, configuration: Configuration, name: str) -> Stack:
        """Add a stack to a configuration under a name unique in the measurement; later renames stay unique."""
        with self._lock:
            stack._name = self._unique(stack.name() or name, self.stack_names())
            stack._rename = self._renamed  # no reference from the stack to itself: a stack let go is freed at once
            configuration._stacks.append(stack)
        return stack

    def _renamed(self, stack: Stack, wanted: str) -> str:
        """The name `stack` gets for `wanted`: unique among the measurement's other stacks."""
        return self._unique(wanted, [other.name() for other in self._all_stacks() if other is not stack])

    @staticmethod
    def _unique(name: str, taken: list[str]) -> str:
        if name not in taken:
            return name
        k = 1
        while f"{name} [{k}]" in taken:
            k += 1
        return f"{name} [{k}]"

    def _release(self) -> None:
        """A closed measurement lets go of its stacks and parameter trees, so that they can be freed.

        Each stack's rename hook refers back to the stack and this measurement; unhooked, a stack is
        freed (its file mapping and descriptor closed) as soon as nobody holds it, not at the next
        garbage collection.
        """
        with self._lock:
            for configuration in self._configurations:
                for stack in configuration._stacks:
                    stack._rename = None
                configuration._stacks = []
                configuration._acquired = None
                configuration._tree = None

    def update(self) -> None:
        """Redraw the stacks (Imspector's display); headless, it marks stack contents as current."""
        self._application._notify_update(self)

    def save_as(self, path: str | os.PathLike, compression: bool = True) -> None:
        """Write every stack, with its configuration's parameters, to an .obf/.msr file."""
        with File(path, File.Write) as f:
            f.set_description(f"specpy measurement {self._name!r}")
            for configuration in self._configurations:
                for stack in configuration._stacks:
                    record_configuration(stack, configuration)
                    f.write(stack, compression)

    def save(self, compression: bool = True) -> None:
        """Write the measurement to its own path (`path()`)."""
        self._check_not_running("save over its own autosave file")
        self.save_as(self._path, compression)

    # --- the engine's side ------------------------------------------------------------------

    def _check_not_running(self, what: str) -> None:
        if self.run_state.status == "running":
            if threading.current_thread() is not self.run_state.thread:
                raise Error(f"cannot {what} while {self._name!r} is running; pause it first, or change "
                            "parameters from a step callback")

    def __repr__(self) -> str:
        return f"<specpy.Measurement {self._name!r} {self.status()}>"


class RunState:
    """Where a measurement's acquisition stands; the engine writes it, everyone may read it."""

    def __init__(self) -> None:
        self.status = "idle"
        self.message = ""
        self.fault = False  # paused by a device fault (not by pause())
        self.thread: threading.Thread | None = None
        self.changed = threading.Condition()

    def set(self, status: str, message: str = "") -> None:
        with self.changed:
            self.status, self.message = status, message
            self.changed.notify_all()


def record_configuration(stack: Stack, configuration: Configuration) -> None:
    """Store the configuration's name and parameters in the stack, so a saved file describes itself."""
    stack.set_parameters("configuration", {"name": configuration.name(), "parameters": configuration.parameters("")})


def _pick(items: list, key: int | str, owner: str, what: str = "stack") -> Any:
    """An item by position or by name, with an error that says what exists."""
    names = [item.name() for item in items]
    if isinstance(key, str):
        if key in names:
            return items[names.index(key)]
        raise StackIndexError(f"{owner} has no {what} named {key!r}; it has {names}")
    try:
        index = operator.index(key)
    except TypeError:
        raise StackIndexError(f"a {what} is chosen by position (int) or name (str), not {type(key).__name__}") from None
    if not 0 <= index < len(items):
        allowed = f"0..{len(items) - 1}" if items else "none"
        raise StackIndexError(f"{owner} has no {what} at position {index}; positions: {allowed}")
    return items[index]


def stacks_from_file(path: str | os.PathLike) -> list[tuple[Stack, dict[str, Any] | None]]:
    """The stacks of an .obf/.msr file with the configuration each recorded (None if it recorded none)."""
    with File(path, File.Read) as f:
        stacks = [f.read(i) for i in range(f.number_of_stacks())]
    result = []
    for stack in stacks:
        stack.data()  # loaded now: the measurement owns its stacks' data
        recorded = stack.parameters("").get("configuration")
        result.append((stack, copy.deepcopy(recorded) if isinstance(recorded, dict) else None))
    return result
