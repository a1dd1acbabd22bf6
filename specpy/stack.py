"""Stack: an n-dimensional array with the metadata Imspector keeps for it.

Axis order follows SpecPy: `shape()` lists the fastest axis first, so a numpy array of shape
(4, 3, 2) has `shape() == [2, 3, 4]`, and every per-axis list (labels, lengths, offsets, units)
is indexed in that order. `data()` is in numpy order and is the stack's own buffer: fill it in
place and the change is what gets written.
"""

from __future__ import annotations

import json
import operator
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .dtypes import checked_dtype, stack_dtype
from .errors import AxisError, Error, UnsupportedTypeError, ValidationError
from .units import DIMENSIONLESS, SIUnit

DEFAULT_OFFSET = -0.5  # SpecPy's default offset of every axis, whatever its size.


class Stack:
    """An n-dimensional data stack: `Stack(array)` copies an array, `Stack(type, sizes)` is zero-filled."""

    def __init__(self, *args: Any) -> None:
        if len(args) == 1:
            array = args[0]
            if not isinstance(array, np.ndarray):
                raise UnsupportedTypeError(
                    f"Stack() takes a numpy array or (type, sizes); got {type(array).__name__}"
                )
            array = np.asarray(array)  # drops subclasses (matrix, masked array: mask ignored)
            dtype = checked_dtype(array.dtype)
            # A C-contiguous copy in native byte order, whatever the strides and byte order.
            data = np.empty(array.shape, dtype=dtype)
            data[...] = array
        elif len(args) == 2:
            dtype = stack_dtype(args[0])
            sizes = _sizes(args[1])
            data = np.zeros(tuple(reversed(sizes)), dtype=dtype)
        else:
            raise TypeError(f"Stack() takes a numpy array or (type, sizes); got {len(args)} arguments")
        self._init_metadata(dtype, list(reversed(data.shape)))
        self._data: np.ndarray | None = data

    def _init_metadata(self, dtype: np.dtype, shape: list[int]) -> None:
        self._dtype = dtype
        self._shape = shape
        self._name = ""
        self._description = ""
        self._labels = [""] * len(shape)
        self._lengths = [float(size) for size in shape]
        self._offsets = [DEFAULT_OFFSET] * len(shape)
        self._units = [DIMENSIONLESS] * len(shape)
        self._value_unit = DIMENSIONLESS
        self._col_positions: dict[int, list[float]] = {}
        self._col_labels: dict[int, list[str]] = {}
        self._tags: dict[str, str] = {}
        self._parameters: dict[str, Any] = {}
        self._samples_written = int(np.prod(shape, dtype=np.int64)) if shape else 1
        self._loader: Callable[[], np.ndarray] | None = None
        self._lock = threading.Lock()
        # Set by a measurement that owns the stack: turns a wanted name into one unique there.
        self._rename: Callable[[Stack, str], str] | None = None  # (this stack, wanted) -> name; set by a measurement

    @classmethod
    def _lazy(cls, dtype: np.dtype, shape: list[int], loader: Callable[[], np.ndarray]) -> Stack:
        """A stack whose data is produced by `loader` on the first `data()` call (file reading)."""
        stack = cls.__new__(cls)
        stack._init_metadata(dtype, shape)
        stack._data = None
        stack._loader = loader
        return stack

    # --- data -------------------------------------------------------------------------------

    def data(self) -> np.ndarray:
        """The stack's data in numpy order (shape reversed from `shape()`); writable, in place."""
        if self._data is None:
            with self._lock:
                if self._data is None:
                    assert self._loader is not None
                    self._data = self._loader()
                    self._loader = None
        return self._data

    def type(self) -> type:
        """The numpy scalar type of the elements (e.g. numpy.uint16)."""
        return self._dtype.type

    def number_of_elements(self) -> int:
        """How many elements the stack holds."""
        return int(np.prod(self._shape, dtype=np.int64)) if self._shape else 1

    def shape(self) -> list[int]:
        """The sizes of all axes, fastest axis first (the reverse of numpy's shape)."""
        return list(self._shape)

    def sizes(self) -> list[int]:
        """The sizes of all axes (same as `shape()`)."""
        return self.shape()

    def size(self, dimension: int) -> int:
        """The size of one axis."""
        return self._shape[self._axis(dimension)]

    def number_of_dimensions(self) -> int:
        """The number of axes, singleton axes included."""
        return len(self._shape)

    # --- names ------------------------------------------------------------------------------

    def name(self) -> str:
        """The stack's name ('' by default)."""
        return self._name

    def set_name(self, name: str) -> None:
        """Set the stack's name; in a measurement, a name taken there gets a suffix ` [1]`, ` [2]`, ..."""
        name = _text(name, "stack name")
        self._name = self._rename(self, name) if self._rename is not None else name

    def description(self) -> str:
        """The stack's description ('' by default)."""
        return self._description

    def set_description(self, description: str) -> None:
        """Set the stack's description."""
        self._description = _text(description, "stack description")

    # --- per-axis metadata ------------------------------------------------------------------

    def label(self, dimension: int) -> str:
        """The label of one axis ('' by default)."""
        return self._labels[self._axis(dimension)]

    def set_label(self, dimension: int, label: str) -> None:
        """Set the label of one axis."""
        self._labels[self._axis(dimension)] = _text(label, "axis label")

    def labels(self) -> list[str]:
        """The labels of all axes."""
        return list(self._labels)

    def set_labels(self, labels: Iterable[str]) -> None:
        """Set the labels of the first len(labels) axes (extra entries are ignored, as in SpecPy)."""
        self._set_prefix(self._labels, labels, lambda v: _text(v, "axis label"), "labels")

    def length(self, dimension: int) -> float:
        """The physical length of one axis (default: its size, i.e. pixel size 1)."""
        return self._lengths[self._axis(dimension)]

    def set_length(self, dimension: int, length: float) -> None:
        """Set the physical length of one axis."""
        self._lengths[self._axis(dimension)] = _number(length, "axis length")

    def lengths(self) -> list[float]:
        """The physical lengths of all axes."""
        return list(self._lengths)

    def set_lengths(self, lengths: Iterable[float]) -> None:
        """Set the lengths of the first len(lengths) axes."""
        self._set_prefix(self._lengths, lengths, lambda v: _number(v, "axis length"), "lengths")

    def offset(self, dimension: int) -> float:
        """The physical offset of one axis (default -0.5, as in SpecPy)."""
        return self._offsets[self._axis(dimension)]

    def set_offset(self, dimension: int, offset: float) -> None:
        """Set the physical offset of one axis."""
        self._offsets[self._axis(dimension)] = _number(offset, "axis offset")

    def offsets(self) -> list[float]:
        """The physical offsets of all axes."""
        return list(self._offsets)

    def set_offsets(self, offsets: Iterable[float]) -> None:
        """Set the offsets of the first len(offsets) axes."""
        self._set_prefix(self._offsets, offsets, lambda v: _number(v, "axis offset"), "offsets")

    def pixel_size(self, dimension: int) -> float:
        """Length / size of one axis: the physical step between neighbouring pixels."""
        axis = self._axis(dimension)
        return self._lengths[axis] / self._shape[axis] if self._shape[axis] else float("nan")

    def unit(self, dimension: int) -> str:
        """The unit of one axis's lengths and offsets, as text ('' = dimensionless)."""
        return str(self._units[self._axis(dimension)])

    def set_unit(self, dimension: int, unit: Any) -> None:
        """Set the unit of one axis: an astropy unit or text such as 'm' or 's'."""
        self._units[self._axis(dimension)] = SIUnit.parse(unit)

    def value_unit(self) -> str:
        """The unit of the data values, as text ('' = dimensionless, e.g. photon counts)."""
        return str(self._value_unit)

    def set_value_unit(self, unit: Any) -> None:
        """Set the unit of the data values."""
        self._value_unit = SIUnit.parse(unit)

    def col_positions(self, dimension: int) -> list[float]:
        """Explicit positions of the columns of one axis; default: the pixel centres."""
        axis = self._axis(dimension)
        if axis in self._col_positions:
            return list(self._col_positions[axis])
        size, length, offset = self._shape[axis], self._lengths[axis], self._offsets[axis]
        return [offset + (k + 0.5) * length / size - length / 2 for k in range(size)]

    def set_col_positions(self, dimension: int, positions: Iterable[float]) -> None:
        """Set explicit positions for the columns of one axis (one per column)."""
        axis = self._axis(dimension)
        values = [_number(v, "column position") for v in positions]
        _check_count(values, self._shape[axis], "column positions")
        self._col_positions[axis] = values

    def col_labels(self, dimension: int) -> list[str]:
        """Labels of the columns of one axis ([] by default)."""
        return list(self._col_labels.get(self._axis(dimension), []))

    def set_col_labels(self, dimension: int, labels: Iterable[str]) -> None:
        """Set labels for the columns of one axis (one per column)."""
        axis = self._axis(dimension)
        values = [_text(v, "column label") for v in labels]
        _check_count(values, self._shape[axis], "column labels")
        self._col_labels[axis] = values

    # --- tags and parameters ----------------------------------------------------------------

    def tag(self, key: str) -> str:
        """The value of one tag (tags are text; see `set_tag`)."""
        try:
            return self._tags[key]
        except KeyError:
            raise Error(f"no tag {key!r}; the stack has tags {sorted(self._tags)}") from None

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag. Tags are text in the file; any other JSON value is stored as its JSON text."""
        key = _text(key, "tag key")
        if not key:
            raise ValidationError("a tag key must not be empty")
        self._tags[key] = value if isinstance(value, str) else _json_text(value, f"tag {key!r}")

    def tags(self) -> dict[str, str]:
        """All tags."""
        return dict(self._tags)

    def parameters(self, path: str = "") -> Any:
        """The parameter at `path` (`a/b/c`); the empty path returns the whole dict."""
        node: Any = self._parameters
        walked = []
        for part in _path_parts(path):
            if not isinstance(node, dict) or part not in node:
                here = "/".join(walked)
                choices = sorted(node) if isinstance(node, dict) else []
                raise Error(f"no stack parameter {path!r}: {here or 'the root'} has {choices}")
            node = node[part]
            walked.append(part)
        return json.loads(json.dumps(node)) if isinstance(node, (dict, list)) else node

    def set_parameters(self, path: str, value: Any) -> None:
        """Record a parameter (JSON values); the empty path replaces the whole dict."""
        _json_text(value, f"stack parameter {path!r}")
        parts = _path_parts(path)
        if not parts:
            if not isinstance(value, dict):
                raise ValidationError(f"the empty path takes a dict of parameters, not {type(value).__name__}")
            self._parameters = json.loads(json.dumps(value))
            return
        node = self._parameters
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValidationError(f"stack parameter {path!r}: {part!r} holds a value, not a group")
        node[parts[-1]] = json.loads(json.dumps(value))

    def meta_data(self) -> dict[str, Any]:
        """Everything but the data, as a dict (units are valid for lengths and pixel sizes)."""
        return {
            "name": self._name,
            "description": self._description,
            "type": self._dtype.name,
            "shape": self.shape(),
            "labels": self.labels(),
            "lengths": self.lengths(),
            "offsets": self.offsets(),
            "pixel_sizes": [self.pixel_size(i) for i in range(len(self._shape))],
            "units": [str(u) for u in self._units],
            "value_unit": str(self._value_unit),
            "tags": self.tags(),
            "parameters": self.parameters(""),
            "samples_written": self._samples_written,
        }

    def __repr__(self) -> str:
        name = f" {self._name!r}" if self._name else ""
        return f"<specpy.Stack{name} {self._dtype.name} shape={self._shape}>"

    # --- helpers ----------------------------------------------------------------------------

    def _axis(self, dimension: int) -> int:
        try:
            axis = operator.index(dimension)
        except TypeError:
            raise AxisError(f"an axis must be an integer, not {type(dimension).__name__}") from None
        if not 0 <= axis < len(self._shape):
            raise AxisError(f"invalid axis {axis}: the stack has {len(self._shape)} axes (0..{len(self._shape) - 1})")
        return axis

    def _set_prefix(self, target: list, values: Iterable, convert: Callable[[Any], Any], what: str) -> None:
        if isinstance(values, (str, bytes)):
            raise ValidationError(f"set_{what} takes a list, not a single {type(values).__name__}")
        converted = [convert(v) for v in values][: len(target)]
        target[: len(converted)] = converted


def _sizes(sizes: Any) -> list[int]:
    try:
        values = [operator.index(s) for s in sizes]
    except TypeError:
        raise ValidationError(f"sizes must be a list of non-negative integers, got {sizes!r}") from None
    if any(s < 0 for s in values):
        raise ValidationError(f"sizes must be non-negative, got {values}")
    return values


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"the {what} must be a str, not {type(value).__name__}")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(f"the {what} must be a real number, not {value!r}")
    return float(value)


def _check_count(values: list, expected: int, what: str) -> None:
    if len(values) != expected:
        raise ValidationError(f"wrong number of {what}: {len(values)} given, the axis has {expected} columns")


def _json_text(value: Any, what: str) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as error:
        raise ValidationError(f"{what} must be a JSON value (number, str, bool, list, dict): {error}") from None


def _path_parts(path: str) -> list[str]:
    return [part for part in _text(path, "parameter path").split("/") if part]
