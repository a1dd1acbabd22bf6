"""The database half of the write protocol: everything a task output needs, in ONE transaction.

The product file is placed first (atomically, see files.py); then `record_outputs` upserts the
parameter set, the run, its inputs (acquisitions and lineage), the product row (path relative
to the data root, SHA-256, size, format), the result rows, and one `run_output` marker per
result table, and commits once. A crash before the commit leaves a file without a complete row:
`exists()` is false and a re-run finishes the job. Writers on the same key are serialised by
the run row's lock (BEGIN IMMEDIATE on SQLite, SELECT ... FOR UPDATE on PostgreSQL), and each
records the product that is on disk when it commits, so the last writer leaves them consistent.
"""

from __future__ import annotations

import math
import os
import platform
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from importlib import metadata
from typing import Any

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .. import __version__
from .database import Database
from .errors import ProductError, TargetError
from .files import WrittenFile, file_sha256
from .models import Acquisition, Base, ParameterSet, Product, RunInput, RunOutput, TaskRun, utcnow
from .task import Task

SUPPLIED = ("id", "run_id")  # columns the target fills in itself
INPUT_KEY = "input"  # a row may name a task input by role; stored as its acquisition_id


@lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    """The versions of this process, looked up once (package metadata lookups are slow)."""
    versions = {"specpy": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("numpy", "astropy", "sqlalchemy", "scipy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return tuple(versions.items())


def code_versions() -> dict[str, str]:
    """The versions a run is recorded with: specpy, Python, the platform and the key libraries."""
    return dict(_versions())


def insert_ignore(session: Session, model: type[Base], values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: race-free get-or-create (never SELECT-then-INSERT)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise TargetError(f"database dialect {dialect!r} is not supported; use SQLite or PostgreSQL")
    session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=list(keys)))


def result_columns(model: type[Base]) -> list[str]:
    """The columns of a result table that row data may set."""
    return [column.key for column in model.__table__.columns if column.key not in SUPPLIED]


def plain(value: Any) -> Any:
    """A database value from numpy/astropy scalars; NaN and masked values become NULL."""
    if value is np.ma.masked or value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def result_rows(model: type[Base], data: Any) -> list[dict[str, Any]]:
    """Rows from a dict (one row), a list of dicts, or an astropy Table; unknown columns are refused."""
    from astropy.table import Table

    if isinstance(data, Mapping):
        rows: Iterable[Mapping[str, Any]] = [data]
    elif isinstance(data, Table):
        rows = [dict(zip(data.colnames, row)) for row in data.iterrows()]
    elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        rows = data
    else:
        raise TargetError(f"{model.__tablename__}: data must be a dict, a list of dicts or an astropy Table, not {type(data).__name__}")
    columns = result_columns(model)
    allowed = set(columns) | ({INPUT_KEY} if "acquisition_id" in model.__table__.columns else set())
    required = {name for name in columns if not model.__table__.columns[name].nullable}
    result = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TargetError(f"{model.__tablename__}: row {index} is a {type(row).__name__}, not a dict")
        unknown, missing = sorted(set(row) - allowed), sorted(required - set(row))
        if unknown:
            raise TargetError(f"{model.__tablename__}: unknown columns {unknown}; allowed: {sorted(allowed)}")
        if missing:
            raise TargetError(f"{model.__tablename__}: row {index} lacks the required columns {missing}")
        result.append({**dict.fromkeys(columns), **{name: plain(value) for name, value in row.items()}})
    return result


def _id_of(session: Session, model: type[Base], **where: Any) -> int:
    """The id of the one row matching `where`."""
    return session.execute(select(model.id).filter_by(**where)).scalar_one()


def _claim_run(session: Session, task: Task, started: datetime) -> TaskRun:
    """The task's run row, created if missing, locked for the rest of the transaction.

    A new row starts as failed/'not finished'; the same transaction completes it or records the
    real error, so no other reader ever sees that placeholder.
    """
    insert_ignore(session, ParameterSet, {"sha256": task.parameter_hash, "canonical_json": task.parameters_json,
                                          "created": utcnow()}, ["sha256"])
    parameter_set = _id_of(session, ParameterSet, sha256=task.parameter_hash)
    now = utcnow()
    insert_ignore(session, TaskRun, {
        "key": task.key, "name": task.name, "parameter_set_id": parameter_set, "version": task.version,
        "version_major_minor": task.version_major_minor, "status": "failed", "host": socket.gethostname(),
        "pid": os.getpid(), "started_at": started, "versions": code_versions(), "error": "not finished",
        "created": now, "modified": now}, ["key"])
    return session.execute(select(TaskRun).where(TaskRun.key == task.key).with_for_update()).scalar_one()


def _record_inputs(session: Session, run: TaskRun, task: Task) -> dict[str, int]:
    """Acquisitions (get-or-create by content hash) and lineage rows; returns role -> acquisition id."""
    acquisitions = {}
    for item in task.inputs:
        acquisition = None
        if item.acquisition is not None:
            insert_ignore(session, Acquisition, {**item.acquisition, "created": utcnow()}, ["sha256"])
            acquisition = acquisitions[item.role] = _id_of(session, Acquisition, sha256=item.sha256)
        insert_ignore(session, RunInput, {"run_id": run.id, "role": item.role, "sha256": item.sha256,
                                          "acquisition_id": acquisition}, ["run_id", "role"])
    return acquisitions


def disk_state(root: os.PathLike | str, product: WrittenFile) -> tuple[str, str, int]:
    """(relative path, sha256, size) of the product file on disk now; rehashed only if another writer replaced ours."""
    relative = os.path.relpath(product.path, root)
    if relative.startswith(".."):
        raise ProductError(f"product {product.path} is outside the data root {root}")
    if product.is_on_disk():
        return relative, product.sha256, product.size
    if not os.path.exists(product.path):
        raise ProductError(f"product {product.path} vanished before its rows were committed; re-run the task")
    return relative, file_sha256(product.path), os.path.getsize(product.path)


def _record_product(session: Session, run: TaskRun, state: tuple[str, str, int], kind: str, file_format: str) -> int:
    """Insert or update the run's product row of this kind; returns its id."""
    path, sha256, size = state
    insert_ignore(session, Product, {"run_id": run.id, "kind": kind, "path": path, "sha256": sha256, "size": size,
                                     "format": file_format, "created": utcnow()}, ["run_id", "kind"])
    session.execute(update(Product).where(Product.run_id == run.id, Product.kind == kind)
                    .values(path=path, sha256=sha256, size=size, format=file_format))
    return _id_of(session, Product, run_id=run.id, kind=kind)


def _unchanged(session: Session, run: TaskRun, models: Iterable[type[Base]], state: tuple[str, str, int] | None,
               shared: int | None, kind: str) -> bool:
    """True if the run is complete with every marker, pointing at the same product as this write would."""
    if run.status != "complete":
        return False
    targets = {model.__tablename__ for model in models}
    query = select(RunOutput.target, RunOutput.product_id).where(RunOutput.run_id == run.id)
    markers = {target: product for target, product in session.execute(query)}
    if not targets <= set(markers):
        return False
    if shared is not None:
        return all(markers[target] == shared for target in targets)
    if state is None:
        return True
    recorded = session.execute(select(Product.path, Product.sha256, Product.size)
                               .where(Product.run_id == run.id, Product.kind == kind)).one_or_none()
    return recorded is not None and tuple(recorded) == state


def record_outputs(database: Database, task: Task, results: Mapping[type[Base], Any], product: WrittenFile | None = None,
                   *, shared_product: Product | None = None, kind: str = "AstraSource", file_format: str = "fits",
                   started: datetime | None = None) -> bool:
    """Commit a task's result rows (per table) and its product in one transaction; False if nothing changed.

    `product` is a file this run placed; `shared_product` is another run's product row that this
    run's output reuses (copy_from): it is linked, and recorded as an input, never duplicated.
    """
    prepared = {model: result_rows(model, data) for model, data in results.items()}
    with database.transaction() as session:
        run = _claim_run(session, task, started or utcnow())
        state = disk_state(database.root, product) if product is not None else None
        shared = shared_product.id if shared_product is not None else None
        if _unchanged(session, run, prepared, state, shared, kind):
            return False
        acquisitions = _record_inputs(session, run, task)
        product_id = _record_product(session, run, state, kind, file_format) if state is not None else shared
        if shared_product is not None:
            insert_ignore(session, RunInput, {"run_id": run.id, "role": "copy_of", "sha256": shared_product.sha256,
                                              "product_id": shared}, ["run_id", "role"])
        for model, rows in prepared.items():
            _replace_rows(session, run, model, rows, acquisitions, product_id)
        _complete(session, run, task, started)
    return True


def _replace_rows(session: Session, run: TaskRun, model: type[Base], rows: list[dict[str, Any]],
                  acquisitions: Mapping[str, int], product_id: int | None) -> None:
    """The run's rows of one result table, replaced, and its commit marker."""
    for row in rows:
        if INPUT_KEY in row:
            role = row.pop(INPUT_KEY)
            if role not in acquisitions:
                raise TargetError(f"{model.__tablename__}: row names input {role!r}; the task's stack inputs are {sorted(acquisitions)}")
            row["acquisition_id"] = acquisitions[role]
    session.execute(delete(model).where(model.run_id == run.id))
    if rows:
        session.execute(model.__table__.insert(), [{**row, "run_id": run.id} for row in rows])
    insert_ignore(session, RunOutput, {"run_id": run.id, "target": model.__tablename__, "product_id": product_id,
                                       "rows": len(rows), "completed_at": utcnow()}, ["run_id", "target"])
    session.execute(update(RunOutput).where(RunOutput.run_id == run.id, RunOutput.target == model.__tablename__)
                    .values(product_id=product_id, rows=len(rows), completed_at=utcnow()))


def _complete(session: Session, run: TaskRun, task: Task, started: datetime | None) -> None:
    """Mark the run complete, with where and with which code it finished."""
    now = utcnow()
    run.status, run.error = "complete", None
    run.host, run.pid = socket.gethostname(), os.getpid()
    run.version, run.versions = task.version, code_versions()
    run.started_at = started or run.started_at
    run.finished_at = run.modified = now


def record_failure(database: Database, task: Task, error: str, started: datetime | None = None) -> None:
    """Record that a run failed, with the error text; a complete run is never downgraded."""
    with database.transaction() as session:
        run = _claim_run(session, task, started or utcnow())
        if run.status == "complete":
            return
        run.error, run.host, run.pid = error[:10000], socket.gethostname(), os.getpid()
        run.finished_at = run.modified = utcnow()


def record_started(database: Database, task: Task, started: datetime | None = None) -> None:
    """Record that a run has begun: status 'started' until it completes (a killed process leaves it so)."""
    with database.transaction() as session:
        run = _claim_run(session, task, started or utcnow())
        if run.status == "complete":
            return
        run.status, run.error, run.host, run.pid = "started", None, socket.gethostname(), os.getpid()
        run.modified = utcnow()
