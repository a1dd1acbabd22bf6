"""Errors of the analysis targets: each names what was wrong and what is allowed."""

from __future__ import annotations

from ..errors import Error


class TaskError(Error, ValueError):
    """A task's name, parameters or inputs cannot be recorded (not canonical JSON, bad names, ...)."""


class SchemaError(Error, RuntimeError):
    """The database schema is missing or not at the version this code needs; run `specpy db upgrade`."""


class DatabaseLocationError(Error, ValueError):
    """A database URL or file location that cannot be used safely (unknown scheme, network filesystem)."""


class ShapeError(Error, ValueError):
    """Arrays handed to a product writer do not share the stack's shape."""


class TargetError(Error, ValueError):
    """Data handed to a target that its table cannot hold (unknown columns, wrong kind of value)."""


class ProductError(Error, OSError):
    """A product file is missing, or its size or SHA-256 differs from what the database recorded."""
