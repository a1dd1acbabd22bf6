"""The Tree: path-addressed values with schemas, validated and atomic sets, change events and snapshots.

A device has two: its parameters (settings) and its states (live readings and switches). The tree
keeps the last known value of every leaf; an optional TreeIO connects it to the device, so `set`
writes through to the instrument and `read` fetches a live value.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from ..errors import Error, ValidationError
from .paths import check_path, flatten, nest, prefixes, under, unknown_path
from .schema import Leaf, astropy_unit, jsonable

log = logging.getLogger(__name__)

#: A change callback: (path, old value, new value).
Callback = Callable[[str, Any, Any], None]


class TreeIO(Protocol):
    """What a device offers its tree: reading a live value and writing a checked one."""

    def readable(self, path: str) -> bool:
        """Whether the device can report this leaf's value."""

    def read(self, path: str) -> Any:
        """Fetch the leaf's value from the device (the tree converts and stores it)."""

    def write(self, path: str, value: Any) -> None:
        """Send an already validated SI value to the device."""


class PartialSetError(Error, RuntimeError):
    """A multi-value set failed at the device part-way; names what was applied and what was not."""

    def __init__(self, applied: list[str], failed: str, pending: list[str], cause: BaseException):
        self.applied, self.failed, self.pending, self.cause = applied, failed, pending, cause
        done = ", ".join(applied) if applied else "nothing"
        rest = f"; not applied: {', '.join(pending)}" if pending else ""
        super().__init__(f"applied {done}; failed at {failed}: {cause}{rest}")


class Subscription:
    """A registered change callback; `close()` (or leaving its `with` block) stops it."""

    def __init__(self, tree: Tree, prefix: str, callback: Callback):
        self.tree, self.prefix, self.callback = tree, prefix, callback

    def close(self) -> None:
        """Stop receiving changes (idempotent)."""
        self.tree._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Slot:
    """One leaf's schema, its set-check and its current value."""

    __slots__ = ("leaf", "check", "value")

    def __init__(self, leaf: Leaf):
        self.leaf, self.value = leaf, leaf.default
        self.check = _refuse_read_only if leaf.read_only else leaf.check

    def entry(self) -> dict[str, Any]:
        """The JSON-safe snapshot entry of this leaf."""
        return {"value": jsonable(self.value), "unit": self.leaf.unit}


def _refuse_read_only(path: str, value: Any) -> Any:
    """The set-check of a read-only leaf: always refuses."""
    raise ValidationError(f"{path} is read-only; it cannot be set to {value!r}")


def _same(old: Any, new: Any) -> bool:
    """Whether a store changed nothing (arrays compare by content)."""
    if old is new:
        return True
    if isinstance(old, np.ndarray) or isinstance(new, np.ndarray):
        return isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and np.array_equal(old, new)
    return type(old) is type(new) and old == new


class Tree:
    """Leaves addressed by '/'-separated paths; the empty path is the whole tree as nested dicts."""

    def __init__(self, leaves: Mapping[str, Any], *, io: TreeIO | None = None, name: str = ""):
        flat = flatten(leaves, is_leaf=lambda v: isinstance(v, Leaf))
        for leaf in flat.values():
            if leaf.unit:
                astropy_unit(leaf.unit)
        self.name = name
        self._slots = {path: _Slot(leaf) for path, leaf in flat.items()}
        self._nodes = {node for path in flat for node in prefixes(path)}
        clash = self._nodes & self._slots.keys()
        if clash:
            raise ValidationError(f"{sorted(clash)[0]!r} is both a leaf and a node with leaves below it")
        self._io = io
        self._lock = threading.RLock()
        self._subscriptions: list[Subscription] = []
        self._routes: dict[str, tuple[Callback, ...]] = {}

    # -- looking things up --------------------------------------------------------------------------
    def paths(self, prefix: str = "") -> list[str]:
        """Every leaf path under `prefix`, in declaration order."""
        self._node_or_leaf(prefix)
        return [p for p in self._slots if under(p, prefix)]

    def leaf(self, path: str) -> Leaf:
        """The schema of one leaf."""
        return self._slot(path).leaf

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self._slots or path in self._nodes or path == "")

    def _slot(self, path: str) -> _Slot:
        """The slot of an existing leaf; a node or an unknown path raises a ValidationError."""
        slot = self._slots.get(path)
        if slot is None and self._node_or_leaf(path) == "node":
            raise ValidationError(f"{path!r} is a node, not a leaf; its leaves: {', '.join(self.paths(path))}")
        return slot  # type: ignore[return-value]

    def _node_or_leaf(self, path: str) -> str:
        """'leaf' or 'node' for an existing path ('' is the root node); an unknown one raises, with suggestions."""
        if path in self._slots:
            return "leaf"
        if path == "" or path in self._nodes:
            return "node"
        check_path(path)
        raise unknown_path(path, [*self._slots, *self._nodes], f"path in {self.name or 'the tree'}")

    # -- values -----------------------------------------------------------------------------------
    def get(self, path: str = "") -> Any:
        """The last known value of a leaf, or of every leaf under a node as nested dicts."""
        slot = self._slots.get(path)
        if slot is not None:
            return slot.value
        self._node_or_leaf(path)
        return nest({p: s.value for p, s in self._slots.items() if under(p, path)}, path)

    def set(self, path: str, value: Any) -> None:
        """Validate and apply one value, or a dict of values under `path` all-or-nothing (see set_many)."""
        slot = self._slots.get(path)
        if slot is None:
            self.set_many(path, value)
            return
        new = slot.check(path, value)
        io = self._io
        if io is None:  # a plain store needs no lock; with a device, the lock keeps device and cache in order
            old, slot.value = slot.value, new
        else:
            with self._lock:
                io.write(path, new)
                old, slot.value = slot.value, new
        if self._subscriptions and not _same(old, new):
            self._notify(path, old, new)

    def set_many(self, path: str, values: Any) -> None:
        """Set every value of a (nested) dict under `path`: all are checked before any is applied.

        Every problem is reported in one ValidationError and nothing is applied. If the device then
        fails part-way, PartialSetError says which paths were applied and which were not.
        """
        kind = self._node_or_leaf(path)
        if kind == "leaf":
            raise ValidationError(f"{path} is a single {self.leaf(path).kind} leaf; give it a value, not a dict")
        if not isinstance(values, Mapping):
            raise ValidationError(f"{path or 'the tree root'} is a node; give it a dict of values, not {values!r}")
        try:
            flat = flatten(values, path)
        except ValidationError as error:
            raise ValidationError(f"under {path or 'the tree root'}: {error}") from None
        checked, problems = self._check_all(flat)
        if problems:
            error = ValidationError(
                f"nothing was set; {len(problems)} problem(s): " + "; ".join(str(p) for p in problems)
            )
            error.errors = problems  # type: ignore[attr-defined]
            raise error
        changes: list[tuple[str, Any, Any]] = []
        try:
            with self._lock:
                for target, new in checked.items():
                    try:
                        if self._io is not None:
                            self._io.write(target, new)
                    except Exception as cause:
                        done = [c[0] for c in changes]
                        rest = [p for p in checked if p not in done and p != target]
                        raise PartialSetError(done, target, rest, cause) from cause
                    slot = self._slots[target]
                    changes.append((target, slot.value, new))
                    slot.value = new
        finally:
            for target, old, new in changes:
                if self._subscriptions and not _same(old, new):
                    self._notify(target, old, new)

    def _check_all(self, flat: Mapping[str, Any]) -> tuple[dict[str, Any], list[ValidationError]]:
        """Check every (path, value); return the SI values and the list of problems found."""
        checked: dict[str, Any] = {}
        problems: list[ValidationError] = []
        for target, value in flat.items():
            try:
                checked[target] = self._slot(target).check(target, value)
            except ValidationError as problem:
                problems.append(problem)
        return checked, problems

    def read(self, path: str = "") -> Any:
        """Fetch live values from the device (one leaf, or every readable leaf under a node), store and return them."""
        if self._io is None:
            raise ValidationError(f"{self.name or 'this tree'} has no device to read from; use get() for stored values")
        slot = self._slots.get(path)
        if slot is not None:
            if not self._io.readable(path):
                raise ValidationError(f"{path} has no device reading (it is only set); use get() for the value set")
            return self._read_leaf(path, slot)
        targets = [p for p in self.paths(path) if self._io.readable(p)]
        return nest({p: self._read_leaf(p, self._slots[p]) for p in targets}, path)

    def _read_leaf(self, path: str, slot: _Slot) -> Any:
        with self._lock:
            new = slot.leaf.accept(path, self._io.read(path))  # type: ignore[union-attr]
            old, slot.value = slot.value, new
        if self._subscriptions and not _same(old, new):
            self._notify(path, old, new)
        return new

    def update(self, path: str, value: Any) -> Any:
        """Store a value the device reported (kind enforced, range and read-only not); notifies on change."""
        slot = self._slot(path)
        new = slot.leaf.accept(path, value)
        with self._lock:
            old, slot.value = slot.value, new
        if self._subscriptions and not _same(old, new):
            self._notify(path, old, new)
        return new

    # -- change events ----------------------------------------------------------------------------
    def subscribe(self, prefix: str, callback: Callback) -> Subscription:
        """Call `callback(path, old, new)` after any leaf at or under `prefix` changes value."""
        self._node_or_leaf(prefix)
        if not callable(callback):
            raise ValidationError(f"a subscriber must be callable (path, old, new), not {callback!r}")
        subscription = Subscription(self, prefix, callback)
        with self._lock:
            self._subscriptions = [*self._subscriptions, subscription]
            self._routes = {}
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not subscription]
            self._routes = {}

    def _notify(self, path: str, old: Any, new: Any) -> None:
        routes = self._routes
        callbacks = routes.get(path)
        if callbacks is None:
            callbacks = tuple(s.callback for s in self._subscriptions if under(path, s.prefix))
            routes[path] = callbacks
        for callback in callbacks:
            try:
                callback(path, old, new)
            except Exception:  # a faulty subscriber must not undo or block a device write
                log.exception("subscriber %r failed on %s change", callback, path)

    # -- snapshot and schema ----------------------------------------------------------------------
    def snapshot(self, prefix: str = "") -> dict[str, Any]:
        """Every value under `prefix` as JSON-safe nested dicts of {'value', 'unit'} (one such dict for a leaf)."""
        if prefix in self._slots:
            return self._slots[prefix].entry()
        self._node_or_leaf(prefix)
        return nest({path: slot.entry() for path, slot in self._slots.items() if under(path, prefix)}, prefix)

    def describe(self, prefix: str = "") -> dict[str, Any]:
        """The schema of every leaf under `prefix` as JSON-safe nested dicts (one dict for a leaf)."""
        if prefix in self._slots:
            return self._slots[prefix].leaf.describe()
        return nest({path: self._slots[path].leaf.describe() for path in self.paths(prefix)}, prefix)

    def __repr__(self) -> str:
        return f"<Tree {self.name or ''} with {len(self._slots)} leaves>"
