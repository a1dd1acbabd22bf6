"""The fit session, shaped like PYSPEX's Session: dataset, mod, opt_fit, asc, logs.

A Session is a plain object with no module-level state: create as many as you like, one per
thread. Every state-changing call is recorded in `logs`; `log_save`/`log_exe` replay a session
bit for bit, and `save`/`Session.load` store it as versioned JSON + .npz.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from astropy.table import Table

from . import data as data_module
from . import linalg
from . import persistence
from .ascdump import Ascdump
from .components import COMPONENTS
from .data import DataSet
from .engine import Engine, EngineResult, auto_chunk, default_workers
from .errors import DataError, ModelError, ParameterError, SessionFileError, StateError
from .intervals import profile_interval
from .model import Model, Parameter, Plan
from .parallel import map_parts
from .results import ErrorResult, Evaluation, FitResult
from .statistics import Statistic, cstat_expectation

VERSION = "1"
F = TypeVar("F", bound=Callable[..., Any])


def _logged(method: F) -> F:
    """Record a successful outermost call in the session's command log.

    The outermost call works on the read-only copies of its array arguments that the log keeps,
    so a data set and its log entry share one copy of the data.
    """

    @functools.wraps(method)
    def wrapper(self: "Session", *args: Any, **kwargs: Any) -> Any:
        if self._depth == 0:
            args, kwargs = persistence.CommandLog.private(args, kwargs)
        self._depth += 1
        try:
            result = method(self, *args, **kwargs)
        finally:
            self._depth -= 1
        if self._depth == 0:
            self.logs.record(method.__name__, args, kwargs)
        return result

    return wrapper  # type: ignore[return-value]


def _stack_parts(stack: Any) -> tuple[np.ndarray, list[float], list[float], list[str]]:
    """A Stack's data (a copy) with pixel sizes, offsets and units per axis, x first."""
    shape = stack.shape()
    pixel = [stack.length(i) / shape[i] for i in range(len(shape))]
    return np.array(stack.data()), pixel, list(stack.offsets()), [stack.unit(i) for i in range(len(shape))]


class Data:
    """The loaded data sets (PYSPEX `dataset`), addressed 1-based like SPEX instruments."""

    def __init__(self) -> None:
        self.sets: list[DataSet] = []

    @property
    def ninst(self) -> int:
        """Number of data sets."""
        return len(self.sets)

    def __len__(self) -> int:
        return len(self.sets)

    def get(self, ins: int) -> DataSet:
        """Data set number ins (1-based)."""
        if not isinstance(ins, int) or isinstance(ins, bool) or not 1 <= ins <= len(self.sets):
            raise ParameterError(f"data set {ins!r} does not exist; loaded: 1..{len(self.sets)}" if self.sets else "no data loaded")
        return self.sets[ins - 1]


class Session:
    """A fit session: data sets, a model of sectors/components/parameters, fits, dumps and a command log."""

    def __init__(self, *, workers: int | None = None, chunk: int | None = None) -> None:
        self.version = VERSION
        self.dataset = Data()
        self.mod = Model()
        self.opt_fit: FitResult | None = None
        self.logs = persistence.CommandLog()
        self.workers = default_workers() if workers is None else int(workers)
        self.chunk = None if chunk is None else int(chunk)  # items per chunk; None: sized to the data
        self._depth = 0

    @property
    def asc(self) -> Ascdump:
        """The dumps of this session (made on access: a stored one would keep the session in a reference cycle,
        and its data alive until the garbage collector runs)."""
        return Ascdump(self)

    # --- data --------------------------------------------------------------------------------

    def data(
        self,
        source: Any,
        *,
        stack: int = 0,
        roi: Sequence[slice] | None = None,
        mask: np.ndarray | None = None,
        sigma: np.ndarray | None = None,
        positions: np.ndarray | None = None,
        size: int | Sequence[int] = 7,
        batch_axes: int | Sequence[int] | None = None,
        stat: str = "cstat",
        variance: str | None = None,
        name: str | None = None,
    ) -> int:
        """Load a Stack, an .obf/.msr path (stack number `stack`) or an array; returns the data set number."""
        from ..stack import Stack

        if isinstance(source, (str, os.PathLike)):
            from ..obf import File

            with File(os.fspath(source), File.Read) as handle:
                array, pixel, offset, units = _stack_parts(handle.read(stack))
        elif isinstance(source, Stack):
            array, pixel, offset, units = _stack_parts(source)
        elif isinstance(source, np.ndarray):
            array, pixel, offset, units = source, None, None, None
        else:
            raise DataError(f"data() takes a specpy.Stack, an .obf path or a numpy array, got {type(source).__name__}")
        return self.data_array(
            array, pixel=pixel, offset=offset, units=units, roi=roi, mask=mask, sigma=sigma,
            positions=positions, size=size, batch_axes=batch_axes, stat=stat, variance=variance, name=name,
        )

    @_logged
    def data_array(
        self,
        array: np.ndarray,
        *,
        pixel: Sequence[float] | None = None,
        offset: Sequence[float] | None = None,
        units: Sequence[str] | None = None,
        roi: Sequence[slice] | None = None,
        mask: np.ndarray | None = None,
        sigma: np.ndarray | None = None,
        positions: np.ndarray | None = None,
        size: int | Sequence[int] = 7,
        batch_axes: int | Sequence[int] | None = None,
        stat: str = "cstat",
        variance: str | None = None,
        name: str | None = None,
    ) -> int:
        """Load an array (numpy order) with pixel sizes, offsets and units given x first (default: pixel indices)."""
        array = np.asarray(array)
        ndim = max(array.ndim, 1)
        ins = self.dataset.ninst + 1
        ds = data_module.build(
            array,
            pixel if pixel is not None else [1.0] * ndim,
            offset if offset is not None else [-0.5] * ndim,
            units if units is not None else ["pix"] * ndim,
            name=name or f"data set {ins}",
            stat=Statistic.make(stat, variance),
            roi=roi, mask=mask, sigma=sigma, positions=positions, size=size, batch_axes=batch_axes, workers=self.workers,
        )
        if self.dataset.sets and ds.n_items != self.mod.n_items:
            raise DataError(
                f"{ds.name} has {ds.n_items} items but the session's other data sets have {self.mod.n_items}; "
                "all data sets of a session share one batch axis"
            )
        self.mod.set_items(ds.n_items)
        self.dataset.sets.append(ds)
        return ins

    @_logged
    def data_del(self, ins: int) -> None:
        """Remove data set ins (1-based)."""
        self.dataset.sets.remove(self.dataset.get(ins))

    @_logged
    def fit_stat(self, stat: str, ins: int | None = None, variance: str | None = None, sigma: np.ndarray | None = None) -> None:
        """Set the statistic of data set ins, or of all data sets (cstat, cash, or chi2 with a variance choice)."""
        statistic = Statistic.make(stat, variance)
        for ds in [self.dataset.get(ins)] if ins is not None else self.dataset.sets:
            ds.set_stat(statistic, sigma)

    # --- model -------------------------------------------------------------------------------

    @_logged
    def com(self, name: str, isect: int = 1, *, label: str | None = None, **options: Any) -> int:
        """Add a component to sector isect (start values guessed from the first data set); returns its index."""
        entry = self.mod.add(name, isect, options, label)
        self._guess_entry(entry)
        return len(self.mod.sectors[isect - 1].components)

    @_logged
    def com_del(self, isect: int, icomp: int) -> None:
        """Remove component icomp of sector isect."""
        self.mod.delete(isect, icomp)

    @_logged
    def com_rel(self, isect: int, icomp: int, multiplicative: Sequence[int]) -> None:
        """Multiply additive component icomp by the listed multiplicative components of its sector."""
        self.mod.relate(isect, icomp, [int(j) for j in multiplicative])

    @_logged
    def guess(self, isect: int | None = None, icomp: int | None = None) -> None:
        """Re-derive start values of one component (or all) from the data."""
        if not self.dataset.sets:
            raise StateError("guess() needs data; call data() first")
        entries = self.mod.entries() if isect is None else [self.mod.entry(isect, icomp)]  # type: ignore[arg-type]
        for entry in entries:
            self._guess_entry(entry)

    def _guess_entry(self, entry: Any) -> None:
        for ds in self.dataset.sets:
            if ds.grid.ndim >= entry.component.ndim:
                counts = ds.counts
                if ds.mask is not None:  # masked pixels take the median of the used ones
                    used = np.broadcast_to(ds.mask, counts.shape)
                    fill = np.nanmedian(np.where(used, counts, np.nan).reshape(ds.n_items, -1), axis=1)
                    counts = np.where(used, counts, fill.reshape((-1,) + (1,) * (counts.ndim - 1)))
                # per item, chunk by chunk: whole-batch temporaries would cost more in page faults than in arithmetic
                size = self.chunk or auto_chunk([ds], self.workers)
                parts = map_parts(
                    self.workers,
                    lambda a: {k: np.broadcast_to(v, (min(a + size, ds.n_items) - a,)) for k, v in entry.component.guess(counts[a : a + size], ds.grid.take(slice(a, a + size))).items()},
                    range(0, ds.n_items, size),
                )
                for pname in parts[0]:
                    param = entry.parameters[pname]
                    if param.link is None:
                        value = np.concatenate([part[pname] for part in parts]).astype(float)
                        param.value = np.clip(np.broadcast_to(value, (self.mod.n_items,)), param.lower, param.upper)
                self.mod.update_links()
                return

    # --- parameters --------------------------------------------------------------------------

    def _param(self, isect: int | str, icomp: int | None, name: str | None) -> Parameter:
        return self.mod.find(isect, icomp, name)

    @_logged
    def par(self, isect: int | str, icomp: int | None = None, name: str | None = None, value: float | np.ndarray | None = None, thawn: bool | None = None) -> None:
        """Set a parameter's value (one, or one per item) and optionally thaw (True) or freeze (False) it."""
        param = self._param(isect, icomp, name)
        if value is not None:
            self.mod.set_value(param, value)
        if thawn is not None:
            self._set_free(param, bool(thawn))

    def _set_free(self, param: Parameter, free: bool) -> None:
        if free and param.link is not None:
            raise ModelError(f"{self.mod.dotted(param)} is linked ({self.mod.link_text(param)}); decouple it before freeing it")
        param.free = free

    @_logged
    def par_fix(self, isect: int | str, icomp: int | None = None, name: str | None = None) -> None:
        """Freeze a parameter at its current value."""
        self._set_free(self._param(isect, icomp, name), False)

    @_logged
    def par_free(self, isect: int | str, icomp: int | None = None, name: str | None = None) -> None:
        """Thaw a parameter so fits vary it."""
        self._set_free(self._param(isect, icomp, name), True)

    @_logged
    def par_range(self, isect: int | str, icomp: int | None = None, name: str | None = None, lower: float = -np.inf, upper: float = np.inf) -> None:
        """Set a parameter's bounds (lower <= upper)."""
        self.mod.set_range(self._param(isect, icomp, name), lower, upper)

    @_logged
    def par_share(self, isect: int | str, icomp: int | None = None, name: str | None = None, shared: bool = True) -> None:
        """Make a parameter one value shared by all items of the batch (or per item again)."""
        param = self._param(isect, icomp, name)
        param.shared = bool(shared)
        if shared:
            param.value = np.full(self.mod.n_items, float(np.mean(param.value)))
            self.mod.update_links()

    @_logged
    def par_couple(self, isect: int | str, icomp: int | None = None, name: str | None = None, csect: int | str | None = None, ccomp: int | None = None, cname: str | None = None, factor: float = 1.0) -> None:
        """Tie a parameter to factor x another one (SPEX par_couple)."""
        param = self._param(isect, icomp, name)
        target = self.mod.find(csect, ccomp, cname)  # type: ignore[arg-type]
        factor = float(factor)
        if not np.isfinite(factor):
            raise ModelError(f"coupling factor must be finite, got {factor}")
        self.mod.link(param, f"{factor!r} * {self.mod.dotted(target)}")

    @_logged
    def par_expr(self, isect: int | str, icomp: int | None = None, name: str | None = None, expression: str = "") -> None:
        """Tie a parameter to a restricted arithmetic expression of other parameters (parsed, never eval'd)."""
        self.mod.link(self._param(isect, icomp, name), expression)

    @_logged
    def par_decouple(self, isect: int | str, icomp: int | None = None, name: str | None = None) -> None:
        """Remove a parameter's link; it keeps its current value and stays frozen."""
        self._param(isect, icomp, name).link = None

    def par_value(self, isect: int | str, icomp: int | None = None, name: str | None = None) -> float | np.ndarray:
        """The current value (a float without batch axis, else one per item)."""
        value = self._param(isect, icomp, name).value
        return float(value[0]) if self.mod.n_items == 1 else value.copy()

    def par_table(self) -> Table:
        """The parameters as a table: sector, component, model, name, value, status, bounds, link."""
        rows = []
        for entry, pname, p in self.mod.parameters():
            isect, icomp = self.mod.position(entry)
            status = "linked" if p.link is not None else ("thawn" if p.free else "frozen")
            value = float(p.value[0]) if self.mod.n_items == 1 else float(np.mean(p.value))
            rows.append((isect, icomp, entry.component.name, pname, value, status + (" shared" if p.shared else ""), p.lower, p.upper, self.mod.link_text(p)))
        names = ("sector", "component", "model", "parameter", "value", "status", "minimum", "maximum", "link")
        if not rows:
            return Table(names=names, dtype=(int, int, str, str, float, str, float, float, str))
        return Table(rows=rows, names=names)

    def par_show(self) -> Table:
        """Print the parameter table (value = mean over items with a batch axis) and return it."""
        table = self.par_table()
        print("\n".join(table.pformat(max_lines=-1, max_width=-1)))
        return table

    # --- evaluation and fitting --------------------------------------------------------------

    def _engine(self, plan: Plan, niter: int = 100, tol: float = 1e-6) -> Engine:
        self._check()
        return Engine(plan, self.dataset.sets, max_iter=niter, tol=tol, chunk=self.chunk, workers=self.workers)

    def _check(self) -> None:
        """Refuse to evaluate without data, without components, or with components the data cannot hold."""
        if not self.dataset.sets:
            raise StateError("no data loaded; call data() first")
        if not self.mod.entries():
            raise StateError("the model is empty; add a component with com()")
        for ds in self.dataset.sets:
            for entry in self.mod.entries():
                entry.component.check_grid(ds.grid, ds.name)

    def models(self) -> list[np.ndarray]:
        """The model of each data set, shaped like its counts (items, *shape)."""
        self._check()
        plan = Plan.of(self.mod)
        theta, shared = plan.start()
        out = []
        for ds in self.dataset.sets:
            mu, _ = plan.evaluate(ds.grid, slice(None), theta, shared, False)
            out.append(np.broadcast_to(mu, ds.counts.shape).copy())
        return out

    def calc(self) -> Evaluation:
        """Evaluate the statistic of the current model without fitting."""
        self._check()
        return self._evaluation(Plan.of(self.mod))

    def _item_summary(self, plan: Plan, theta: np.ndarray, shared: np.ndarray, items: slice) -> np.ndarray:
        """Per item of one chunk: statistic, used pixels, C-stat, its expectation and variance, chi2."""
        n = theta[items].shape[0]
        out = np.zeros((6, n))
        for ds in self.dataset.sets:
            grid = ds.grid.take(items, items_last=True)
            mu, _ = plan.evaluate(grid, items, theta[items], shared, False)
            flat = np.broadcast_to(mu, grid.full(n)).reshape(-1, n)
            weight = None if ds.weight is None else (ds.weight if ds.weight.shape[0] == 1 else ds.weight[items]).T
            s, _, _ = ds.stat.evaluate(ds.flat[items].T, flat, weight, ds.constant[items], False)
            out[0] += s
            out[1] += ds.n_used()[items]
            if ds.stat.name == "cstat":
                mean, var = cstat_expectation(flat)
                if ds.mask is not None:
                    used = np.broadcast_to(ds.mask, ds.counts.shape).reshape(ds.n_items, -1)[items].T
                    mean, var = mean * used, var * used
                out[2] += s
                out[3] += mean.sum(axis=0)
                out[4] += var.sum(axis=0)
            elif ds.stat.name == "chi2":
                out[5] += s
        return out

    def _evaluation(self, plan: Plan) -> Evaluation:
        n = self.mod.n_items
        size = self.chunk or auto_chunk(self.dataset.sets, self.workers)
        chunks = [slice(a, min(a + size, n)) for a in range(0, n, size)]
        theta, shared = plan.start()
        parts = map_parts(self.workers, lambda sl: self._item_summary(plan, theta, shared, sl), chunks)
        stat_item, used, cstat_item, exp_item, var_item, chi_item = np.concatenate(parts, axis=1)
        has_cstat = any(ds.stat.name == "cstat" for ds in self.dataset.sets)
        nan = np.full(n, np.nan)
        return Evaluation(
            stat=float(stat_item.sum()),
            stat_item=stat_item,
            dof=int(used.sum() - n * plan.n_item - plan.n_shared),
            dof_item=(used - plan.n_item).astype(np.int64),
            cstat=float(cstat_item.sum()) if has_cstat else float("nan"),
            chisq=float(chi_item.sum()),
            cstatexp=float(exp_item.sum()) if has_cstat else float("nan"),
            cstatrms=float(np.sqrt(var_item.sum())) if has_cstat else float("nan"),
            cstat_item=cstat_item if has_cstat else nan,
            cstatexp_item=exp_item if has_cstat else nan,
            cstatrms_item=np.sqrt(var_item) if has_cstat else nan,
        )

    @_logged
    def fit(self, niter: int = 100, tol: float = 1e-6) -> FitResult:
        """Fit all free parameters; returns the result and keeps it as `opt_fit`."""
        if not isinstance(niter, int) or niter < 1 or not tol > 0:
            raise ModelError(f"fit needs niter >= 1 and tol > 0, got niter={niter!r}, tol={tol!r}")
        plan = Plan.of(self.mod)
        raw = self._engine(plan, niter, tol).fit()
        plan.store(raw.theta, raw.shared)
        self.opt_fit = self._result(plan, raw)
        return self.opt_fit

    def _result(self, plan: Plan, raw: EngineResult) -> FitResult:
        evaluation = self._evaluation(plan)
        free_params = plan.item_params + plan.shared_params
        _, grads = plan.values(slice(None), raw.theta, raw.shared, True)
        values, errors, names = {}, {}, []
        for _, _, p in self.mod.parameters():
            dotted = self.mod.dotted(p)
            names.append(dotted)
            values[dotted] = p.value.copy()
            grad = grads.get(p.uid)
            if not grad:
                errors[dotted] = np.full(self.mod.n_items, np.nan)
                continue
            # grad^T C grad over the few free parameters this one depends on (no (items, K) temporaries)
            var = sum(np.asarray(a) * b * raw.covariance[:, k, l] for k, a in grad.items() for l, b in grad.items())
            errors[dotted] = np.sqrt(np.where(var >= 0, var, np.nan))
        return FitResult(
            **vars(evaluation),
            names=names,
            free=[self.mod.dotted(p) for p in free_params],
            values=values,
            errors=errors,
            status=raw.status,
            iterations=raw.iterations,
            covariance=raw.covariance,
            fisher=0.5 * raw.curvature,
        )

    def error(self, isect: int | str, icomp: int | None = None, name: str | None = None, dstat: float = 1.0) -> ErrorResult:
        """Profile-likelihood interval of a free parameter at stat_min + dstat (1.0 = one sigma)."""
        param = self._param(isect, icomp, name)
        dotted = self.mod.dotted(param)
        if not param.free or param.link is not None:
            raise StateError(f"{dotted} is not free; thaw it with par_free() to get an error")
        if not dstat > 0:
            raise ModelError(f"dstat must be > 0, got {dstat!r}")
        full = Plan.of(self.mod)
        engine = self._engine(full)
        theta, shared = full.start()
        stat0, _, H = engine.linearise(slice(None), theta, shared, True, observed=False)
        k = (full.item_params + full.shared_params).index(param)
        cov, _ = linalg.inverse(H)
        per_item = not (param.shared and self.mod.n_items > 1)
        if per_item:
            sigma = np.sqrt(np.clip(2.0 * cov[:, k, k], 0.0, None))
            best, stat_min = param.value.copy(), stat0
        else:
            # a shared parameter: the Schur complement's inverse gives its variance
            sigma = np.array([float(np.sqrt(max(engine.covariances(H)[0][0, k, k], 0.0)))])
            best, stat_min = param.value[:1].copy(), np.array([stat0.sum()])
        sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, np.maximum(np.abs(best), 1.0) * 1e-3)
        saved = {p.uid: p.value.copy() for _, _, p in self.mod.parameters()}
        held = Plan.of(self.mod, exclude=param)

        def refit(trial: np.ndarray) -> np.ndarray:
            plan = Plan(held.model, held.item_params, [] if per_item else held.shared_params, held.order, dict(held.fixed))
            plan.fixed[param.uid] = trial if per_item else np.full(self.mod.n_items, trial[0])
            if plan.n_item + plan.n_shared == 0:
                t, s = plan.start()
                stat, _, _ = Engine(plan, self.dataset.sets, chunk=self.chunk, workers=1).linearise(slice(None), t, s, False)
            else:
                stat = Engine(plan, self.dataset.sets, chunk=self.chunk, workers=self.workers).fit().stat
            return stat if per_item else np.array([stat.sum()])

        try:
            lower, upper, low_min = profile_interval(refit, best, sigma, stat_min, float(dstat), param.lower, param.upper)
        finally:
            for _, _, p in self.mod.parameters():
                p.value = saved[p.uid]
        scalar = lambda a: float(a[0]) if (not per_item or self.mod.n_items == 1) else a  # noqa: E731
        found = np.isfinite(low_min)
        return ErrorResult(
            dotted, scalar(best), scalar(lower), scalar(upper), float(dstat),
            bool(found[0]) if (not per_item or self.mod.n_items == 1) else found, scalar(low_min),
        )

    # --- logs and state ----------------------------------------------------------------------

    COMMANDS = frozenset(
        {"data_array", "data_del", "fit_stat", "com", "com_del", "com_rel", "guess", "par", "par_fix", "par_free",
         "par_range", "par_share", "par_couple", "par_expr", "par_decouple", "fit"}
    )

    def log_save(self, path: str | os.PathLike) -> None:
        """Write every state-changing call so far to path (JSON lines) and path + '.npz' (arrays)."""
        self.logs.save(path, self.version)

    def log_exe(self, path: str | os.PathLike) -> None:
        """Replay a command log written by log_save into this session."""
        _, lines, store = persistence.read(path, persistence.LOG_FORMAT)
        for command, args, kwargs in persistence.CommandLog.decoded(lines, store, self.COMMANDS):
            getattr(self, command)(*args, **kwargs)

    def save(self, path: str | os.PathLike) -> None:
        """Save data, model, last fit and log as versioned JSON (path) + arrays (path + '.npz')."""
        from .state import session_state

        header, store = session_state(self)
        persistence.write(path, header, [], store)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Session":
        """A session restored from save(); needs no user code and never unpickles."""
        from .state import restore_session

        header, _, store = persistence.read(path, persistence.SESSION_FORMAT)
        try:
            return restore_session(cls, header, store)
        except (KeyError, TypeError, IndexError) as error:
            raise SessionFileError(f"{os.fspath(path)!r}: malformed session file ({error!r})") from error

    def plot(self, path: str | os.PathLike, ins: int = 1, item: int = 0) -> None:
        """Write a PNG of data, model and residuals of one item of one data set (needs matplotlib)."""
        from .plotting import plot_fit

        plot_fit(self, path, ins, item)

    @staticmethod
    def components() -> dict[str, str]:
        """The registered component names and what they model."""
        return {name: cls.summary for name, cls in sorted(COMPONENTS.items())}
