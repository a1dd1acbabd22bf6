"""specpy.targets: analysis outputs that are all there or not there.

A `Task` (name, parameters, inputs, code version) has a SHA-256 key. Its outputs are a FITS
product (`AstraSource`, written atomically) and rows in result tables (`DatabaseTarget`),
committed in one transaction that records the product's path, size and hash. `Database`
opens the store (SQLite by default, PostgreSQL by URL); `specpy db upgrade` creates or
migrates its schema, `specpy db check` verifies products against their rows.

Names load on first use (PEP 562), so `specpy --help` does not pay for SQLAlchemy and astropy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Database": "database", "upgrade_database": "database",
    "DatabaseLocationError": "errors", "ProductError": "errors", "SchemaError": "errors", "ShapeError": "errors",
    "TargetError": "errors", "TaskError": "errors",
    "FileSystemTarget": "files", "WrittenFile": "files", "temporary_path": "files", "write_atomic": "files",
    "AstraSource": "fits", "create_image_hdu": "fits",
    "record_failure": "record", "record_outputs": "record",
    "DatabaseTarget": "target",
    "Input": "task", "Task": "task",
    "Pipeline": "pipeline", "analyse_measurement": "pipeline",
    "bead_scans": "queries", "products": "queries",
    "RunLog": "runs", "incomplete_runs": "runs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule defining `name` on first access."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'specpy.targets' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
