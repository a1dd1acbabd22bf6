"""The Driver base: an instrument declared once (its parameters, states and options), the rest inherited.

    class Laser(Driver):
        '''A CW laser with SCPI-like commands.'''
        PARAMETERS = {"power": Control(Float(unit="W", min=0, max=0.5), get="SOUR:POW?", set="SOUR:POW {}")}
        STATES = {"emission": Control(Bool(), get="OUTP?", set="OUTP {}"),
                  "temperature": Control(Float(unit="K", read_only=True), get="TEMP?")}

    laser = Laser("TCPIP::10.0.0.5::5025::SOCKET", name="laser").connect()
    laser.parameters.set("power", 5 * u.mW)     # checked, then sent as 'SOUR:POW 0.005'
    laser.states.read("temperature")            # a live reading

A driver owns one transport. After a reconnect it re-sends every parameter it had set, in the
order last set (states such as emission or a shutter are switches and are deliberately not
re-applied: a power-cycled laser must not start emitting on its own).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from specpy.errors import ValidationError
from specpy.tree import Float, Int, Leaf, Str, Tree
from specpy.tree.paths import flatten, unknown_path

from .control import Control
from .errors import DeviceDisconnected, TransportError, TransportTimeout
from .resources import resource_kind
from .transport import Transport, open_transport

#: Options every driver takes; the transport gets these, a subclass may change their defaults.
TRANSPORT_OPTIONS: dict[str, Leaf] = {
    "timeout": Float(unit="s", min=0.001, max=600.0, default=2.0, description="reply timeout"),
    "read_termination": Str(default="\n", description="end of every reply"),
    "write_termination": Str(default="\n", description="end of every command"),
    "baud_rate": Int(min=50, max=4_000_000, default=9600, description="serial ports only"),
}


@dataclass(frozen=True)
class Health:
    """How a driver is doing: reachable or not, who answered, how often it reconnected, what is wrong."""

    ok: bool
    connected: bool
    identity: str | None
    reconnects: int
    problems: tuple[str, ...] = ()


class _ControlIO:
    """Connects one of a driver's trees to its instrument through the declared Controls."""

    def __init__(self, driver: Driver, controls: Mapping[str, Control], keep: bool):
        self.driver, self.controls, self.keep = driver, controls, keep

    def readable(self, path: str) -> bool:
        return self.controls[path].get is not None

    def read(self, path: str) -> Any:
        return self.driver._read_control(self.controls[path])

    def write(self, path: str, value: Any) -> None:
        control = self.controls[path]
        self.driver._write_control(control, value)
        if self.keep:
            self.driver._remember(path, control, value)


def _declarations(cls: type, attribute: str) -> dict[str, Any]:
    """A class's own declarations merged over those of its bases (nearest base wins)."""
    merged: dict[str, Any] = {}
    for base in reversed(cls.__mro__[1:]):
        merged.update(base.__dict__.get(attribute, {}))
    kind = Leaf if attribute == "OPTIONS" else Control
    try:
        own = cls.__dict__.get(attribute, {})
        merged.update(flatten(own, is_leaf=lambda v: isinstance(v, kind), what=f"a {kind.__name__}"))
    except ValidationError as error:
        raise TypeError(f"{cls.__name__}.{attribute}: {error}") from None
    return merged


class Driver:
    """Base of every instrument driver. Subclasses declare PARAMETERS, STATES and, if needed, OPTIONS."""

    #: Resource kinds this driver can talk over ('visa', 'serial'; see drivers.resources.KINDS).
    RESOURCE_KINDS: ClassVar[tuple[str, ...]] = ("visa", "serial")
    #: Settings: path -> Control. Re-applied after a reconnect.
    PARAMETERS: ClassVar[Mapping[str, Control]] = {}
    #: Live readings and switches: path -> Control.
    STATES: ClassVar[Mapping[str, Control]] = {}
    #: Options a rig file may give this driver: name -> Leaf (with its default).
    OPTIONS: ClassVar[Mapping[str, Leaf]] = TRANSPORT_OPTIONS
    #: The query that identifies the instrument, or None if it has none.
    IDENTIFY: ClassVar[str | None] = "*IDN?"
    #: How often an idempotent query is repeated after a lost or garbled reply.
    RETRIES: ClassVar[int] = 1
    #: How many stale replies a resynchronisation skips at most, and for how many reply timeouts it waits.
    SYNC_LINES: ClassVar[int] = 64
    SYNC_TIMEOUTS: ClassVar[int] = 4

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.PARAMETERS = _declarations(cls, "PARAMETERS")
        cls.STATES = _declarations(cls, "STATES")
        cls.OPTIONS = _declarations(cls, "OPTIONS")
        unknown = set(cls.RESOURCE_KINDS) - {"visa", "serial"}
        if unknown or not cls.RESOURCE_KINDS:
            raise TypeError(f"{cls.__name__}.RESOURCE_KINDS must be some of 'visa', 'serial', not {cls.RESOURCE_KINDS}")
        clash = set(cls.PARAMETERS) & set(cls.STATES)
        if clash:
            raise TypeError(f"{cls.__name__}: {sorted(clash)} declared both as parameter and as state")

    @classmethod
    def description(cls) -> str:
        """The first line of the driver's docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> tuple[dict[str, Any], list[ValidationError]]:
        """Every option checked (text such as '500 ms' understood) with defaults filled in, and the problems found."""
        values = {name: leaf.default for name, leaf in cls.OPTIONS.items()}
        problems: list[ValidationError] = []
        for name, value in options.items():
            leaf = cls.OPTIONS.get(name)
            try:
                if leaf is None:
                    raise unknown_path(name, cls.OPTIONS, f"option for {cls.__name__}")
                values[name] = leaf.parse(name, value)
            except ValidationError as problem:
                problems.append(problem)
        return values, problems

    @classmethod
    def check_resource(cls, resource: str) -> str:
        """The resource's kind, if this driver can use it; else a ValidationError saying what it takes."""
        kind = resource_kind(resource)
        if kind not in cls.RESOURCE_KINDS:
            raise ValidationError(
                f"{cls.__name__} talks over {' or '.join(cls.RESOURCE_KINDS)}; {resource!r} is a {kind} resource"
            )
        return kind

    def __init__(self, resource: str, *, name: str | None = None, transport: Transport | None = None, **options: Any):
        self.check_resource(resource)
        self.options, problems = self.check_options(options)
        if problems:
            raise ValidationError(f"{type(self).__name__} options: " + "; ".join(str(p) for p in problems))
        self.resource = resource
        self.name = name or type(self).__name__.lower()
        self.transport = transport
        self.identity: str | None = None
        self._sent: dict[str, tuple[Control, Any]] = {}
        self._sent_lock = threading.Lock()
        self._desynced = False
        self._controls = {"parameters": dict(self.PARAMETERS), "states": dict(self.STATES)}
        self.parameters = self._tree("parameters")
        self.states = self._tree("states")

    def _tree(self, which: str) -> Tree:
        """The parameter or state tree over this driver's (possibly refined) controls."""
        controls = self._controls[which]
        io = _ControlIO(self, controls, which == "parameters")
        return Tree({p: c.leaf for p, c in controls.items()}, io=io, name=f"{self.name} {which}")

    def refine(self, path: str, leaf: Leaf) -> None:
        """Give one declared leaf this instrument's own limits (e.g. read at connect): the tree then enforces them.

        Rebuilds that tree with its values kept; call it before anyone subscribes to the tree (on_connect).
        """
        which = "parameters" if path in self._controls["parameters"] else "states"
        controls = self._controls[which]
        if path not in controls:
            raise unknown_path(path, [*self._controls["parameters"], *self._controls["states"]], "control")
        if leaf.kind != controls[path].leaf.kind or leaf.read_only != controls[path].leaf.read_only:
            raise TypeError(f"{path}: a refined leaf keeps the kind and read-only flag of the declared one")
        old = getattr(self, which)
        controls[path] = dataclasses.replace(controls[path], leaf=leaf)
        tree = self._tree(which)
        for leaf_path in tree.paths():
            value = old.get(leaf_path)
            if value is not None:
                tree.update(leaf_path, value)
        setattr(self, which, tree)

    # -- life cycle -----------------------------------------------------------------------------
    def connect(self) -> Driver:
        """Open the transport (unless one was given), identify the instrument and read its values."""
        if self.transport is None:
            settings = {name: self.options[name] for name in TRANSPORT_OPTIONS}
            self.transport = open_transport(self.resource, **settings)
        self.transport.add_reconnect_hook(self._restore)
        self.identity = self.identify()
        self.on_connect()
        return self

    def on_connect(self) -> None:
        """Runs once after connecting; by default reads every readable parameter and state."""
        self.refresh()

    def refresh(self) -> None:
        """Read every readable parameter and state from the instrument into the trees."""
        self.parameters.read("")
        self.states.read("")

    def close(self) -> None:
        """Close the transport (idempotent)."""
        if self.transport is not None:
            self.transport.close()

    def __enter__(self) -> Driver:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identify(self) -> str | None:
        """Ask the instrument who it is (IDENTIFY, '*IDN?' by default); None if it has no such query."""
        if self.IDENTIFY is None:
            return None
        return self.ask(self.IDENTIFY, idempotent=True).strip()

    def health(self) -> Health:
        """Ping the instrument and report; never raises for an instrument that is down."""
        if self.transport is None:
            return Health(False, False, self.identity, 0, ("not connected",))
        problems: list[str] = []
        try:
            identity = self.identify()
            if identity is not None and self.identity is not None and identity != self.identity:
                problems.append(f"identity changed from {self.identity!r} to {identity!r}")
            problems.extend(self.device_problems())
        except TransportError as error:
            problems.append(str(error))
        return Health(not problems, self.transport.connected, self.identity, self.transport.reconnects, tuple(problems))

    def device_problems(self) -> list[str]:
        """Problems the instrument itself reports (an error queue, a fault register); none by default."""
        return []

    def check_device(self, command: str) -> None:
        """Called after every write, holding the transport lock; raise DeviceError if the instrument refused it."""

    # -- the exchanges: what one query and one setting mean on this instrument's wire -------------------
    def ask(self, command: str, *, idempotent: bool = False) -> str:
        """Send a query and return its reply; an idempotent one is asked again after a lost or garbled reply.

        After a lost or garbled reply the next exchange first realigns replies with commands (see _sync),
        so a late reply never answers a later query.
        """
        transport = self._io()
        attempts = 1 + (self.RETRIES if idempotent else 0)
        with transport.lock:
            for attempt in range(attempts):
                try:
                    self._resync_if_needed()
                    return self._query(command)
                except DeviceDisconnected:
                    raise
                except TransportError:
                    self._desynced = True
                    if attempt + 1 == attempts:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, command: str) -> None:
        """Send a setting and confirm the instrument took it (DeviceError if it refused); never repeated."""
        transport = self._io()
        with transport.lock:
            self._resync_if_needed()
            try:
                self._command(command)
            except DeviceDisconnected:
                raise
            except TransportError:
                self._desynced = True
                raise

    def _query(self, command: str) -> str:
        """One query on the wire (lock held); protocols with acknowledgements or echoes override it."""
        return self._io().query(command)

    def _command(self, command: str) -> None:
        """One setting on the wire (lock held): by default a write, then check_device."""
        self._io().write(command)
        self.check_device(command)

    def _resync_if_needed(self) -> None:
        if self._desynced and self.transport is not None and self.transport.connected:
            self._sync()
        self._desynced = False

    def _sync(self) -> None:
        """Realign replies with commands: ask IDENTIFY and skip every reply before its answer (lock held)."""
        if self.IDENTIFY is None or not self.identity:
            return
        transport = self._io()
        transport.write(self.IDENTIFY)
        deadline = time.monotonic() + self.SYNC_TIMEOUTS * transport.timeout
        for _ in range(self.SYNC_LINES):
            try:
                line = transport.read()
            except DeviceDisconnected:
                raise
            except TransportTimeout:
                if time.monotonic() >= deadline:
                    break
                continue  # a late reply may still be on its way
            except TransportError:
                continue  # a garbled leftover: skip it
            if self.identity in line:
                self._after_sync()
                return
        raise TransportTimeout(self.resource, self.IDENTIFY, "cannot realign replies with commands after a lost reply")

    def _after_sync(self) -> None:
        """Read what follows the identity reply in this protocol (an acknowledgement), if anything."""

    # -- the I/O behind the trees -------------------------------------------------------------
    def _io(self) -> Transport:
        if self.transport is None:
            raise DeviceDisconnected(self.resource, None, f"{self.name} is not connected; call connect() first")
        return self.transport

    def _read_control(self, control: Control) -> Any:
        get = control.get
        if not isinstance(get, str):
            return get(self)  # type: ignore[misc]
        if control.binary is not None:
            return self._io().query_binary(get, control.binary) * control.scale
        reply = self.ask(get, idempotent=True)
        try:
            return control.value(reply)
        except (ValueError, KeyError, TypeError) as error:
            raise TransportError(self.resource, get, f"reply {reply!r} cannot be read: {error}") from error

    def _write_control(self, control: Control, value: Any) -> None:
        if not isinstance(control.set, str):
            control.set(self, value)  # type: ignore[misc]
            return
        self.send(control.command(value))

    def _remember(self, path: str, control: Control, value: Any) -> None:
        with self._sent_lock:
            self._sent.pop(path, None)  # re-insert: the re-apply order is the order last set
            self._sent[path] = (control, value)

    def _restore(self) -> None:
        """Re-send every parameter set so far (a transport reconnect hook; the lock is held)."""
        self._desynced = False  # a fresh connection holds no stale replies
        with self._sent_lock:
            sent = list(self._sent.values())
        for control, value in sent:
            self._write_control(control, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self.resource}>"
