"""Errors of the fit session; each is a `specpy.Error` and the builtin a caller would expect."""

from __future__ import annotations

from ..errors import Error


class DataError(Error, ValueError):
    """Data a statistic cannot use (NaN, negative counts for C-stat, empty region, bad shape)."""


class ModelError(Error, ValueError):
    """A model that cannot be built or evaluated (unknown component, wrong dimensionality, ...)."""


class ParameterError(Error, LookupError):
    """A sector, component or parameter address that does not exist."""


class BoundsError(Error, ValueError):
    """Inverted bounds, or a value outside a parameter's range."""


class ExpressionError(Error, ValueError):
    """A link expression that does not parse, names unknown parameters or forms a cycle."""


class StateError(Error, RuntimeError):
    """A call that needs state the session does not have yet (no data, no fit, no free parameter)."""


class SessionFileError(Error, ValueError):
    """A saved session or command log that is malformed or of an unsupported version."""
