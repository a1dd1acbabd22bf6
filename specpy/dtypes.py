"""The data types a stack can hold and their OBF type codes.

The codes are the OBF file format's; the constants keep SpecPy's names, where `Complex32` is a
complex of two float32 (numpy complex64).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import UnsupportedTypeError

UInt8, Int8, UInt16, Int16, UInt32, Int32, Float32, Float64 = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80
Complex32, Complex64 = 0x40000040, 0x40000080

# The types Imspector's SpecPy writes and returns, in code order.
STACK_TYPES: dict[int, np.dtype] = {
    UInt8: np.dtype(np.uint8),
    Int8: np.dtype(np.int8),
    UInt16: np.dtype(np.uint16),
    Int16: np.dtype(np.int16),
    UInt32: np.dtype(np.uint32),
    Int32: np.dtype(np.int32),
    Float32: np.dtype(np.float32),
    Float64: np.dtype(np.float64),
    Complex32: np.dtype(np.complex64),
    Complex64: np.dtype(np.complex128),
}
# Further codes the format defines (SpecPy itself cannot return them); readable, and
# written back only when a stack read from such a file is written again.
FORMAT_ONLY_TYPES: dict[int, np.dtype] = {
    0x1000: np.dtype(np.uint64),
    0x2000: np.dtype(np.int64),
    0x10000: np.dtype(np.bool_),
}
CODE_OF_DTYPE: dict[np.dtype, int] = {dt: code for code, dt in {**STACK_TYPES, **FORMAT_ONLY_TYPES}.items()}

_ALLOWED = ", ".join(str(dt) for dt in STACK_TYPES.values())


def stack_dtype(type_: Any) -> np.dtype:
    """Return the numpy dtype for a stack element type given as numpy type, dtype, string or `float`."""
    if isinstance(type_, int) and not isinstance(type_, bool) and type_ in STACK_TYPES:
        raise UnsupportedTypeError(
            f"the OBF type code {type_:#x} is not a stack type; pass a numpy type such as "
            f"numpy.{STACK_TYPES[type_].name} (allowed: {_ALLOWED})"
        )
    if type_ is int:
        raise UnsupportedTypeError(f"Python int means int64, which stacks cannot hold; allowed: {_ALLOWED}")
    try:
        dtype = np.dtype(type_)
    except TypeError as error:
        raise UnsupportedTypeError(f"{type_!r} is not a data type; allowed: {_ALLOWED}") from error
    return checked_dtype(dtype)


def checked_dtype(dtype: np.dtype, format_only: bool = False) -> np.dtype:
    """Return the native-byte-order form of `dtype`, or raise if stacks cannot hold it.

    `format_only` also admits the types the file format defines beyond SpecPy's (int64, uint64,
    bool), for stacks that come out of a file.
    """
    native = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
    allowed = CODE_OF_DTYPE if format_only else STACK_TYPES.values()
    if dtype.fields is not None or native not in allowed:
        raise UnsupportedTypeError(f"a stack cannot hold {dtype} data; allowed: {_ALLOWED}")
    return native


def dtype_of_code(code: int) -> np.dtype | None:
    """Return the dtype of an OBF type code, or None for a code this reader does not know."""
    return STACK_TYPES.get(code) or FORMAT_ONLY_TYPES.get(code)
