"""Measurement runs in the database: 'started' at the measurement's begin, 'complete' at its end.

A run is a task row (name 'measurement', parameters: the measurement's name, its autosave file and
when it began). A process killed mid-run (or a run stopped before its last step) leaves the row
'started': `incomplete_runs` lists them, with the file that holds every completed step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import select

from .database import Database
from .models import ParameterSet, TaskRun, utcnow
from .record import record_outputs, record_started
from .task import Task

RUN_TASK = "measurement"


class RunningMeasurement(Protocol):
    """What the run log needs of a measurement (SpecPy's Measurement has these)."""

    def name(self) -> str: ...

    def path(self) -> str: ...


class SignalSource(Protocol):
    """What `RunLog.attach` needs of an application, local or remote."""

    def connect_begin(self, callback: Callable[[], Any], flag: int) -> None: ...

    def connect_end(self, callback: Callable[[], Any], flag: int) -> None: ...

    def current_measurement(self) -> RunningMeasurement: ...


class RunLog:
    """Records each measurement run of an application: 'started' at begin, 'complete' at end."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._open: dict[str, Task] = {}  # autosave path -> the run in progress

    def begin(self, measurement: RunningMeasurement) -> Task:
        """Record that a run of `measurement` has started; returns its task."""
        began = utcnow()
        task = Task(RUN_TASK, {"measurement": measurement.name(), "file": measurement.path(),
                               "began": began.isoformat()})
        record_started(self.database, task, began)
        self._open[measurement.path()] = task
        return task

    def end(self, measurement: RunningMeasurement) -> None:
        """Mark the run of `measurement` complete (nothing happens if its begin was not recorded)."""
        task = self._open.pop(measurement.path(), None)
        if task is not None:
            record_outputs(self.database, task, {})

    def attach(self, application: SignalSource) -> None:
        """Record every run of `application` (its begin and end signals, flag 0)."""
        application.connect_begin(lambda: self.begin(application.current_measurement()), 0)
        application.connect_end(lambda: self.end(application.current_measurement()), 0)


def incomplete_runs(database: Database) -> list[dict[str, Any]]:
    """Measurement runs that began and never completed: measurement, file, began, host, pid."""
    query = (select(TaskRun.started_at, TaskRun.host, TaskRun.pid, ParameterSet.canonical_json)
             .join(ParameterSet, ParameterSet.id == TaskRun.parameter_set_id)
             .where(TaskRun.name == RUN_TASK, TaskRun.status == "started").order_by(TaskRun.started_at))
    with database.session() as session:
        rows = session.execute(query).all()
    return [{**{k: v for k, v in json.loads(parameters).items() if k in ("measurement", "file")},
             "began": started, "host": host, "pid": pid} for started, host, pid, parameters in rows]
