"""specpy: a SpecPy-compatible API for laser-scanning microscopes, real or simulated.

`from specpy import *` gives the names Imspector's SpecPy documents: Stack, File, the
data-type constants and, once the application layer lands, get_application().
"""

from .errors import (
    AxisError,
    Error,
    FileAccessError,
    FileModeError,
    FormatError,
    StackIndexError,
    UnsupportedTypeError,
    ValidationError,
)
from .dtypes import (
    Complex32,
    Complex64,
    Float32,
    Float64,
    Int8,
    Int16,
    Int32,
    UInt8,
    UInt16,
    UInt32,
)
from .stack import Stack
from .obf import File

__version__ = "0.1.0"

# The application layer loads on first use: `import specpy` stays light for file work.
_APPLICATION_NAMES = {
    "get_application": "application", "Imspector": "application",
    "Measurement": "measurement", "Configuration": "measurement",
}


def __getattr__(name: str):
    if name in _APPLICATION_NAMES:
        from importlib import import_module

        return getattr(import_module(f".{_APPLICATION_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'specpy' has no attribute {name!r}")

__all__ = [
    "AxisError", "Complex32", "Complex64", "Configuration", "Error", "File", "FileAccessError", "FileModeError",
    "Float32", "Float64", "FormatError", "Imspector", "Int8", "Int16", "Int32", "Measurement", "Stack",
    "StackIndexError", "get_application",
    "UInt8", "UInt16", "UInt32", "UnsupportedTypeError", "ValidationError", "__version__",
]
