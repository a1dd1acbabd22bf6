"""The SQLAlchemy 2 models of the analysis database (typed `Mapped[...]` columns).

acquisition   one row per input stack (content hash, sample, instrument, times, source file)
parameter_set one row per distinct canonical parameter JSON (keyed by its SHA-256)
task_run      one row per task key: status ('complete', 'failed', or 'started' for a run in progress), host/pid, times, code versions, error text
run_input     lineage: which acquisitions (or products) fed a run, by content hash
product       a file written by a run: path relative to the data root, SHA-256, size, format
run_output    the commit marker: one row per (run, result table) written in the same transaction
spot_fit      per-method results, one row per fitted spot
bead_summary  per-method results, one row per stack: the FWHM distribution of its beads

Lengths in result tables are SI metres when the stack's axes have a length unit, else pixels
(`length_unit` says which). Times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base: JSON becomes JSONB on PostgreSQL, datetimes keep their time zone."""

    type_annotation_map = {
        dict[str, Any]: JSON().with_variant(JSONB(), "postgresql"),
        datetime: DateTime(timezone=True),
        str: String(255),
    }


class Acquisition(Base):
    """One acquired stack, identified by the SHA-256 of its content."""

    __tablename__ = "acquisition"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str]
    sample: Mapped[str | None] = mapped_column(index=True)
    instrument: Mapped[str | None] = mapped_column(index=True)
    started_at: Mapped[datetime | None] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    file_path: Mapped[str | None] = mapped_column(String(1024))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]]
    created: Mapped[datetime] = mapped_column(default=utcnow)


class ParameterSet(Base):
    """A distinct set of task parameters as canonical JSON text."""

    __tablename__ = "parameter_set"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    canonical_json: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class TaskRun(Base):
    """One task key: what ran, where, with which code, and how it ended."""

    __tablename__ = "task_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    parameter_set_id: Mapped[int] = mapped_column(ForeignKey("parameter_set.id"))
    version: Mapped[str] = mapped_column(String(64))
    version_major_minor: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    host: Mapped[str]
    pid: Mapped[int]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    versions: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    modified: Mapped[datetime] = mapped_column(default=utcnow)


class RunInput(Base):
    """Lineage: one input of a run, by role, with the content hash it had when the run started."""

    __tablename__ = "run_input"
    __table_args__ = (UniqueConstraint("run_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("task_run.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    acquisition_id: Mapped[int | None] = mapped_column(ForeignKey("acquisition.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))


class Product(Base):
    """A file a run wrote: where (relative to the data root), its SHA-256, size and format."""

    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("run_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("task_run.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(default=utcnow)


class RunOutput(Base):
    """The commit marker of one target: its result rows and product link were written together."""

    __tablename__ = "run_output"
    __table_args__ = (UniqueConstraint("run_id", "target"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("task_run.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    rows: Mapped[int] = mapped_column(Integer)
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SpotFit(Base):
    """One fitted spot (bead): 2D Gaussian position, integrated counts, FWHM, background, errors."""

    __tablename__ = "spot_fit"
    __table_args__ = (UniqueConstraint("run_id", "stack", "spot"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("task_run.id", ondelete="CASCADE"), index=True)
    acquisition_id: Mapped[int | None] = mapped_column(ForeignKey("acquisition.id"), index=True)
    stack: Mapped[int] = mapped_column(Integer)
    spot: Mapped[int] = mapped_column(Integer)
    x: Mapped[float | None] = mapped_column(Float)
    x_err: Mapped[float | None] = mapped_column(Float)
    y: Mapped[float | None] = mapped_column(Float)
    y_err: Mapped[float | None] = mapped_column(Float)
    norm: Mapped[float | None] = mapped_column(Float)
    norm_err: Mapped[float | None] = mapped_column(Float)
    fwhm_x: Mapped[float | None] = mapped_column(Float, index=True)
    fwhm_x_err: Mapped[float | None] = mapped_column(Float)
    fwhm_y: Mapped[float | None] = mapped_column(Float, index=True)
    fwhm_y_err: Mapped[float | None] = mapped_column(Float)
    bg: Mapped[float | None] = mapped_column(Float)
    bg_err: Mapped[float | None] = mapped_column(Float)
    status: Mapped[int] = mapped_column(Integer)
    cstat: Mapped[float | None] = mapped_column(Float)
    length_unit: Mapped[str] = mapped_column(String(16))


class BeadSummary(Base):
    """One stack's bead FWHM distribution: counts, median and 16/84 percentiles of the mean FWHM."""

    __tablename__ = "bead_summary"
    __table_args__ = (UniqueConstraint("run_id", "stack"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("task_run.id", ondelete="CASCADE"), index=True)
    acquisition_id: Mapped[int | None] = mapped_column(ForeignKey("acquisition.id"), index=True)
    stack: Mapped[int] = mapped_column(Integer)
    spots: Mapped[int] = mapped_column(Integer)
    converged: Mapped[int] = mapped_column(Integer)
    fwhm_median: Mapped[float | None] = mapped_column(Float, index=True)
    fwhm_p16: Mapped[float | None] = mapped_column(Float)
    fwhm_p84: Mapped[float | None] = mapped_column(Float)
    fwhm_mean: Mapped[float | None] = mapped_column(Float)
    fwhm_std: Mapped[float | None] = mapped_column(Float)
    length_unit: Mapped[str] = mapped_column(String(16))


RESULT_MODELS: dict[str, type[Base]] = {model.__tablename__: model for model in (SpotFit, BeadSummary)}
