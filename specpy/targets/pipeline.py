"""The pipeline: finished stacks of a measurement in, one FITS product and result rows per stack out.

Each stack becomes one Task (name, the analysis parameters, the stack's content hash, the code
version). A task already complete is skipped, so re-running a measurement changes nothing.
Otherwise: analyse, write the FITS product atomically, then commit every row in one
transaction (`write_outputs`). A failing stack is recorded as a failed run with its error text
and does not stop the others.

`Pipeline(database).attach(app)` hooks it to an application's end-of-measurement signal (flag 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import Error
from ..stack import Stack
from .analysis import DEFAULT_PARAMETERS, BeadAnalysis, analyse_beads
from .database import Database
from .fits import AstraSource
from .models import BeadSummary, SpotFit, utcnow
from .record import record_failure, record_outputs
from .target import DatabaseTarget
from .task import Input, Task

ROLE = "image"
TASK_NAME = "bead_fwhm"
OUTPUT_MODELS = (BeadSummary, SpotFit)


class MeasurementLike(Protocol):
    """What the pipeline needs of a measurement: its stacks (SpecPy's Measurement has these)."""

    def number_of_stacks(self) -> int: ...

    def stack(self, position: int) -> Stack: ...


class ApplicationLike(Protocol):
    """What `Pipeline.attach` needs of an application, local or remote."""

    def connect_end(self, callback: Callable[[], Any], flag: int) -> None: ...

    def current_measurement(self) -> MeasurementLike: ...


@dataclass(frozen=True)
class Outcome:
    """What happened to one stack: 'written', 'complete' (already there), or 'failed' with the error."""

    stack: str
    key: str
    status: str
    error: str | None = None
    product: str | None = None


def poisson_ivar(values: np.ndarray) -> np.ndarray:
    """Inverse variance of Poisson counts (variance floored at one count)."""
    return 1.0 / np.maximum(np.asarray(values, dtype=np.float64), 1.0)


def complete(database: Database, task: Task) -> bool:
    """True if every output of the task is committed and its product verifies (hashed once)."""
    first, *rest = (DatabaseTarget(model, task, database) for model in OUTPUT_MODELS)
    return first.exists() and all(target.exists(verify_hash=False) for target in rest)


def write_outputs(database: Database, task: Task, stack: Stack, analysis: BeadAnalysis, started: Any = None) -> bool:
    """The write protocol for one stack: FITS product first (atomic), then all rows in one transaction."""
    source = AstraSource(task, database.root)
    flux = stack.data()
    written = source.write(stack, flux, poisson_ivar(flux), analysis.background, analysis.model,
                           poisson_ivar(analysis.model), analysis.spots)
    results = {BeadSummary: [analysis.summary_row(0, ROLE)], SpotFit: analysis.spot_rows(0, ROLE)}
    return record_outputs(database, task, results, written, started=started)


@dataclass
class Pipeline:
    """The configured analysis (default: bead FWHM via specpy.fit.fit_spots) writing targets into `database`."""

    database: Database
    parameters: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMETERS))
    analyse: Callable[[Stack, Mapping[str, Any]], BeadAnalysis] = analyse_beads
    task_name: str = TASK_NAME

    def task_for(self, stack: Stack) -> Task:
        """The task of one stack: its content hash is taken now, before any analysis runs."""
        return Task(self.task_name, dict(self.parameters), [Input.from_stack(stack, ROLE)])

    def process(self, stack: Stack) -> Outcome:
        """Analyse one stack and write its targets, unless they are already complete."""
        started = utcnow()
        task = self.task_for(stack)
        if complete(self.database, task):
            return Outcome(stack.name(), task.key, "complete", product=str(AstraSource(task, self.database.root).relative_path))
        try:
            write_outputs(self.database, task, stack, self.analyse(stack, self.parameters), started)
        except (Error, OSError) as error:
            record_failure(self.database, task, f"{type(error).__name__}: {error}", started)
            return Outcome(stack.name(), task.key, "failed", error=str(error))
        return Outcome(stack.name(), task.key, "written", product=str(AstraSource(task, self.database.root).relative_path))

    def run(self, stacks: Sequence[Stack]) -> list[Outcome]:
        """Process finished stacks in order; one Outcome each."""
        return [self.process(stack) for stack in stacks]

    def on_measurement_end(self, measurement: MeasurementLike) -> list[Outcome]:
        """The end-of-measurement callback: process every stack of the finished measurement."""
        return self.run([measurement.stack(index) for index in range(measurement.number_of_stacks())])

    def attach(self, application: ApplicationLike) -> Callable[[], list[Outcome]]:
        """Process every measurement `application` finishes (its end signal, flag 0).

        Returns the connected callback, for `application.disconnect_end(callback, 0)`.
        """
        def on_end() -> list[Outcome]:
            return self.on_measurement_end(application.current_measurement())

        application.connect_end(on_end, 0)
        return on_end


def analyse_measurement(measurement: MeasurementLike, database: Database | None = None,
                        parameters: Mapping[str, Any] | None = None) -> list[Outcome]:
    """One-call form: run the default bead pipeline on a finished measurement (default store if no database)."""
    pipeline = Pipeline(database if database is not None else Database(), {**DEFAULT_PARAMETERS, **(parameters or {})})
    return pipeline.on_measurement_end(measurement)
