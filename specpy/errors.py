"""The public error types. Every error the package raises on purpose is a `specpy.Error`.

Each also derives from the builtin exception a Python user would expect (ValueError for bad
values, IndexError for bad indices, ...), so existing `except` clauses keep working.
"""

from __future__ import annotations

import os


class Error(Exception):
    """Base of every error raised by specpy on purpose."""


class FormatError(Error, ValueError):
    """A file is not a valid .obf/.msr file; names the file and the byte offset of the fault."""

    def __init__(self, path: str | os.PathLike | None, offset: int | None, problem: str):
        self.path = os.fspath(path) if path is not None else None
        self.offset = offset
        self.problem = problem
        where = f"{self.path!r}" if self.path is not None else "<stream>"
        if offset is not None:
            where += f" at byte {offset}"
        super().__init__(f"{where}: {problem}")


class UnsupportedTypeError(Error, TypeError):
    """A data type (numpy dtype or file type code) that Imspector stacks cannot hold."""


class AxisError(Error, IndexError):
    """An axis index outside a stack's dimensions."""


class StackIndexError(Error, IndexError):
    """A stack index outside what a file or measurement holds."""


class FileModeError(Error, RuntimeError):
    """An operation the file's open mode does not allow (writing a file opened to read, ...)."""


class FileAccessError(Error, OSError):
    """The operating system refused to open, read or write a file."""


class ValidationError(Error, ValueError):
    """A value refused before it reached a device; names the path, the value and what is allowed."""
