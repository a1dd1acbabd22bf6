"""The database half of the write protocol: everything a task output needs, in ONE transaction.

The product file is placed first (atomically, see files.py); then `record_outputs` upserts the
parameter set, the run, its inputs (acquisitions and lineage), the product row (path relative
to the data root, SHA-256, size, format), the result rows, and one `run_output` marker per
result table, and commits once. A crash before the commit leaves a file without a complete row:
`exists()` is false and a re-run finishes the job. Writers on the same key are serialised by
the run row's lock (BEGIN IMMEDIATE on SQLite, SELECT ... FOR UPDATE on PostgreSQL), and each
records the product that is on disk when it commits, so the last writer leaves them consistent.
The statements are Core INSERT ... ON CONFLICT (with RETURNING where an id is needed) on the
tables, so a new run costs about ten statements and no ORM object loads.
"""

from __future__ import annotations

import math
import os
import platform
import socket
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import metadata
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select, update
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


def _insert(session: Session) -> Callable[..., Any]:
    """The INSERT construct of the session's dialect (with ON CONFLICT clauses); SQLite and PostgreSQL only."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise TargetError(f"database dialect {dialect!r} is not supported; use SQLite or PostgreSQL")
    return insert


def insert_ignore(session: Session, model: type[Base], values: Mapping[str, Any], keys: Sequence[str],
                  returning: bool = False) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING: race-free get-or-create (never SELECT-then-INSERT).

    With `returning`, the id of the row this statement created (None if it existed already).
    """
    table = model.__table__
    statement = _insert(session)(table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    if not returning:
        session.execute(statement)
        return None
    return session.execute(statement.returning(table.c.id)).scalar_one_or_none()


def upsert(session: Session, model: type[Base], row: Mapping[str, Any], keys: Sequence[str], new: bool = False) -> int:
    """INSERT ... ON CONFLICT DO UPDATE of every given column except the keys and `created`; the row's id.

    `new` says the row cannot exist yet (its run was created in this transaction): then a plain
    INSERT, which unlike ON CONFLICT DO UPDATE stays in SQLAlchemy's compiled-statement cache.
    """
    table = model.__table__
    if new:
        return session.execute(insert(table).values(**row).returning(table.c.id)).scalar_one()
    statement = _insert(session)(table).values(**row)
    changed = {name: statement.excluded[name] for name in row if name not in keys and name != "created"}
    return session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changed).returning(table.c.id)).scalar_one()


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


@dataclass(frozen=True)
class Claim:
    """The task's run row as this transaction holds it: id, status, and whether this transaction created it."""

    id: int
    status: str
    created: bool


def _claim_run(session: Session, task: Task, started: datetime) -> Claim:
    """The task's run row, created if missing, locked for the rest of the transaction.

    A new row starts as failed/'not finished'; the same transaction completes it or records the
    real error, so no other reader ever sees that placeholder. A row this transaction created is
    invisible to every other writer until the commit, so only an existing one is locked.
    """
    insert_ignore(session, ParameterSet, {"sha256": task.parameter_hash, "canonical_json": task.parameters_json,
                                          "created": utcnow()}, ["sha256"])
    parameter_set = select(ParameterSet.id).where(ParameterSet.sha256 == task.parameter_hash).scalar_subquery()
    now = utcnow()
    created = insert_ignore(session, TaskRun, {
        "key": task.key, "name": task.name, "parameter_set_id": parameter_set, "version": task.version,
        "version_major_minor": task.version_major_minor, "status": "failed", "host": socket.gethostname(),
        "pid": os.getpid(), "started_at": started, "versions": code_versions(), "error": "not finished",
        "created": now, "modified": now}, ["key"], returning=True)
    if created is not None:
        return Claim(created, "failed", True)
    run_id, status = session.execute(select(TaskRun.id, TaskRun.status).where(TaskRun.key == task.key).with_for_update()).one()
    return Claim(run_id, status, False)


def _update_run(session: Session, claim: Claim, **values: Any) -> None:
    """Set columns of the claimed run row."""
    table = TaskRun.__table__
    session.execute(update(table).where(table.c.id == claim.id).values(**values))


def _record_inputs(session: Session, claim: Claim, task: Task) -> dict[str, int]:
    """Acquisitions (get-or-create by content hash) and lineage rows; returns role -> acquisition id."""
    acquisitions = {}
    for item in task.inputs:
        acquisition = None
        if item.acquisition is not None:
            acquisition = insert_ignore(session, Acquisition, {**item.acquisition, "created": utcnow()}, ["sha256"], returning=True)
            if acquisition is None:
                acquisition = _id_of(session, Acquisition, sha256=item.sha256)
            acquisitions[item.role] = acquisition
        insert_ignore(session, RunInput, {"run_id": claim.id, "role": item.role, "sha256": item.sha256,
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


def _record_product(session: Session, claim: Claim, state: tuple[str, str, int], kind: str, file_format: str) -> int:
    """Insert or update the run's product row of this kind; returns its id."""
    path, sha256, size = state
    return upsert(session, Product, {"run_id": claim.id, "kind": kind, "path": path, "sha256": sha256, "size": size,
                                     "format": file_format, "created": utcnow()}, ["run_id", "kind"], claim.created)


def _unchanged(session: Session, claim: Claim, models: Iterable[type[Base]], state: tuple[str, str, int] | None,
               shared: int | None, kind: str) -> bool:
    """True if the run is complete with every marker, pointing at the same product as this write would."""
    if claim.status != "complete":
        return False
    targets = {model.__tablename__ for model in models}
    query = select(RunOutput.target, RunOutput.product_id).where(RunOutput.run_id == claim.id)
    markers = {target: product for target, product in session.execute(query)}
    if not targets <= set(markers):
        return False
    if shared is not None:
        return all(markers[target] == shared for target in targets)
    if state is None:
        return True
    recorded = session.execute(select(Product.path, Product.sha256, Product.size)
                               .where(Product.run_id == claim.id, Product.kind == kind)).one_or_none()
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
        claim = _claim_run(session, task, started or utcnow())
        state = disk_state(database.root, product) if product is not None else None
        shared = shared_product.id if shared_product is not None else None
        if _unchanged(session, claim, prepared, state, shared, kind):
            return False
        acquisitions = _record_inputs(session, claim, task)
        product_id = _record_product(session, claim, state, kind, file_format) if state is not None else shared
        if shared_product is not None:
            insert_ignore(session, RunInput, {"run_id": claim.id, "role": "copy_of", "sha256": shared_product.sha256,
                                              "product_id": shared}, ["run_id", "role"])
        for model, rows in prepared.items():
            _replace_rows(session, claim, model, rows, acquisitions)
        _mark(session, claim, {model.__tablename__: len(rows) for model, rows in prepared.items()}, product_id)
        _complete(session, claim, task, started)
    return True


def _replace_rows(session: Session, claim: Claim, model: type[Base], rows: list[dict[str, Any]],
                  acquisitions: Mapping[str, int]) -> None:
    """The run's rows of one result table, replaced (a run this transaction created has none to delete)."""
    for row in rows:
        if INPUT_KEY in row:
            role = row.pop(INPUT_KEY)
            if role not in acquisitions:
                raise TargetError(f"{model.__tablename__}: row names input {role!r}; the task's stack inputs are {sorted(acquisitions)}")
            row["acquisition_id"] = acquisitions[role]
    table = model.__table__
    if not claim.created:
        session.execute(delete(table).where(table.c.run_id == claim.id))
    if rows:
        session.execute(table.insert(), [{**row, "run_id": claim.id} for row in rows])


def _mark(session: Session, claim: Claim, counts: Mapping[str, int], product_id: int | None) -> None:
    """The commit markers: per result table, its row count and product (one executemany for a new run)."""
    now = utcnow()
    markers = [{"run_id": claim.id, "target": target, "product_id": product_id, "rows": rows, "completed_at": now}
               for target, rows in counts.items()]
    if claim.created and markers:
        session.execute(insert(RunOutput.__table__), markers)
    else:
        for marker in markers:
            upsert(session, RunOutput, marker, ["run_id", "target"])


def _complete(session: Session, claim: Claim, task: Task, started: datetime | None) -> None:
    """Mark the run complete, with where and with which code it finished."""
    now = utcnow()
    values = {"started_at": started} if started is not None else {}
    _update_run(session, claim, status="complete", error=None, host=socket.gethostname(), pid=os.getpid(),
                version=task.version, versions=code_versions(), finished_at=now, modified=now, **values)


def record_failure(database: Database, task: Task, error: str, started: datetime | None = None) -> None:
    """Record that a run failed, with the error text; a complete run is never downgraded."""
    with database.transaction() as session:
        claim = _claim_run(session, task, started or utcnow())
        if claim.status == "complete":
            return
        now = utcnow()
        _update_run(session, claim, error=error[:10000], host=socket.gethostname(), pid=os.getpid(), finished_at=now, modified=now)


def record_started(database: Database, task: Task, started: datetime | None = None) -> None:
    """Record that a run has begun: status 'started' until it completes (a killed process leaves it so)."""
    with database.transaction() as session:
        claim = _claim_run(session, task, started or utcnow())
        if claim.status == "complete":
            return
        _update_run(session, claim, status="started", error=None, host=socket.gethostname(), pid=os.getpid(), modified=utcnow())
