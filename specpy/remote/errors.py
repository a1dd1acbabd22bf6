"""The remote layer's errors, and the allowlist that maps an error reply's type name to a class."""

from __future__ import annotations

from ..errors import Error


class RemoteError(Error):
    """An error raised on the service whose type is not one of specpy's own (named in the message)."""


class ProtocolError(RemoteError, ValueError):
    """A message that does not follow the wire format (docs/protocol.md)."""


class ServiceUnavailable(RemoteError, ConnectionError):
    """The broker knows no live worker for the service (never registered, or all dead)."""


class ServiceLost(RemoteError, ConnectionError):
    """The worker handling a request died (missed heartbeats) before it replied."""


class RequestTimeout(RemoteError, TimeoutError):
    """No reply in time (after the retries an idempotent request is allowed)."""


class HookTimeout(RemoteError, TimeoutError):
    """A blocking step hook did not finish in time; the measurement went on without it."""


class StaleHandle(RemoteError, LookupError):
    """A remote object handle the service does not know (closed, or from an earlier service run)."""


class RemoteValueError(RemoteError, ValueError):
    """A ValueError raised on the service."""


class RemoteTypeError(RemoteError, TypeError):
    """A TypeError raised on the service (usually: wrong arguments for a call)."""


class RemoteIndexError(RemoteError, IndexError):
    """An IndexError raised on the service."""


class RemoteKeyError(RemoteError, KeyError):
    """A KeyError raised on the service."""


class RemoteRuntimeError(RemoteError, RuntimeError):
    """A RuntimeError raised on the service."""


class RemoteOSError(RemoteError, OSError):
    """An OSError raised on the service (a file it could not read or write)."""


def _specpy_classes() -> dict[str, type[Exception]]:
    """Every loaded subclass of specpy.Error by class name: the allowlist; no name is ever imported."""
    from .. import application, engine  # noqa: F401  (their error classes join the allowlist)

    found: dict[str, type[Exception]] = {}
    pending: list[type[Exception]] = [Error]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    return found


_BUILTINS: dict[str, type[Exception]] = {
    "ValueError": RemoteValueError, "TypeError": RemoteTypeError, "IndexError": RemoteIndexError,
    "KeyError": RemoteKeyError, "RuntimeError": RemoteRuntimeError, "OSError": RemoteOSError,
    "FileNotFoundError": RemoteOSError, "PermissionError": RemoteOSError,
}


def error_class(name: str) -> type[Exception]:
    """The class to raise for an error reply naming `name` (RemoteError when it is not allowlisted)."""
    allowed = _specpy_classes()
    return allowed.get(name) or _BUILTINS.get(name) or RemoteError


def build_error(name: str, message: str, traceback: str) -> Exception:
    """An exception for an error reply; an unknown type keeps its name in the message."""
    cls = error_class(name)
    if cls is RemoteError and name != "RemoteError":
        message = f"{name}: {message}"
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.remote_traceback = traceback  # type: ignore[attr-defined]
    return error
