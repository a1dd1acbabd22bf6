"""The local Imspector application: the rig's devices, measurements, and the acquisition engine.

`get_application()` returns the process's application, created on first use with the rig from
(in order) the `rig` argument, $SPECPY_RIG, `rig = "..."` in ~/.config/specpy/config.toml, or
else the built-in simulated rig, so a lab script runs with no hardware and no set-up.
"""

from __future__ import annotations

import atexit
import datetime
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__
from .engine import BEGIN, END, Engine, MeasurementFault, Signals
from .errors import Error, ValidationError
from .measurement import Configuration, Measurement, stacks_from_file
from .paths import data_directory
from .stack import Stack
from .tree.paths import flatten, unknown_path

MeasurementResult_Success = 0


class NoActiveObject(Error, RuntimeError):
    """Nothing is active (no measurement, no stack) where the call needs something."""


class DeviceTrees:
    """The rig's parameter or state trees as one tree of `device/.../name` paths."""

    def __init__(self, devices: dict[str, Any], kind: str):
        self._devices, self._kind = devices, kind

    def _split(self, path: str) -> tuple[Any, str]:
        device, _, rest = path.partition("/")
        if device not in self._devices:
            raise unknown_path(device, list(self._devices), "device")
        return getattr(self._devices[device], self._kind), rest

    def get(self, path: str, live: bool) -> Any:
        """A value (or the dict under a path; '' = every device); `live` reads the device first."""
        if path == "":
            return {name: self.get(name, live) for name in self._devices}
        tree, rest = self._split(path)
        if live:
            try:
                tree.read(rest)  # every readable value under `rest`, stored in the tree
            except ValidationError:
                pass  # a value the device cannot report: the last one set is the answer
        return tree.get(rest)

    def set(self, path: str, value: Any) -> None:
        """Set a value, or a dict of values all checked (over all devices) before any is sent."""
        if path != "":
            tree, rest = self._split(path)
            tree.set(rest, value)
            return
        if not isinstance(value, dict):
            raise ValidationError(f"the empty path takes a dict of device values, not {value!r}")
        for device in value:
            self._split(device)
        problems = [f"{device}/{p}" for device, values in value.items()
                    for p in _problems(getattr(self._devices[device], self._kind), values)]
        if problems:
            raise ValidationError(f"nothing was set; {len(problems)} problem(s): " + "; ".join(problems))
        for device, values in value.items():
            getattr(self._devices[device], self._kind).set("", values)


def _problems(tree: Any, values: Any) -> list[str]:
    """What `tree.set('', values)` would refuse, without sending anything."""
    if not isinstance(values, dict):
        return [f" takes a dict, not {values!r}"]
    problems = []
    for path, value in flatten(values).items():
        try:
            tree.leaf(path).check(path, value)
        except ValidationError as problem:
            problems.append(str(problem))
    return problems


class Imspector:
    """The application: devices, measurements, begin/end signals, and the engine that runs them."""

    def __init__(self, rig: Any):
        self._rig = rig
        self._signals = Signals()
        self._engine = Engine(rig, self._signals)
        self._parameters = DeviceTrees(rig.devices, "parameters")
        self._states = DeviceTrees(rig.devices, "states")
        self._measurements: list[Measurement] = []
        self._active: Measurement | None = None
        self._lock = threading.RLock()
        self._counter = 0

    # --- the application ----------------------------------------------------------------------

    def host(self) -> str:
        """'' : this application lives in this process."""
        return ""

    def version(self) -> str:
        """The specpy version."""
        return __version__

    def device_drivers(self) -> dict[str, str]:
        """Each device's name and the name of its driver."""
        return {name: type(device).__name__ for name, device in self._rig.devices.items()}

    def parameters(self, path: str = "") -> Any:
        """A device parameter (`device/.../name`); the empty path returns every device's parameters."""
        return self._parameters.get(path, live=False)

    def set_parameters(self, path: str, value: Any) -> None:
        """Set a device parameter, checked before it is sent; the empty path takes a dict (all or nothing)."""
        self._parameters.set(path, value)

    def state(self, path: str = "") -> Any:
        """A device state (`device/.../name`), read live; the empty path returns every device's states."""
        return self._states.get(path, live=True)

    def set_state(self, path: str, value: Any) -> None:
        """Set a device state (a switch such as `shutter_wheel/shutter/open`)."""
        self._states.set(path, value)

    # --- measurements -------------------------------------------------------------------------

    def measurement_names(self) -> list[str]:
        """The names of the open measurements."""
        return [m.name() for m in self._measurements]

    def active_measurement(self) -> Measurement:
        """The active measurement; raises if there is none."""
        if self._active is None:
            raise NoActiveObject("no measurement is active; create_measurement() or open(path) one")
        return self._active

    def measurement(self, name: str) -> Measurement:
        """An open measurement by name."""
        for measurement in self._measurements:
            if measurement.name() == name:
                return measurement
        raise Error(f"no open measurement named {name!r}; open: {self.measurement_names()}")

    def create_measurement(self) -> Measurement:
        """A new empty measurement (one configuration with default parameters), made active."""
        with self._lock:
            self._counter += 1
            name = f"Measurement {self._counter}"
            measurement = Measurement(self, name, str(self._autosave_path(name)))
            self._measurements.append(measurement)
            self._active = measurement
            return measurement

    def open(self, path: str | os.PathLike) -> Measurement:
        """Open an .obf/.msr file as a measurement (or return it if it is already open)."""
        path = os.fspath(path)
        for measurement in self._measurements:
            if os.path.abspath(measurement.path()) == os.path.abspath(path):
                return measurement
        loaded = stacks_from_file(path)
        with self._lock:
            measurement = Measurement(self, Path(path).stem, path)
            first = measurement.configuration(0)
            configurations: dict[str, Configuration] = {}
            for stack, recorded in loaded:
                configuration = first
                if recorded is not None:
                    name = recorded.get("name") or first.name()
                    if name not in configurations:
                        configuration = first if not configurations else measurement._add_configuration(name)
                        configuration._name = name
                        _restore_parameters(configuration, recorded.get("parameters"))
                        configurations[name] = configuration
                    configuration = configurations[name]
                measurement._adopt(stack, configuration, "Stack")
            self._measurements.append(measurement)
            self._active = measurement
            return measurement

    def activate(self, measurement: Measurement) -> None:
        """Make `measurement` the active one."""
        self._active = self._own(measurement)

    def start(self, measurement: Measurement | None = None) -> None:
        """Start (or resume) a measurement (default: the active one) and return at once."""
        measurement = self._own(measurement) if measurement is not None else self.active_measurement()
        self._engine.start(measurement)

    def pause(self, measurement: Measurement | None = None) -> None:
        """Pause a measurement at its next step boundary; `start` resumes it."""
        measurement = self._own(measurement) if measurement is not None else self.active_measurement()
        self._engine.pause(measurement)

    def run(self, measurement: Measurement | None = None) -> int:
        """Start a measurement and return when it has finished (0); raise if it failed or stopped on a fault."""
        measurement = self._own(measurement) if measurement is not None else self.active_measurement()
        self._engine.start(measurement)
        outcome = None
        while outcome is None:
            outcome = self.wait(measurement)
        return outcome

    def wait(self, measurement: Measurement, timeout: float | None = None) -> int | None:
        """Wait for a started measurement to end as `run` does; None if it still runs after `timeout` s."""
        measurement = self._own(measurement)
        status = self._engine.wait(measurement, timeout)
        if status == "running" or (status == "paused" and not measurement.run_state.fault):
            return None
        if status == "finished":
            return MeasurementResult_Success
        if status == "paused":
            raise MeasurementFault(f"{measurement.name()!r} paused: {measurement.status_message()}; fix the cause "
                                   "and start() it again to retry the step")
        raise Error(f"{measurement.name()!r} {status}: {measurement.status_message() or 'stopped'}")

    def close(self, measurement: Measurement) -> None:
        """Close a measurement (a running one is stopped first; its file keeps every completed step).

        Its stacks and parameters are released: a closed measurement answers name() and status().
        """
        measurement = self._own(measurement)
        self._engine.stop(measurement)
        self._engine.forget(measurement)
        measurement._release()
        with self._lock:
            self._measurements.remove(measurement)
            if self._active is measurement:
                self._active = self._measurements[-1] if self._measurements else None
        if measurement.status() != "closed":
            measurement.run_state.set("closed")

    def current_measurement(self) -> Measurement:
        """The measurement being run (or run last): inside a begin/end callback, the one it is about."""
        current = self._engine.current()
        if current is None:
            raise NoActiveObject("no measurement has been started yet")
        return current

    def active_stack(self) -> Stack:
        """The most recent stack of the active measurement; raises if there is none."""
        measurement = self.active_measurement()
        if measurement.number_of_stacks() == 0:
            raise NoActiveObject(f"{measurement.name()!r} has no stack yet")
        return measurement.stack(measurement.number_of_stacks() - 1)

    def _own(self, measurement: Measurement) -> Measurement:
        if not isinstance(measurement, Measurement) or measurement not in self._measurements:
            raise ValidationError(f"{measurement!r} is not an open measurement of this application")
        return measurement

    def _autosave_path(self, name: str) -> Path:
        folder = data_directory() / "measurements"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        return folder / f"{stamp} {name} pid{os.getpid()}.obf"

    def _notify_update(self, measurement: Measurement) -> None:
        """Headless, there is nothing to redraw; kept as the hook a display would use."""

    # --- signals ------------------------------------------------------------------------------

    def connect_begin(self, callback: Callable[[], Any], flag: int) -> None:
        """Call `callback()` at the begin of the whole measurement (flag 0) or of each step (flag 1)."""
        self._signals.connect(BEGIN, callback, flag)

    def disconnect_begin(self, callback: Callable[[], Any], flag: int) -> bool:
        """Undo `connect_begin`."""
        return self._signals.disconnect(BEGIN, callback, flag)

    def connect_end(self, callback: Callable[[], Any], flag: int) -> None:
        """Call `callback()` at the end of the whole measurement (flag 0) or of each step (flag 1)."""
        self._signals.connect(END, callback, flag)

    def disconnect_end(self, callback: Callable[[], Any], flag: int) -> bool:
        """Undo `connect_end`."""
        return self._signals.disconnect(END, callback, flag)

    def observe_signals(self, observer: Callable[[str, int, dict[str, Any]], Any]) -> None:
        """Call `observer(kind, flag, context)` on the engine thread at every begin/end signal (the service's hook)."""
        self._signals.observe(observer)

    def unobserve_signals(self, observer: Callable[[str, int, dict[str, Any]], Any]) -> None:
        """Undo `observe_signals`."""
        self._signals.unobserve(observer)

    # --- the rig ------------------------------------------------------------------------------

    def rig(self) -> Any:
        """The connected rig (devices by name and by role)."""
        return self._rig

    def shutdown(self) -> None:
        """Stop every measurement and close the rig (the simulator too, if it started one).

        The next get_application() then creates a new application.
        """
        global _application
        for measurement in list(self._measurements):
            self.close(measurement)
        self._rig.close()
        with _application_lock:
            if _application is self:
                _application = None


def _restore_parameters(configuration: Configuration, values: Any) -> None:
    """Set recorded parameters that the current schema accepts; anything else is left at its default."""
    if not isinstance(values, dict):
        return
    for path, value in flatten(values).items():
        try:
            configuration.tree().set(path, value)
        except ValidationError:
            continue


_application: Imspector | None = None
_application_lock = threading.Lock()


def rig_path(rig: str | os.PathLike | None = None) -> str | None:
    """The rig file to use: the argument, $SPECPY_RIG, the user config's `rig`, or None (simulated)."""
    if rig is not None:
        return os.fspath(rig)
    if os.environ.get("SPECPY_RIG"):
        return os.environ["SPECPY_RIG"]
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "specpy" / "config.toml"
    if config.is_file():
        import tomllib

        with open(config, "rb") as handle:
            value = tomllib.load(handle).get("rig")
        if value is not None:
            return str(value)
    return None


def get_application(host: str | None = None, rig: str | os.PathLike | None = None) -> Imspector:
    """The local application (created on first use), or, with `host`, a remote one."""
    if host is not None:
        from .remote.client import connect

        return connect(host)  # type: ignore[return-value]
    global _application
    with _application_lock:
        if _application is None:
            from drivers.rig import connect_rig, default_rig_path

            _application = Imspector(connect_rig(rig_path(rig) or default_rig_path()))
        elif rig is not None:
            raise Error("the application already runs on its rig; pass rig= only on the first get_application()")
        return _application


@atexit.register
def _shutdown() -> None:
    """At exit, shut the process's application down (stopping a simulator it started)."""
    if _application is not None:
        _application.shutdown()
