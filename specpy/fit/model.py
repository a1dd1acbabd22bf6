"""The model: sectors -> components -> parameters, with bounds, freezing, sharing and links.

Sector and component indices are 1-based as in SPEX. A parameter is addressed by
(isect, icomp, name) or by a dotted name: ``s<isect>.c<icomp>.<name>`` or ``<label>.<name>``
when the component was given a label. Parameter values are arrays over the session's batch
axis (length 1 without a batch); a free parameter is either per item or shared by all items.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy as np

from . import expressions
from .components import Component, Grid, make_component
from .errors import BoundsError, ExpressionError, ModelError, ParameterError

_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CANONICAL = re.compile(r"^s(\d+)\.c(\d+)$")
UNIT = 1.0  # marks a derivative that is exactly one, so the Jacobian skips a multiplication


@dataclass(eq=False)
class Parameter:
    """One parameter: values over the batch axis, free/frozen, shared, bounds and an optional link."""

    uid: int
    name: str
    value: np.ndarray
    free: bool
    lower: float
    upper: float
    shared: bool = False
    link: expressions.Node | None = None  # refers to other parameters as "_p<uid>"

    @property
    def token(self) -> str:
        """The name this parameter has inside stored link expressions."""
        return f"_p{self.uid}"


@dataclass(eq=False)
class ComponentEntry:
    """A component placed in a sector, with its parameters and the multiplicative components applied to it."""

    component: Component
    label: str | None
    parameters: dict[str, Parameter]
    relations: list["ComponentEntry"] = field(default_factory=list)


@dataclass(eq=False)
class Sector:
    """A group of components describing one source; its additive components add up."""

    components: list[ComponentEntry] = field(default_factory=list)


class Model:
    """Sectors of components; resolves addresses and turns free parameters into model values."""

    def __init__(self) -> None:
        self.sectors: list[Sector] = [Sector()]
        self.n_items = 1
        self._uids = itertools.count(1)

    @property
    def nsector(self) -> int:
        """Number of sectors."""
        return len(self.sectors)

    # --- structure ---------------------------------------------------------------------------

    def add(self, name: str, isect: int, options: dict[str, object] | None, label: str | None) -> ComponentEntry:
        """Append a component to sector isect (isect = nsector + 1 opens a new sector)."""
        if not isinstance(isect, int) or isinstance(isect, bool) or not 1 <= isect <= self.nsector + 1:
            raise ParameterError(f"sector {isect!r} does not exist; sectors are 1..{self.nsector} (or {self.nsector + 1} for a new one)")
        component = make_component(name, options)
        if label is not None:
            if not isinstance(label, str) or not _LABEL.match(label) or _CANONICAL.match(label + ".c1"):
                raise ModelError(f"component label {label!r} must be an identifier (letters, digits, _) not of the form s<N>")
            if any(entry.label == label for entry in self.entries()):
                raise ModelError(f"component label {label!r} is already used")
        if isect == self.nsector + 1:
            self.sectors.append(Sector())
        params = {
            spec.name: Parameter(
                next(self._uids), spec.name, np.full(self.n_items, spec.default), spec.free, spec.lower, spec.upper
            )
            for spec in component.parameters()
        }
        entry = ComponentEntry(component, label, params)
        self.sectors[isect - 1].components.append(entry)
        return entry

    def delete(self, isect: int, icomp: int) -> None:
        """Remove a component; refused while another parameter's link refers to it."""
        entry = self.entry(isect, icomp)
        tokens = {p.token for p in entry.parameters.values()}
        for other, pname, param in self.parameters():
            if other is not entry and param.link is not None:
                used = tokens & set(expressions.references(param.link))
                if used:
                    raise ModelError(
                        f"cannot delete s{isect}.c{icomp} ({entry.component.name}): parameter "
                        f"{self.dotted(param)} is linked to it; decouple it first"
                    )
        self.sectors[isect - 1].components.remove(entry)
        for other in self.entries():
            if entry in other.relations:
                other.relations.remove(entry)

    def relate(self, isect: int, icomp: int, multiplicative: list[int]) -> None:
        """Apply the listed multiplicative components of the same sector to an additive component."""
        entry = self.entry(isect, icomp)
        if entry.component.kind != "additive":
            raise ModelError(f"s{isect}.c{icomp} ({entry.component.name}) is multiplicative; relate an additive component")
        targets = []
        for j in multiplicative:
            other = self.entry(isect, j)
            if other.component.kind != "multiplicative":
                raise ModelError(f"s{isect}.c{j} ({other.component.name}) is not a multiplicative component")
            targets.append(other)
        entry.relations = targets

    def set_items(self, n_items: int) -> None:
        """Give every parameter n_items values (broadcasting from one value)."""
        if n_items == self.n_items:
            return
        for _, _, param in self.parameters():
            param.value = np.full(n_items, param.value[0])
        self.n_items = n_items

    # --- addressing --------------------------------------------------------------------------

    def entries(self) -> list[ComponentEntry]:
        """All components in sector order."""
        return [entry for sector in self.sectors for entry in sector.components]

    def parameters(self) -> list[tuple[ComponentEntry, str, Parameter]]:
        """All (component, name, parameter) triples in sector, component, parameter order."""
        return [(entry, name, p) for entry in self.entries() for name, p in entry.parameters.items()]

    def entry(self, isect: int, icomp: int) -> ComponentEntry:
        """The component at (isect, icomp), 1-based."""
        if not isinstance(isect, int) or isinstance(isect, bool) or not 1 <= isect <= self.nsector:
            raise ParameterError(f"sector {isect!r} does not exist; sectors are 1..{self.nsector}")
        components = self.sectors[isect - 1].components
        if not isinstance(icomp, int) or isinstance(icomp, bool) or not 1 <= icomp <= len(components):
            raise ParameterError(
                f"component {icomp!r} does not exist in sector {isect}; it has components 1..{len(components)}"
                if components else f"component {icomp!r} does not exist: sector {isect} is empty (add one with com())"
            )
        return components[icomp - 1]

    def position(self, entry: ComponentEntry) -> tuple[int, int]:
        """The current (isect, icomp) of a component."""
        for i, sector in enumerate(self.sectors, 1):
            for j, other in enumerate(sector.components, 1):
                if other is entry:
                    return i, j
        raise ParameterError("component is no longer part of the model")

    def find(self, isect: int | str, icomp: int | None = None, name: str | None = None) -> Parameter:
        """A parameter by (isect, icomp, name) or by dotted name."""
        if isinstance(isect, str):
            if icomp is not None or name is not None:
                raise ParameterError(f"with a dotted name ({isect!r}) give no component index or parameter name")
            return self.by_name(isect)
        entry = self.entry(isect, icomp)  # type: ignore[arg-type]
        if name not in entry.parameters:
            raise ParameterError(
                f"component s{isect}.c{icomp} ({entry.component.name}) has no parameter {name!r}; "
                f"its parameters: {', '.join(entry.parameters)}"
            )
        return entry.parameters[name]

    def by_name(self, dotted: str) -> Parameter:
        """A parameter by ``s<i>.c<j>.<name>`` or ``<label>.<name>``."""
        head, _, pname = dotted.rpartition(".")
        match = _CANONICAL.match(head)
        if match:
            return self.find(int(match.group(1)), int(match.group(2)), pname)
        for entry in self.entries():
            if entry.label is not None and entry.label == head:
                isect, icomp = self.position(entry)
                return self.find(isect, icomp, pname)
        raise ParameterError(
            f"no parameter named {dotted!r}; use s<sector>.c<component>.<name> or <label>.<name> "
            f"(labels: {', '.join(e.label for e in self.entries() if e.label) or 'none'})"
        )

    def dotted(self, param: Parameter) -> str:
        """The canonical dotted name of a parameter."""
        for entry, name, p in self.parameters():
            if p is param:
                isect, icomp = self.position(entry)
                return f"s{isect}.c{icomp}.{name}"
        raise ParameterError("parameter is no longer part of the model")

    def by_uid(self) -> dict[int, Parameter]:
        """Every parameter by its uid."""
        return {p.uid: p for _, _, p in self.parameters()}

    # --- links -------------------------------------------------------------------------------

    def link(self, param: Parameter, text: str) -> None:
        """Tie a parameter to an expression of other parameters (it stops being free)."""
        node = expressions.parse(text)
        mapping = {}
        for ref in expressions.references(node):
            target = self.by_name(ref) if not ref.startswith("_p") else self._by_token(ref)
            if target is param:
                raise ExpressionError(f"link expression {text!r} for {self.dotted(param)} refers to the parameter itself")
            mapping[ref] = target.token
        stored = expressions.rename(node, mapping)
        previous = param.link
        param.link = stored
        try:
            self.link_order()
        except ExpressionError:
            param.link = previous
            raise
        param.free = False
        self.update_links()

    def _by_token(self, token: str) -> Parameter:
        uid = int(token[2:]) if token[2:].isdigit() else -1
        found = self.by_uid().get(uid)
        if found is None:
            raise ExpressionError(f"link refers to unknown parameter {token!r}")
        return found

    def link_text(self, param: Parameter) -> str:
        """A parameter's link expression with current dotted names (empty if not linked)."""
        if param.link is None:
            return ""
        mapping = {p.token: self.dotted(p) for _, _, p in self.parameters()}
        return expressions.to_text(expressions.rename(param.link, mapping))

    def link_order(self) -> list[Parameter]:
        """Linked parameters in evaluation order; a cycle is an error."""
        by_uid = self.by_uid()
        linked = [p for p in by_uid.values() if p.link is not None]
        order: list[Parameter] = []
        state: dict[int, int] = {}

        def visit(p: Parameter, path: list[Parameter]) -> None:
            if state.get(p.uid) == 2:
                return
            if state.get(p.uid) == 1:
                names = " -> ".join(self.dotted(q) for q in path + [p])
                raise ExpressionError(f"parameter links form a cycle: {names}")
            state[p.uid] = 1
            for token in expressions.references(p.link):  # type: ignore[arg-type]
                ref = by_uid.get(int(token[2:]))
                if ref is None:
                    raise ExpressionError(f"{self.dotted(p)} is linked to a parameter that no longer exists")
                if ref.link is not None:
                    visit(ref, path + [p])
            state[p.uid] = 2
            order.append(p)

        for p in linked:
            visit(p, [])
        return order

    def update_links(self) -> None:
        """Recompute the values of linked parameters from their expressions."""
        values = {p.token: p.value for _, _, p in self.parameters()}
        for p in self.link_order():
            value, _ = expressions.evaluate(p.link, values)  # type: ignore[arg-type]
            p.value = np.broadcast_to(np.asarray(value, dtype=float), (self.n_items,)).copy()
            values[p.token] = p.value

    # --- values ------------------------------------------------------------------------------

    def set_value(self, param: Parameter, value: float | np.ndarray) -> None:
        """Set one value for all items or one per item, refusing values outside the bounds."""
        array = np.asarray(value, dtype=float)
        if array.ndim == 0:
            array = np.full(self.n_items, float(array))
        if array.shape != (self.n_items,):
            raise BoundsError(f"{self.dotted(param)}: give one value or {self.n_items} (one per item), got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise BoundsError(f"{self.dotted(param)}: values must be finite")
        if np.any(array < param.lower) or np.any(array > param.upper):
            raise BoundsError(
                f"{self.dotted(param)}: value(s) outside the range [{param.lower}, {param.upper}]; "
                f"change the range with par_range first"
            )
        if param.link is not None:
            raise ModelError(f"{self.dotted(param)} is linked ({self.link_text(param)}); decouple it before setting a value")
        param.value = array.copy()
        self.update_links()

    def set_range(self, param: Parameter, lower: float, upper: float) -> None:
        """Set bounds; refuses inverted bounds and clips the current values into range."""
        lower, upper = float(lower), float(upper)
        if np.isnan(lower) or np.isnan(upper) or lower > upper:
            raise BoundsError(f"{self.dotted(param)}: lower bound {lower} must not exceed upper bound {upper}")
        param.lower, param.upper = lower, upper
        if param.link is None:
            param.value = np.clip(param.value, lower, upper)
        self.update_links()


def _product(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray | float:
    """a * b, keeping the UNIT marker when both factors are exactly one."""
    a_one = a is UNIT or (np.ndim(a) == 0 and a == 1.0)
    b_one = b is UNIT or (np.ndim(b) == 0 and b == 1.0)
    if a_one and b_one:
        return UNIT
    return b if a_one else (a if b_one else a * b)


@dataclass
class Plan:
    """A frozen view of the model for one fit: which parameters are free, and how to evaluate."""

    model: Model
    item_params: list[Parameter]
    shared_params: list[Parameter]
    order: list[Parameter]
    fixed: dict[int, np.ndarray]

    @classmethod
    def of(cls, model: Model, exclude: Parameter | None = None) -> "Plan":
        """The plan of the model's current state (`exclude` is treated as frozen: profiling)."""
        free = [p for _, _, p in model.parameters() if p.free and p.link is None and p is not exclude]
        item = [p for p in free if not p.shared or model.n_items == 1]
        shared = [p for p in free if p.shared and model.n_items > 1]
        fixed = {p.uid: p.value.copy() for _, _, p in model.parameters()}
        return cls(model, item, shared, model.link_order(), fixed)

    @property
    def n_item(self) -> int:
        """Free parameters per item."""
        return len(self.item_params)

    @property
    def n_shared(self) -> int:
        """Free parameters shared by all items."""
        return len(self.shared_params)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the free parameters (item block, then shared block)."""
        params = self.item_params + self.shared_params
        return np.array([p.lower for p in params]), np.array([p.upper for p in params])

    def start(self) -> tuple[np.ndarray, np.ndarray]:
        """Start values: (items, n_item) and (n_shared,) (a shared parameter starts at its mean)."""
        theta = np.stack([self.fixed[p.uid] for p in self.item_params], axis=1) if self.item_params else np.zeros((self.model.n_items, 0))
        shared = np.array([float(np.mean(self.fixed[p.uid])) for p in self.shared_params])
        return theta, shared

    def values(self, items: np.ndarray | slice, theta: np.ndarray, shared: np.ndarray, derivs: bool) -> tuple[dict[int, np.ndarray], dict[int, dict[int, np.ndarray | float]]]:
        """Every parameter's values for these items, and d(value)/d(free parameter k) where nonzero."""
        n = theta.shape[0]
        values: dict[int, np.ndarray] = {uid: v[items] for uid, v in self.fixed.items()}
        grads: dict[int, dict[int, np.ndarray | float]] = {}
        for k, p in enumerate(self.item_params):
            values[p.uid] = theta[:, k]
            grads[p.uid] = {k: UNIT}
        for j, p in enumerate(self.shared_params):
            values[p.uid] = np.full(n, shared[j])
            grads[p.uid] = {self.n_item + j: UNIT}
        if self.order:
            tokens = {p.token: p.uid for _, _, p in self.model.parameters()}
            named = {token: values[uid] for token, uid in tokens.items()}
            for p in self.order:
                value, partial = expressions.evaluate(p.link, named)  # type: ignore[arg-type]
                values[p.uid] = np.broadcast_to(np.asarray(value, dtype=float), (n,))
                named[p.token] = values[p.uid]
                if derivs:
                    chain: dict[int, np.ndarray | float] = {}
                    for token, slope in partial.items():
                        for k, d in grads.get(tokens[token], {}).items():
                            term = _product(slope, d)
                            chain[k] = chain[k] + term if k in chain else term
                    if chain:
                        grads[p.uid] = chain
        return values, grads

    def evaluate(self, grid: Grid, items: np.ndarray | slice, theta: np.ndarray, shared: np.ndarray, jac: bool) -> tuple[np.ndarray, list[np.ndarray | None] | None]:
        """Model (n, *shape), or (*shape, n) on an items-last grid, and with jac d(model)/d(free parameter k).

        Each derivative broadcasts against the model (a constant term keeps size 1 on the pixel
        axes); a free parameter the model does not depend on gives None. Nothing is copied that
        need not be.
        """
        n = theta.shape[0]
        values, grads = self.values(items, theta, shared, jac)
        mu: np.ndarray | None = None
        K = self.n_item + self.n_shared
        J: list[np.ndarray | None] = [None] * K
        for entry in self.model.entries():
            if entry.component.kind != "additive":
                continue
            parts = [entry] + entry.relations
            evaluated = []
            for part in parts:
                p = {name: values[param.uid] for name, param in part.parameters.items()}
                need = frozenset(name for name, param in part.parameters.items() if param.uid in grads) if jac else frozenset()
                evaluated.append(part.component.evaluate(grid, p, need))
            product = evaluated[0][0]
            for value, _ in evaluated[1:]:
                product = product * value
            mu = product if mu is None else mu + product
            if not jac:
                continue
            for i, (part, (_, jac_i)) in enumerate(zip(parts, evaluated)):
                rest: np.ndarray | float = UNIT
                for j, (value_j, _) in enumerate(evaluated):
                    if j != i:
                        rest = value_j if rest is UNIT else rest * value_j
                for name, d in jac_i.items():
                    for k, slope in grads[part.parameters[name].uid].items():
                        term = _product(_product(d, rest), slope)
                        J[k] = term if J[k] is None else J[k] + term
        shape = grid.full(n)
        mu = np.zeros(shape) if mu is None else np.broadcast_to(mu, shape)
        return mu, (J if jac else None)

    def store(self, theta: np.ndarray, shared: np.ndarray) -> None:
        """Write fitted values back to the model's parameters and refresh linked values."""
        for k, p in enumerate(self.item_params):
            p.value = theta[:, k].copy()
        for j, p in enumerate(self.shared_params):
            p.value = np.full(self.model.n_items, shared[j])
        self.model.update_links()
        self.fixed = {p.uid: p.value.copy() for _, _, p in self.model.parameters()}
