"""DatabaseTarget: a task's rows in one result table as its output (Astra's API, made safe).

`exists()` is read-only and true only when the run is complete, its marker for this table is
committed, and the product file it points to is there with the recorded size and SHA-256.
`write(data)` is one transaction supplemented with the task's keys (run, parameters, inputs).
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Select, select

from .database import Database
from .errors import TargetError
from .files import WrittenFile, file_sha256
from .models import Base, Product, RunOutput, TaskRun
from .record import INPUT_KEY, record_outputs, result_columns
from .task import Task


class DatabaseTarget:
    """The rows of `model` written by `task`, in `database` (default: the default store)."""

    def __init__(self, model: type[Base], task: Task, database: Database | None = None) -> None:
        if not (isinstance(model, type) and issubclass(model, Base) and "run_id" in model.__table__.columns):
            raise TargetError(f"{model!r} is not a result table; use one of specpy.targets.models.RESULT_MODELS")
        if not isinstance(task, Task):
            raise TargetError(f"a DatabaseTarget needs a specpy.targets.Task, not {type(task).__name__}")
        self.model = model
        self.task = task
        self.database = database if database is not None else Database()

    def get_query(self, columns: list[str] | None = None, full_output: bool = False) -> Select:
        """A SELECT of this task's rows (only `columns`, if given); with `full_output`, each row also carries its TaskRun."""
        if columns is None:
            entities: list[Any] = [self.model]
        else:
            known = result_columns(self.model)
            unknown = [name for name in columns if name not in known]
            if unknown:
                raise TargetError(f"{self.model.__tablename__} has no columns {unknown}; it has {known}")
            entities = [getattr(self.model, name) for name in columns]
        if full_output:
            entities.append(TaskRun)
        return select(*entities).join(TaskRun, TaskRun.id == self.model.run_id).where(TaskRun.key == self.task.key).order_by(self.model.id)

    def _marker_query(self) -> Select:
        """The committed marker of this target and its product (if any)."""
        return (select(RunOutput, Product).join(TaskRun, TaskRun.id == RunOutput.run_id)
                .outerjoin(Product, Product.id == RunOutput.product_id)
                .where(TaskRun.key == self.task.key, TaskRun.status == "complete",
                       RunOutput.target == self.model.__tablename__))

    def exists(self, verify_hash: bool = True) -> bool:
        """True if the output is complete: rows committed and the product file present with its size (and hash)."""
        with self.database.session() as session:
            found = session.execute(self._marker_query()).one_or_none()
        if found is None:
            return False
        product = found[1]
        return product is None or product_matches(self.database.root, product, verify_hash)

    def read(self) -> list[Any] | None:
        """This task's rows (model instances, in write order), or None if the output is not complete."""
        if not self.exists(verify_hash=False):
            return None
        with self.database.session() as session:
            return list(session.execute(self.get_query()).scalars())

    def write(self, data: Any, product: WrittenFile | None = None) -> bool:
        """Write the rows (dict, list of dicts or astropy Table) and the product record in one transaction.

        The rows are supplemented with the run (task key, parameters, inputs, code version); a row
        may name a task input by role under 'input' to link its acquisition. Returns False if the
        output was already complete with this product (a re-run changes nothing).
        """
        return record_outputs(self.database, self.task, {self.model: data}, product)

    def copy_from(self, target: DatabaseTarget | Base) -> bool:
        """Make this task's output a copy of another complete target's rows (or of one ORM row); the product is shared, not copied."""
        if isinstance(target, Base):
            if not isinstance(target, self.model):
                raise TargetError(f"cannot copy a {type(target).__name__} row into {self.model.__tablename__}")
            rows = [{name: getattr(target, name) for name in result_columns(self.model)}]
            return self.write(_without_links(rows))
        if not isinstance(target, DatabaseTarget) or target.model is not self.model:
            raise TargetError(f"copy_from needs a DatabaseTarget of {self.model.__tablename__} or one of its rows")
        with target.database.session() as session:
            found = session.execute(target._marker_query()).one_or_none()
            if found is None:
                raise TargetError(f"the target to copy from (task {target.task.name} {target.task.key[:12]}) is not complete")
            rows = [{name: getattr(row, name) for name in result_columns(self.model)}
                    for row in session.execute(target.get_query()).scalars()]
        return record_outputs(self.database, self.task, {self.model: _without_links(rows)}, shared_product=found[1])

    def __repr__(self) -> str:
        return f"<DatabaseTarget {self.model.__tablename__} {self.task.name} {self.task.key[:12]}>"


def _without_links(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows copied from another run keep their values but not the other run's acquisition links."""
    return [{name: value for name, value in row.items() if name not in ("acquisition_id", INPUT_KEY)} for row in rows]


def product_matches(root: os.PathLike | str, product: Product, verify_hash: bool = True) -> bool:
    """True if the product's file exists under `root` with the recorded size (and SHA-256)."""
    path = os.path.join(root, product.path)
    try:
        if os.path.getsize(path) != product.size:
            return False
    except OSError:
        return False
    return not verify_hash or file_sha256(path) == product.sha256
