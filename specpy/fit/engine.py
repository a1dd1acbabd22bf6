"""The batch fitter: vectorised Levenberg-Marquardt / Fisher scoring over items, chunked and threaded.

Each item has its own free parameters; parameters shared by all items are solved by block
elimination (a Schur complement over the item blocks), so the cost stays linear in the number of
items. Without shared parameters each worker thread converges its own range of items, chunk by
chunk (numpy releases the GIL); with them each iteration linearises all chunks in the pool, then
takes one global step. Results do not depend on the number of threads or the chunk size.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from . import linalg
from .data import DataSet
from .errors import StateError
from .model import Plan
from .scratch import Scratch
from .separable import Separable

# pixels x items per chunk: long rows of items per numpy call and few calls per item, as the
# Python between the calls holds the GIL the other workers wait for (11x11 spots: 4096 items)
CHUNK_ELEMENTS = 524288
MAX_CHUNK = 16384


def auto_chunk(datasets: Sequence[DataSet], workers: int = 1) -> int:
    """Items per chunk so that one (items, pixels) temporary holds about CHUNK_ELEMENTS values,
    and at most a worker's share of the items, so that every worker gets some."""
    pixels = max(1, sum(int(np.prod(ds.counts.shape[1:])) for ds in datasets))
    size = min(MAX_CHUNK, max(16, 2 ** round(math.log2(max(1.0, CHUNK_ELEMENTS / pixels)))))
    share = -(-datasets[0].n_items // max(1, workers))
    return int(min(size, max(256, share)))  # below a few hundred items a thread costs more than it saves


class Status(IntEnum):
    """Per-item outcome of a fit."""

    CONVERGED = 0
    MAX_ITER = 1  # stopped at the iteration limit
    SINGULAR = 2  # curvature matrix not positive definite (a parameter without influence)
    AT_BOUND = 3  # converged with a free parameter on one of its bounds
    INVALID = 4  # the statistic is not finite at the start values


@dataclass
class EngineResult:
    """Raw outcome: free values, per-item statistic, status, iterations and curvature matrices."""

    theta: np.ndarray  # (items, n_item)
    shared: np.ndarray  # (n_shared,)
    stat: np.ndarray  # (items,)
    status: np.ndarray  # (items,) Status codes
    iterations: np.ndarray  # (items,)
    curvature: np.ndarray  # (items, K, K): H = sum h J J^T per item, K = n_item + n_shared
    covariance: np.ndarray  # (items, K, K): covariance of (item parameters, shared parameters)


def default_workers() -> int:
    """Worker threads: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise sum of a * b for (m, n or 1) arrays."""
    return np.einsum("m...,m...->...", a, b)


def columns(d: np.ndarray | float, shape: tuple[int, ...]) -> np.ndarray:
    """A derivative that broadcasts against items-last values of `shape`, as (pixels or 1, items or 1) columns."""
    d = np.asarray(d, dtype=float)
    if d.size == 1 or math.prod(d.shape[:-1]) == 1:
        return d.reshape(1, -1)
    if d.shape[:-1] != shape[:-1]:
        d = np.broadcast_to(d, shape[:-1] + d.shape[-1:])
    return d.reshape(-1, d.shape[-1])


def accumulate(J: Sequence[np.ndarray | None], dc: np.ndarray, h: np.ndarray, g: np.ndarray, H: np.ndarray) -> None:
    """Add one data set's gradient sum_m J_k dc and curvature sum_m h J_k J_l to g (K, n) and the upper triangle of H (K, K, n).

    dc and h are (pixels, n) columns and each derivative (pixels or 1, n or 1) (see `columns`). A
    derivative that is constant over an item's pixels (a background level) never becomes a
    pixel array: its terms are column sums of the others' weighted columns, each computed once.
    """
    full = {k: d for k, d in enumerate(J) if d is not None and d.shape[0] > 1}
    flat = {k: d[0] for k, d in enumerate(J) if d is not None and d.shape[0] == 1}
    weighted = {k: d * h for k, d in full.items()}
    sums = {k: np.add.reduce(w, axis=0) for k, w in weighted.items()} if flat else {}
    keys = sorted(full)
    for a, k in enumerate(keys):
        g[k] += _dot(full[k], dc)
        for l in keys[a:]:
            H[k, l] += _dot(weighted[k], full[l])
    if not flat:
        return
    dc_sum, h_sum = np.add.reduce(dc, axis=0), np.add.reduce(h, axis=0)
    for k, d in flat.items():
        g[k] += d * dc_sum
        for l, w_sum in sums.items():
            H[min(k, l), max(k, l)] += d * w_sum
        for l, e in flat.items():
            if l >= k:
                H[k, l] += d * e * h_sum


def hold_at_bounds(values: np.ndarray, g: np.ndarray, H: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and curvature with parameters that sit on a bound and are pushed outwards held still.

    Their gradient is zeroed and their row and column of the curvature replaced by the identity,
    so the step (projected Newton) moves only the others and convergence is not blocked by a
    step that clipping would undo.
    """
    held = ((values <= lower) & (g > 0)) | ((values >= upper) & (g < 0))
    if not np.any(held):
        return g, H
    keep = ~held
    H = H * keep[:, :, None] * keep[:, None, :]
    index = np.arange(H.shape[1])
    H[:, index, index] += held
    return np.where(held, 0.0, g), H


class Engine:
    """Fits a plan (which parameters are free) to data sets that share one batch axis."""

    def __init__(
        self,
        plan: Plan,
        datasets: Sequence[DataSet],
        *,
        max_iter: int = 100,
        tol: float = 1e-6,
        chunk: int | None = None,
        workers: int | None = None,
        separable: bool = True,
    ) -> None:
        if not datasets:
            raise StateError("no data loaded; call data() before fitting")
        self.plan = plan
        self.datasets = list(datasets)
        self.n_items = datasets[0].n_items
        self.max_iter, self.tol = int(max_iter), float(tol)
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self.chunk = auto_chunk(datasets, self.workers) if chunk is None else max(1, int(chunk))
        self.lower, self.upper = plan.bounds()
        self.P, self.S = plan.n_item, plan.n_shared
        self._local = threading.local()
        self.separable = Separable.of(plan, self.datasets) if separable else None

    # --- linearisation -----------------------------------------------------------------------

    def linearise(self, items: np.ndarray | slice, theta: np.ndarray, shared: np.ndarray, jac: bool, observed: bool = True):
        """Per-item statistic and, with jac, gradient (n, K) and curvature (n, K, K) of the statistic.

        observed=True gives Newton's curvature for linear parameters, which converges faster in
        joint fits at low counts; errors always come from the expected one (the Fisher matrix).
        Gradient and curvature are views of (K, n) and (K, K, n) arrays (see `linalg`).
        """
        if theta.shape[0] == 1:  # numpy sums one column pairwise but many column by column: same sums for a lone item
            twice = np.repeat(np.arange(self.n_items)[items], 2)
            stat, g, H = self.linearise(twice, np.repeat(theta, 2, axis=0), shared, jac, observed)
            return stat[:1], None if g is None else g[:1], None if H is None else H[:1]
        n = theta.shape[0]
        K = self.P + self.S
        stat = np.zeros(n)
        g = np.zeros((K, n)) if jac else None
        H = np.zeros((K, K, n)) if jac else None
        scratch = self._scratch()
        for number, ds in enumerate(self.datasets):
            with np.errstate(all="ignore"):  # trial steps may leave the valid domain; they get stat = inf
                grid = ds.grid.take(items, items_last=True)
                fast = self.separable is not None
                if fast:
                    mu, J = self.separable.evaluate(grid, items, theta, shared, jac, scratch.get(("model", number), grid.full(n)))
                else:
                    mu, J = self.plan.evaluate(grid, items, theta, shared, jac)
                shape = grid.full(n)
                mu = mu.reshape(-1, n)
                counts = scratch.columns(("counts", number), ds.flat, items)
                weight = None if ds.weight is None else (ds.weight.T if ds.weight.shape[0] == 1 else scratch.columns(("weight", number), ds.weight, items))
                s, dc, h = ds.stat.evaluate(counts, mu, weight, ds.constant[items], jac, observed)
                stat += s
                if jac and fast:
                    J.accumulate(dc, h, g, H)
                elif jac:
                    accumulate([None if d is None else columns(d, shape) for d in J], dc, h, g, H)
        stat = np.where(np.isfinite(stat), stat, np.inf)
        if not jac:
            return stat, None, None
        for k in range(K):
            for l in range(k + 1, K):
                H[l, k] = H[k, l]
        return stat, g.T, H.transpose(2, 0, 1)

    def _scratch(self) -> Scratch:
        """The calling worker thread's scratch buffers."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = Scratch()
        return scratch

    def _clip(self, theta: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(theta, lower), upper)

    # --- independent items -------------------------------------------------------------------

    def _chunks(self, idx: np.ndarray) -> list[np.ndarray | slice]:
        """Split item numbers into chunks; a contiguous run becomes a slice (views, no copies)."""
        out: list[np.ndarray | slice] = []
        for a in range(0, idx.size, self.chunk):
            part = idx[a : a + self.chunk]
            contiguous = part[-1] - part[0] + 1 == part.size
            out.append(slice(int(part[0]), int(part[-1]) + 1) if contiguous else part)
        return out

    def _step(self, state: dict[str, np.ndarray], items: np.ndarray | slice) -> None:
        """One Levenberg-Marquardt iteration for a chunk of active items, written back into `state`."""
        lo, hi = self.lower[: self.P], self.upper[: self.P]
        theta, g, H, lam, stat = (state[k][items] for k in ("theta", "g", "H", "lam", "stat"))
        numbers = np.arange(items.start, items.stop) if isinstance(items, slice) else items
        g, H = hold_at_bounds(theta, g, H, lo, hi)
        step, ok, predicted = linalg.damped_solve(H, g, lam)  # predicted: decrease of the Gauss-Newton model
        finished = ok & (predicted < self.tol) & (lam <= 1e-2)
        state["status"][numbers[~ok]] = Status.SINGULAR
        state["active"][numbers[~ok | finished]] = False
        go = ok & ~finished
        if not np.any(go):
            return
        if not np.all(go):
            numbers, theta, step, lam, stat = numbers[go], theta[go], step[go], lam[go], stat[go]
            items = numbers
        trial = self._clip(theta + step, lo, hi)
        s_new, g_new, H_new = self.linearise(items, trial, np.zeros(0), True, observed=False)
        state["iterations"][numbers] += 1
        better = s_new <= stat
        done = better & (stat - s_new < self.tol) & (lam <= 1e-2)
        accepted = numbers[better] if not np.all(better) else items
        if not np.all(better):
            trial, s_new, g_new, H_new = trial[better], s_new[better], g_new[better], H_new[better]
        state["theta"][accepted] = trial
        state["g"][accepted] = g_new
        state["H"][accepted] = H_new
        state["stat"][accepted] = s_new
        lam = np.where(better, np.maximum(lam * 0.1, 1e-9), lam * 10.0)
        state["lam"][numbers] = lam
        stuck = ~better & (lam > 1e9)
        state["active"][numbers[done | stuck]] = False

    def _converge(self, state: dict[str, np.ndarray], part: slice) -> None:
        """Linearise a contiguous range of items at the start values, then iterate until none is active.

        Each iteration re-chunks the items still active, so chunks stay full as items converge;
        a range is worked by one thread from start to end (no step waits for another range).
        """
        empty = np.zeros(0)
        for sl in self._chunks(np.arange(part.start, part.stop)):
            # Fisher scoring: the expected curvature steps well for independent items and, at the
            # end, is already the Fisher matrix of the solution
            stat, g, H = self.linearise(sl, state["theta"][sl], empty, True, observed=False)
            state["stat"][sl], state["g"][sl], state["H"][sl] = stat, g, H
        state["status"][part] = np.where(np.isfinite(state["stat"][part]), Status.CONVERGED, Status.INVALID)
        state["active"][part] = state["status"][part] == Status.CONVERGED
        for _ in range(self.max_iter):
            idx = part.start + np.flatnonzero(state["active"][part])
            if idx.size == 0:
                break
            for items in self._chunks(idx):
                self._step(state, items)
        for sl in self._chunks(np.arange(part.start, part.stop)):  # covariance 2 H^-1 from the final Fisher matrices
            cov, state["invertible"][sl] = linalg.inverse(state["H"][sl])
            np.multiply(cov, 2.0, out=state["covariance"][sl])

    def _map(self, pool: ThreadPoolExecutor | None, function, parts: list) -> list:
        """Apply function to every part, in the pool when there is one and more than one part."""
        if pool is None or len(parts) < 2:
            return [function(part) for part in parts]
        return list(pool.map(function, parts))

    def _independent(self, pool: ThreadPoolExecutor | None) -> EngineResult:
        """Converge every item on its own; the items are split in one contiguous range per worker."""
        theta, shared = self.plan.start()
        n, K = self.n_items, self.P
        state = {
            "theta": self._clip(theta, self.lower[: self.P], self.upper[: self.P]),
            "g": np.zeros((K, n)).T, "H": np.zeros((K, K, n)).transpose(2, 0, 1),  # structure of arrays, see linalg
            "stat": np.zeros(n), "lam": np.full(n, 1e-3), "status": np.zeros(n, dtype=np.int8),
            "iterations": np.zeros(n, dtype=np.int32), "active": np.zeros(n, dtype=bool),
            "covariance": np.empty((n, K, K)), "invertible": np.zeros(n, dtype=bool),
        }
        ranges = 1 if pool is None else min(self.workers, -(-n // self.chunk))
        bounds = np.linspace(0, n, ranges + 1).astype(int)
        self._map(pool, lambda part: self._converge(state, part), [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])])
        status = state["status"]
        status[state["active"]] = Status.MAX_ITER
        status = np.where((status == Status.CONVERGED) & ~state["invertible"], Status.SINGULAR, status)
        return self._finish(state["theta"], shared, state["stat"], status, state["iterations"], state["H"], state["covariance"])

    # --- shared parameters -------------------------------------------------------------------

    def _linearise_all(self, pool: ThreadPoolExecutor | None, theta: np.ndarray, shared: np.ndarray, observed: bool = True):
        parts = self._map(pool, lambda sl: self.linearise(sl, theta[sl], shared, True, observed), self._chunks(np.arange(self.n_items)))
        return tuple(np.concatenate(p) for p in zip(*parts))

    def _schur(self, H: np.ndarray, g: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Block-eliminated damped step (item steps, shared step) and which item blocks were solvable."""
        P = self.P
        Hii = H[:, :P, :P] * (1.0 + lam * np.eye(P))
        His = H[:, :P, P:]
        Hss = H[:, P:, P:].sum(axis=0)
        Hss = Hss * (1.0 + lam * np.eye(self.S))
        inv, ok = linalg.inverse(Hii) if P else (np.zeros((H.shape[0], 0, 0)), np.ones(H.shape[0], bool))
        inv = np.where(ok[:, None, None], inv, 0.0)
        A = np.einsum("nij,njs->nis", inv, His)  # Hii^-1 His
        b = np.einsum("nij,nj->ni", inv, g[:, :P])
        M = Hss - np.einsum("nis,nit->st", His, A)
        r = -g[:, P:].sum(axis=0) + np.einsum("nis,ni->s", His, b)
        try:
            ds = np.linalg.solve(M, r)
        except np.linalg.LinAlgError:
            ds = np.full(self.S, np.nan)
        di = -b - np.einsum("nis,s->ni", A, ds)
        return di, ds, ok

    def _global(self, pool: ThreadPoolExecutor | None) -> EngineResult:
        theta, shared = self.plan.start()
        lo, hi = self.lower, self.upper
        theta = self._clip(theta, lo[: self.P], hi[: self.P])
        shared = self._clip(shared, lo[self.P :], hi[self.P :])
        stat, g, H = self._linearise_all(pool, theta, shared)
        n = self.n_items
        if not np.all(np.isfinite(stat)):
            status = np.where(np.isfinite(stat), Status.MAX_ITER, Status.INVALID)
            return self._finish(theta, shared, stat, status, np.zeros(n, np.int32), H, self.covariances(H)[0])
        lam, iterations, converged, singular = 1e-3, 0, False, False
        for _ in range(self.max_iter):
            values = np.concatenate([theta, np.broadcast_to(shared, (n, self.S))], axis=1)
            held_g, held_H = hold_at_bounds(values, g, H, lo, hi)
            di, ds, ok = self._schur(held_H, held_g, lam)
            if not np.all(np.isfinite(ds)) or not np.all(ok):
                singular = True
                break
            # the step in units of each parameter's conditional standard error (Fisher = H / 2)
            item_diag = np.diagonal(held_H[:, : self.P, : self.P], axis1=1, axis2=2)
            shared_diag = np.diagonal(held_H[:, self.P :, self.P :], axis1=1, axis2=2).sum(axis=0)
            size = max(float(np.max(di**2 * item_diag, initial=0.0)), float(np.max(ds**2 * shared_diag, initial=0.0))) / 2.0
            if lam <= 1e-2 and size < self.tol:
                converged = True
                break
            trial = self._clip(theta + di, lo[: self.P], hi[: self.P])
            trial_shared = self._clip(shared + ds, lo[self.P :], hi[self.P :])
            s_new, g_new, H_new = self._linearise_all(pool, trial, trial_shared)
            iterations += 1
            decrease = stat.sum() - s_new.sum()
            if decrease >= 0:
                theta, shared, stat, g, H = trial, trial_shared, s_new, g_new, H_new
                lam = max(lam * 0.1, 1e-9)
            else:
                lam *= 10.0
                if lam > 1e9:
                    converged = True
                    break
        H = self._linearise_all(pool, theta, shared, observed=False)[2]  # the Fisher matrix, for the errors
        covariance, ok = self.covariances(H)
        code = Status.CONVERGED if converged else (Status.SINGULAR if singular else Status.MAX_ITER)
        status = np.where(ok, code, Status.SINGULAR)
        return self._finish(theta, shared, stat, status, np.full(n, iterations, np.int32), H, covariance)

    def covariances(self, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-item covariance 2 H^-1 of (item, shared) parameters from the arrow-shaped block structure."""
        P = self.P
        inv, ok = linalg.inverse(H[:, :P, :P]) if P else (np.zeros((H.shape[0], 0, 0)), np.ones(H.shape[0], bool))
        safe = np.where(ok[:, None, None], inv, 0.0)
        His = H[:, :P, P:]
        A = np.einsum("nij,njs->nis", safe, His)
        M = H[:, P:, P:].sum(axis=0) - np.einsum("nis,nit->st", His, A)
        try:
            m_inv = np.linalg.inv(M)
        except np.linalg.LinAlgError:
            m_inv = np.full((self.S, self.S), np.nan)
        item = inv + np.einsum("nis,st,njt->nij", A, m_inv, A)
        cross = -np.einsum("nis,st->nit", A, m_inv)
        n = H.shape[0]
        top = np.concatenate([item, cross], axis=2)
        bottom = np.concatenate([cross.transpose(0, 2, 1), np.broadcast_to(m_inv, (n, self.S, self.S))], axis=2)
        return 2.0 * np.concatenate([top, bottom], axis=1), ok & np.all(np.isfinite(m_inv))

    # --- entry point -------------------------------------------------------------------------

    def _finish(self, theta, shared, stat, status, iterations, H, covariance) -> EngineResult:
        status = np.asarray(status, dtype=np.int8)
        values = np.concatenate([theta, np.broadcast_to(shared, (theta.shape[0], self.S))], axis=1)
        on_bound = np.any((values <= self.lower) | (values >= self.upper), axis=1)
        status = np.where((status == Status.CONVERGED) & on_bound, Status.AT_BOUND, status).astype(np.int8)
        return EngineResult(theta, shared, stat, status, iterations, H, covariance)

    def fit(self) -> EngineResult:
        """Run the fit; threads are used only when there is more than one chunk."""
        if self.P + self.S == 0:
            raise StateError("no free parameter to fit; free one with par_free()")
        use_pool = self.workers > 1 and self.n_items > self.chunk
        with ThreadPoolExecutor(self.workers) if use_pool else _NoPool() as pool:
            return self._global(pool) if self.S else self._independent(pool)


class _NoPool:
    """Stands in for a thread pool when the work is a single chunk."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
