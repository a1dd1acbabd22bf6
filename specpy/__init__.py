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

__all__ = [
    "AxisError", "Complex32", "Complex64", "Error", "File", "FileAccessError", "FileModeError",
    "Float32", "Float64", "FormatError", "Int8", "Int16", "Int32", "Stack", "StackIndexError",
    "UInt8", "UInt16", "UInt32", "UnsupportedTypeError", "ValidationError", "__version__",
]
