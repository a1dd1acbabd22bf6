"""Queries for labs: products by sample, instrument and date; bead scans by their fitted FWHM.

Only complete runs count. Lengths are SI metres (pass `parse_length("60 nm")`); times are UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Select, select

from ..errors import ValidationError
from .database import Database
from .models import Acquisition, BeadSummary, Product, RunInput, RunOutput, TaskRun


def parse_length(text: str | None) -> float | None:
    """A length such as '60 nm' or '0.06 um' in metres (None stays None)."""
    if text is None:
        return None
    from astropy import units as u

    try:
        return float(u.Quantity(text).to_value(u.m))
    except (TypeError, ValueError, u.UnitsError):
        raise ValidationError(f"{text!r} is not a length; give a number and a unit, e.g. '60 nm'") from None


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time as timezone-aware UTC (naive means UTC; None stays None)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not an ISO 8601 date or date-time, e.g. 2024-05-01 or 2024-05-01T12:00") from None
    return as_utc(moment)


def as_utc(moment: datetime | None) -> datetime | None:
    """A datetime as timezone-aware UTC (SQLite hands back naive UTC values)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _acquired(query: Select, sample: str | None, instrument: str | None, since: datetime | None, until: datetime | None) -> Select:
    """Restrict a query joined to Acquisition by sample, instrument and acquisition start time."""
    if sample is not None:
        query = query.where(Acquisition.sample == sample)
    if instrument is not None:
        query = query.where(Acquisition.instrument == instrument)
    if since is not None:
        query = query.where(Acquisition.started_at >= since)
    if until is not None:
        query = query.where(Acquisition.started_at < until)
    return query


def _rows(database: Database, query: Select) -> list[dict[str, Any]]:
    """Run a query; each row as a dict, datetimes as aware UTC."""
    with database.session() as session:
        result = session.execute(query)
        return [{name: as_utc(value) if isinstance(value, datetime) else value for name, value in row._mapping.items()}
                for row in result]


def products(database: Database, sample: str | None = None, instrument: str | None = None,
             since: datetime | None = None, until: datetime | None = None, task: str | None = None) -> list[dict[str, Any]]:
    """Products of complete runs whose input acquisitions match; one dict per (product, acquisition)."""
    query = (select(Product.path, Product.sha256, Product.size, Product.format, TaskRun.name.label("task"),
                    TaskRun.key, TaskRun.finished_at, Acquisition.name.label("stack"), Acquisition.sample,
                    Acquisition.instrument, Acquisition.started_at)
             .join(TaskRun, TaskRun.id == Product.run_id)
             .join(RunInput, RunInput.run_id == TaskRun.id)
             .join(Acquisition, Acquisition.id == RunInput.acquisition_id)
             .where(TaskRun.status == "complete")
             .order_by(Acquisition.started_at, Product.path))
    if task is not None:
        query = query.where(TaskRun.name == task)
    return _rows(database, _acquired(query, sample, instrument, since, until))


def bead_scans(database: Database, fwhm_below: float | None = None, sample: str | None = None, instrument: str | None = None,
               since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
    """Per-stack bead FWHM summaries of complete runs, optionally only those with median FWHM below `fwhm_below` metres."""
    query = (select(Acquisition.name.label("stack"), Acquisition.sample, Acquisition.instrument, Acquisition.started_at,
                    BeadSummary.spots, BeadSummary.converged, BeadSummary.fwhm_median, BeadSummary.fwhm_p16,
                    BeadSummary.fwhm_p84, BeadSummary.length_unit, TaskRun.key, Product.path)
             .join(TaskRun, TaskRun.id == BeadSummary.run_id)
             .join(Acquisition, Acquisition.id == BeadSummary.acquisition_id)
             .join(RunOutput, (RunOutput.run_id == TaskRun.id) & (RunOutput.target == BeadSummary.__tablename__))
             .outerjoin(Product, Product.id == RunOutput.product_id)
             .where(TaskRun.status == "complete")
             .order_by(Acquisition.started_at, BeadSummary.stack))
    if fwhm_below is not None:
        query = query.where(BeadSummary.length_unit == "m", BeadSummary.fwhm_median < fwhm_below)
    return _rows(database, _acquired(query, sample, instrument, since, until))
