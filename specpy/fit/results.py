"""Result objects of calc(), fit() and error(): statistics, values, errors, status per item."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from .engine import Status


@dataclass
class Evaluation:
    """The statistic of the current model: totals, per item, and the Kaastra (2017) expectation."""

    stat: float
    stat_item: np.ndarray
    dof: int
    dof_item: np.ndarray
    cstat: float  # sum over data sets fitted with cstat
    chisq: float  # sum over data sets fitted with chi2
    cstatexp: float  # expected C-stat of the model (Kaastra 2017); nan without cstat data
    cstatrms: float  # its standard deviation
    cstat_item: np.ndarray
    cstatexp_item: np.ndarray
    cstatrms_item: np.ndarray

    @property
    def nfree(self) -> int:
        """Degrees of freedom (SPEX's name): used pixels minus free parameters."""
        return self.dof

    def cstat_sigma(self) -> float:
        """How many standard deviations the C-stat lies from its expectation (goodness of fit)."""
        return float((self.cstat - self.cstatexp) / self.cstatrms) if self.cstatrms > 0 else float("nan")


@dataclass
class FitResult(Evaluation):
    """A fit's outcome; also kept as the session's `opt_fit`."""

    names: list[str] = field(default_factory=list)  # dotted names of all parameters
    free: list[str] = field(default_factory=list)  # dotted names of the free parameters
    values: dict[str, np.ndarray] = field(default_factory=dict)  # (items,) per parameter
    errors: dict[str, np.ndarray] = field(default_factory=dict)  # Fisher standard errors (nan if frozen)
    status: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    covariance: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))  # (items, K, K) of `free`
    fisher: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))  # (items, K, K) Fisher information

    @property
    def n_items(self) -> int:
        """Items on the batch axis."""
        return int(self.status.shape[0])

    @property
    def succeeded(self) -> bool:
        """True when every item converged (possibly on a bound)."""
        return bool(np.all((self.status == Status.CONVERGED) | (self.status == Status.AT_BOUND)))

    def value(self, name: str) -> float | np.ndarray:
        """The fitted value of a parameter by dotted name (a float without batch axis)."""
        v = self.values[name]
        return float(v[0]) if v.shape[0] == 1 else v

    def error(self, name: str) -> float | np.ndarray:
        """The Fisher standard error of a parameter by dotted name."""
        v = self.errors[name]
        return float(v[0]) if v.shape[0] == 1 else v

    def table(self) -> Table:
        """One row per item: every parameter, its error (`<name>_err`), status, iterations, statistic."""
        columns: dict[str, np.ndarray] = {}
        for name in self.names:
            columns[name] = self.values[name]
            columns[name + "_err"] = self.errors[name]
        columns["status"] = self.status
        columns["iterations"] = self.iterations
        columns["stat"] = self.stat_item
        columns["cstat"] = self.cstat_item
        columns["cstatexp"] = self.cstatexp_item
        columns["cstatrms"] = self.cstatrms_item
        return Table(columns)


@dataclass
class ErrorResult:
    """A profile-likelihood interval: unpacks as (value, lower, upper) like PYSPEX's error()."""

    parameter: str
    value: float | np.ndarray
    lower: float | np.ndarray
    upper: float | np.ndarray
    dstat: float
    lower_minimum: bool | np.ndarray  # a lower statistic was met while profiling: the fit was not at its minimum
    lower_stat: float | np.ndarray  # the lowest statistic met (nan where none was lower)

    def __iter__(self):
        return iter((self.value, self.lower, self.upper))

    @property
    def lerr(self) -> float | np.ndarray:
        """lower - value (negative), as SPEX reports it."""
        return self.lower - self.value

    @property
    def uerr(self) -> float | np.ndarray:
        """upper - value."""
        return self.upper - self.value
