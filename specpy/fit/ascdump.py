"""The session's `asc`: internal quantities as arrays and astropy Tables (SPEX ascdump)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from .errors import StateError
from .model import Plan

if TYPE_CHECKING:
    from .session import Session


class Ascdump:
    """Dumps of the current model, residuals, per-pixel statistic, components and Fisher matrices."""

    def __init__(self, session: "Session") -> None:
        self._session = session

    def model(self, ins: int = 1) -> np.ndarray:
        """The model of data set ins, shaped like its counts (items, *shape)."""
        self._session.dataset.get(ins)
        return self._session.models()[ins - 1]

    def residuals(self, ins: int = 1) -> np.ndarray:
        """Counts minus model for data set ins (masked pixels are 0)."""
        ds = self._session.dataset.get(ins)
        out = ds.counts - self.model(ins)
        return out if ds.mask is None else np.where(ds.mask, out, 0.0)

    def contributions(self, ins: int = 1) -> np.ndarray:
        """Each pixel's contribution to the statistic of data set ins (they sum to its statistic)."""
        ds = self._session.dataset.get(ins)
        mu = self.model(ins).reshape(ds.n_items, -1)
        return ds.stat.pixels(ds.flat, mu, ds.weight).reshape(ds.counts.shape)

    def components(self, ins: int = 1) -> dict[str, np.ndarray]:
        """Each additive component's contribution (with its multiplicative factors), by s<i>.c<j> name."""
        session = self._session
        ds = session.dataset.get(ins)
        session._check()
        plan = Plan.of(session.mod)
        theta, shared = plan.start()
        values, _ = plan.values(slice(None), theta, shared, False)
        out = {}
        for entry in session.mod.entries():
            if entry.component.kind != "additive":
                continue
            product = None
            for part in [entry] + entry.relations:
                p = {name: values[param.uid] for name, param in part.parameters.items()}
                mu, _ = part.component.evaluate(ds.grid, p, frozenset())
                product = mu if product is None else product * mu
            isect, icomp = session.mod.position(entry)
            out[f"s{isect}.c{icomp}"] = np.broadcast_to(product, ds.counts.shape).copy()
        return out

    def fisher(self) -> np.ndarray:
        """Fisher information matrices (items, K, K) of the last fit's free parameters."""
        return self._fit().fisher

    def covariance(self) -> np.ndarray:
        """Covariance matrices (items, K, K) of the last fit's free parameters."""
        return self._fit().covariance

    def table(self) -> Table:
        """The last fit as a table, one row per item."""
        return self._fit().table()

    def parameters(self) -> Table:
        """The parameter table (as par_show prints it)."""
        return self._session.par_table()

    def _fit(self):
        if self._session.opt_fit is None:
            raise StateError("no fit yet; call fit() first")
        return self._session.opt_fit
