"""The acquisition engine: runs one measurement at a time on its own thread, step by step.

A step is one unit of the outer loop: one time point x z slice x configuration. For every step
the engine applies the configuration to the devices (only what changed), arms the photon
counter, starts the scan, fetches the counts and adds them into the configuration's stack in
place (the stack's buffer is its data region in the measurement's .obf file while it runs), then
flushes the stack: the file now counts the step. Begin/end signals fire with flag 0
for the whole measurement and flag 1 for each step, exactly once each, in order, on the engine
thread, between steps: a step callback may change parameters for the next step. Pausing takes
effect at the next step boundary; a device error pauses too, and `start` retries that step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .acquire import acquire_step, make_safe
from .errors import Error
from .feasibility import check_runnable
from .measurement import Configuration, Measurement, record_configuration
from .measurement_schema import pixels
from .obf import File, StackWriter
from .stack import Stack

log = logging.getLogger(__name__)

BEGIN, END = "begin", "end"
RECONNECT_ROLES = ("scanner", "excitation_laser", "sted_laser", "shutter_wheel", "stage")  # and the detector
WHOLE, STEP = 0, 1  # the flags of Imspector's begin/end signals


class Devices(Protocol):
    """What the engine needs of a rig: its drivers by role ('scanner', 'counter', 'stage', ...)."""

    def has_role(self, role: str) -> bool: ...

    def by_role(self, role: str) -> Any: ...


class MeasurementFault(Error, RuntimeError):
    """A measurement stopped at a step it could not acquire (it is paused; `start` retries the step)."""


@dataclass(frozen=True)
class Step:
    """One unit of the outer loop."""

    index: int
    time_point: int
    z_slice: int
    configuration: Configuration


@dataclass
class Acquisition:
    """One measurement's run: its plan, stacks, autosave and progress (survives pauses)."""

    measurement: Measurement
    plan: list[Step]
    stacks: dict[int, Stack]  # by configuration id
    file: File
    writers: dict[int, StackWriter]
    interval: float
    next_step: int = 0
    step_begun: bool = False
    began: bool = False
    started_at: float = 0.0
    paused_for: float = 0.0
    pause_requested: bool = False
    stop_requested: bool = False
    applied: dict[tuple[str, str], Any] = field(default_factory=dict)


class Signals:
    """Begin/end callbacks per flag; a failing callback is logged with its traceback, never fatal."""

    def __init__(self) -> None:
        self._callbacks: dict[tuple[str, int], list[Callable[[], Any]]] = {}
        self._observers: list[Callable[[str, int, dict[str, Any]], Any]] = []
        self._lock = threading.Lock()

    def observe(self, observer: Callable[[str, int, dict[str, Any]], Any]) -> None:
        """Call `observer(kind, flag, context)` on the engine thread before the callbacks of every signal.

        The context names the measurement and the step; the engine waits for the observer (the remote
        service publishes the signal and runs blocking step hooks, each bounded by its own timeout).
        """
        with self._lock:
            self._observers.append(observer)

    def unobserve(self, observer: Callable[[str, int, dict[str, Any]], Any]) -> None:
        """Undo `observe`."""
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def connect(self, kind: str, callback: Callable[[], Any], flag: int) -> None:
        _check_flag(flag)
        if not callable(callback):
            raise Error(f"a {kind} callback must be callable, not {callback!r}")
        with self._lock:
            self._callbacks.setdefault((kind, flag), []).append(callback)

    def disconnect(self, kind: str, callback: Callable[[], Any], flag: int) -> bool:
        _check_flag(flag)
        with self._lock:
            callbacks = self._callbacks.get((kind, flag), [])
            if callback in callbacks:
                callbacks.remove(callback)
                return True
        return False

    def emit(self, kind: str, flag: int, context: dict[str, Any] | None = None) -> None:
        with self._lock:
            observers = list(self._observers)
            callbacks = list(self._callbacks.get((kind, flag), []))
        for observer in observers:
            try:
                observer(kind, flag, context or {})
            except Exception:
                log.exception("%s observer %r (flag %d) failed; the acquisition goes on", kind, observer, flag)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("%s callback %r (flag %d) failed; the acquisition goes on", kind, callback, flag)


def _check_flag(flag: int) -> None:
    if flag not in (WHOLE, STEP):
        raise Error(f"flag must be 0 (the whole measurement) or 1 (each step), not {flag!r}")


class Engine:
    """Runs measurements on the rig's devices, one at a time, each on its own thread."""

    def __init__(self, devices: Devices, signals: Signals):
        self._devices = devices
        self._signals = signals
        self._lock = threading.Condition()
        self._runs: dict[int, Acquisition] = {}
        self._current: Acquisition | None = None

    # --- control, from any thread -------------------------------------------------------------

    def start(self, measurement: Measurement) -> None:
        """Start (or resume) a measurement and return at once."""
        with self._lock:
            run = self._runs.get(id(measurement))
            if run is not None and measurement.status() == "paused":
                run.pause_requested = False
                measurement.run_state.fault = False
                measurement.run_state.set("running")  # now, so a wait() right after sees the resume
                self._lock.notify_all()
                return
            if measurement.status() == "running":
                return
            if self._current is not None and self._current.measurement.status() in ("running", "paused"):
                other = self._current.measurement
                raise Error(f"{other.name()!r} is {other.status()}; close it (or let it finish) before starting "
                            f"{measurement.name()!r}")
            run = self._prepare(measurement)
            self._runs[id(measurement)] = self._current = run
            measurement.run_state.set("running")
            thread = threading.Thread(target=self._run, args=(run,), name=f"specpy-engine {measurement.name()}",
                                      daemon=True)
            measurement.run_state.thread = thread
            thread.start()

    def pause(self, measurement: Measurement) -> None:
        """Ask a running measurement to pause at the next step boundary."""
        with self._lock:
            run = self._runs.get(id(measurement))
            if run is not None and measurement.status() == "running":
                run.pause_requested = True

    def stop(self, measurement: Measurement, timeout: float | None = None) -> None:
        """Stop a measurement after the step in flight (its file keeps every completed step)."""
        with self._lock:
            run = self._runs.get(id(measurement))
            if run is None:
                return
            run.stop_requested = True
            self._lock.notify_all()
        thread = measurement.run_state.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def forget(self, measurement: Measurement) -> None:
        """Drop a stopped measurement's run (its stacks, its closed file) so nothing keeps it alive."""
        with self._lock:
            self._runs.pop(id(measurement), None)
            if self._current is not None and self._current.measurement is measurement:
                self._current = None

    def wait(self, measurement: Measurement, timeout: float | None = None) -> str:
        """Wait until the measurement finishes, fails, is closed or pauses on a fault; return the status."""
        state = measurement.run_state
        deadline = None if timeout is None else time.monotonic() + timeout
        with state.changed:
            while not (state.status in ("finished", "failed", "closed", "idle") or state.fault):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                state.changed.wait(remaining)
            return state.status

    def current(self) -> Measurement | None:
        """The measurement the engine runs or ran last (the one a begin/end callback is about)."""
        run = self._current
        return run.measurement if run is not None else None

    # --- preparing a run ----------------------------------------------------------------------

    def _prepare(self, measurement: Measurement) -> Acquisition:
        """Check every configuration against the devices (all problems at once), plan, create stacks."""
        active = measurement.active_configuration()
        names = [n.strip() for n in active.parameters("steps/configurations").split(",") if n.strip()]
        configurations = [measurement.configuration(n) for n in names] if names else list(measurement._configurations)
        check_runnable(configurations, self._devices)
        z_slices = _z_slices(active)
        time_points = active.parameters("steps/time_points")
        plan = [Step(index, t, z, c) for index, (t, z, c) in enumerate(
            (t, z, c) for t in range(time_points) for z in range(z_slices) for c in configurations)]
        stacks = {}
        for configuration in configurations:
            if configuration._acquired is not None:  # a new run replaces what the last one acquired
                configuration._stacks.remove(configuration._acquired)
            stack = configuration._acquired = _count_stack(configuration, active, z_slices, time_points)
            measurement._adopt(stack, configuration, f"{configuration.name()} counts")
            record_configuration(stack, configuration)
            stacks[configuration.id()] = stack
        file = File(measurement.path(), File.Write)
        file.set_description(f"specpy measurement {measurement.name()!r}")
        # Raw and in place: the counts land in the file's pages as they arrive, so a step's flush is one
        # 8-byte count (no compression or copy on the step path); save_as compresses.
        writers = {key: file.begin_stack(stack, False, in_place=True) for key, stack in stacks.items()}
        return Acquisition(measurement, plan, stacks, file, writers, active.parameters("steps/interval"))

    # --- the engine thread --------------------------------------------------------------------

    def _run(self, run: Acquisition) -> None:
        measurement = run.measurement
        try:
            if not run.began:
                run.began, run.started_at = True, time.monotonic()
                self._signals.emit(BEGIN, WHOLE, _context(run))
            while run.next_step < len(run.plan):
                if not self._step_boundary(run):
                    break
                step = run.plan[run.next_step]
                if not run.step_begun:
                    run.step_begun = True
                    self._signals.emit(BEGIN, STEP, _context(run))
                try:
                    self._acquire(run, step)
                except Exception as error:  # a device fault: pause with the reason; `start` retries the step
                    log.warning("%s: step %d failed: %s", measurement.name(), step.index + 1, error)
                    self._pause(run, f"step {step.index + 1} of {len(run.plan)} failed: {type(error).__name__}: {error}",
                                fault=True)
                    continue
                run.next_step += 1
                run.step_begun = False
                self._signals.emit(END, STEP, _context(run, -1))
            complete = run.next_step == len(run.plan)
            self._finish(run)
            if complete:
                self._signals.emit(END, WHOLE, _context(run))
            measurement.run_state.set("finished" if complete else "closed")
        except BaseException as error:  # the engine itself failed: say so, never die silently
            log.exception("%s: the acquisition failed", measurement.name())
            self._finish(run)
            measurement.run_state.set("failed", f"{type(error).__name__}: {error}")

    def _step_boundary(self, run: Acquisition) -> bool:
        """Honour pause and stop requests, then wait for the step's time; False means stop."""
        if run.pause_requested:
            self._pause(run, "paused by pause()", fault=False)
        if run.stop_requested:
            return False
        step = run.plan[run.next_step]
        due = run.started_at + run.paused_for + step.time_point * run.interval
        with self._lock:
            while not run.stop_requested and not run.pause_requested:
                remaining = due - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
        if run.pause_requested:
            return self._step_boundary(run)
        return not run.stop_requested

    def _pause(self, run: Acquisition, reason: str, fault: bool) -> None:
        """Make the devices safe and stay paused until `start` resumes (or a stop).

        The paused time is not part of the step schedule; every setting is sent again afterwards.
        """
        state = run.measurement.run_state
        begun = time.monotonic()
        self._make_safe(run)
        with self._lock:
            run.pause_requested = True
            state.fault = fault
            state.set("paused", reason)
            while run.pause_requested and not run.stop_requested:
                self._lock.wait()
            state.fault = False
        run.paused_for += time.monotonic() - begun
        if not run.stop_requested:
            if fault:
                self._reconnect(run)
            state.set("running")

    def _reconnect(self, run: Acquisition) -> None:
        """Before a failed step is retried, reopen its disconnected devices now rather than after their backoff."""
        step = run.plan[run.next_step]
        roles = {*RECONNECT_ROLES, step.configuration.parameters("channels/detector")}
        for role in sorted(roles):
            transport = getattr(self._devices.by_role(role), "transport", None) if self._devices.has_role(role) else None
            if transport is not None and not transport.connected:
                try:
                    transport.reconnect()  # bounded by the transport's timeout
                except Exception as error:  # still away: the retried step fails again and says why
                    log.warning("%s: %s is still disconnected: %s", run.measurement.name(), role, error)

    def _acquire(self, run: Acquisition, step: Step) -> None:
        """Apply the step's configuration, acquire its frames into the stack, flush the autosave."""
        stack = run.stacks[step.configuration.id()]
        target = stack.data()[step.time_point, step.z_slice]
        acquire_step(self._devices, step.configuration, step.z_slice, target, run.applied)
        frame_samples = target.size
        slices_done = step.time_point * stack.data().shape[1] + step.z_slice + 1
        run.writers[step.configuration.id()].flush(slices_done * frame_samples)

    def _make_safe(self, run: Acquisition) -> None:
        run.applied.clear()
        try:
            make_safe(self._devices)
        except Exception:
            log.exception("%s: could not close the shutter / switch the lasers off", run.measurement.name())

    def _finish(self, run: Acquisition) -> None:
        self._make_safe(run)
        run.file.close()


def _context(run: Acquisition, offset: int = 0) -> dict[str, Any]:
    """What a signal is about: the measurement, the step (0-based) and the number of steps."""
    return {"measurement": run.measurement.name(), "step": run.next_step + offset, "steps": len(run.plan)}


def _z_slices(configuration: Configuration) -> int:
    if configuration.parameters("scan/axes") != "xyz":
        return 1
    return pixels(configuration.parameters("scan/z/length"), configuration.parameters("scan/z/pixel_size"))


def _count_stack(configuration: Configuration, outer: Configuration, z_slices: int, time_points: int) -> Stack:
    """A zero-filled uint32 stack [x, y, z, t] with the scan geometry as lengths, offsets and units."""
    scan = configuration.parameters("scan")
    nx, ny = pixels(scan["x"]["length"], scan["x"]["pixel_size"]), pixels(scan["y"]["length"], scan["y"]["pixel_size"])
    stack = Stack(np.uint32, [nx, ny, z_slices, time_points])
    z = outer.parameters("scan/z")
    interval = outer.parameters("steps/interval")
    lengths = [nx * scan["x"]["pixel_size"], ny * scan["y"]["pixel_size"], z_slices * z["pixel_size"],
               max(time_points * interval, float(time_points))]
    stack.set_labels(["x", "y", "z", "t"])
    stack.set_lengths(lengths)
    stack.set_offsets([scan["x"]["offset"] - lengths[0] / 2, scan["y"]["offset"] - lengths[1] / 2,
                       z["offset"] - lengths[2] / 2, 0.0])
    for axis, unit in enumerate(["m", "m", "m", "s" if interval > 0 else ""]):
        stack.set_unit(axis, unit)
    return stack
