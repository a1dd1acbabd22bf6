"""Leaf schemas: what one tree value may be (kind, SI unit, range or choices) and the checks that enforce it.

A plain number is taken as SI; an astropy Quantity is converted to the leaf's SI unit. astropy is
imported only when a Quantity or a unit text has to be understood, never to check a plain number.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ValidationError

KINDS = ("bool", "int", "float", "str", "enum", "array")
_NUMERIC = ("int", "float", "array")
_INF = float("inf")
_BIG = sys.float_info.max
_TRUE_WORDS = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False, "no": False}
_UNITS: dict[str, Any] = {}  # unit text -> checked astropy unit


def _show(value: Any) -> str:
    """A short repr for messages: long arrays and strings are cut."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def invalid(path: str, value: Any, problem: str, allowed: str) -> ValidationError:
    """A ValidationError naming the path, the value, what is wrong and what is allowed."""
    error = ValidationError(f"{path}: {_show(value)} {problem}; allowed: {allowed}")
    error.path, error.value, error.allowed = path, value, allowed  # type: ignore[attr-defined]
    return error


def astropy_unit(text: str) -> Any:
    """The astropy unit for `text`, refused unless it is SI with scale 1 (values are stored in SI)."""
    unit = _UNITS.get(text)
    if unit is not None:
        return unit
    import astropy.units as u

    try:
        unit = u.Unit(text)
        si = unit.si
    except Exception as error:  # astropy raises ValueError, TypeError or UnitsError for bad text
        raise ValidationError(f"unit {text!r} is not a unit astropy can read (e.g. 'm', 's', 'W', 'Hz')") from error
    if si.scale != 1.0:
        raise ValidationError(
            f"unit {text!r} is not an SI unit (1 {text} = {si}); declare the SI unit, e.g. {str(si.bases[0])!r} "
            "if it is one, since tree values are stored and sent in SI"
        )
    _UNITS[text] = unit
    return unit


def _quantity_type() -> Any:
    """astropy's Quantity class if astropy.units is already imported, else None (nothing can be one)."""
    units = sys.modules.get("astropy.units")
    return units.Quantity if units is not None else None


@dataclass(frozen=True, eq=False)
class Leaf:
    """The schema of one tree value. Build it with Bool, Int, Float, Str, Enum or Array."""

    kind: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False
    default: Any = None
    description: str = ""
    shape: tuple[int | None, ...] | None = None
    dtype: str = "float64"
    #: check(path, value) -> the value in SI, or ValidationError: kind, unit, range, choices.
    check: Callable[[str, Any], Any] = field(init=False, repr=False)
    #: accept(path, value) -> the value converted to the kind, range not enforced (a device reading).
    accept: Callable[[str, Any], Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValidationError(f"schema kind {self.kind!r} is unknown; allowed: {', '.join(KINDS)}")
        if not isinstance(self.unit, str):
            raise ValidationError(f"a unit is declared as text such as 'W' or 'm', not {self.unit!r}")
        if self.kind not in _NUMERIC and (self.unit or self.min is not None or self.max is not None):
            raise ValidationError(f"a {self.kind} leaf takes no unit, min or max (only {', '.join(_NUMERIC)} do)")
        for name in ("min", "max"):
            bound = getattr(self, name)
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, numbers.Real)):
                raise ValidationError(f"{name} must be a number in SI, not {bound!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValidationError(f"min {self.min} is above max {self.max}")
        self._setup_choices()
        if self.kind == "array":
            dtype = np.dtype(self.dtype)
            if dtype.kind not in "biuf":
                raise ValidationError(f"an array leaf holds numbers; dtype {self.dtype!r} is not numeric")
            object.__setattr__(self, "dtype", dtype.name)
        elif self.shape is not None:
            raise ValidationError("only array leaves take a shape")
        # Finite outer bounds make one chained comparison refuse NaN and infinities as well.
        object.__setattr__(self, "_lo", -_BIG if self.min is None else self.min)
        object.__setattr__(self, "_hi", _BIG if self.max is None else self.max)
        plain = self._check_array if self.kind == "array" else getattr(self, f"_to_{self.kind}")
        object.__setattr__(self, "check", self._range_check() or plain)
        object.__setattr__(self, "accept", getattr(self, f"_to_{self.kind}"))
        if self.default is not None:
            object.__setattr__(self, "default", self.check("default", self.default))

    def _setup_choices(self) -> None:
        """Check and freeze the choices of an enum leaf; refuse them on any other kind."""
        if self.kind != "enum":
            if self.choices is not None:
                raise ValidationError("only enum leaves take choices")
            return
        choices = tuple(self.choices or ())
        if not choices or not all(isinstance(c, str) and c for c in choices) or len(set(choices)) != len(choices):
            raise ValidationError(f"an enum leaf needs distinct, non-empty str choices, not {self.choices!r}")
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "_choice_set", frozenset(choices))

    # -- what is allowed, for messages and descriptions -------------------------------------------
    def allowed(self) -> str:
        """Say in words what values this leaf takes."""
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "bool":
            return "True or False"
        if self.kind == "str":
            return "a str"
        if self.kind == "enum":
            return "one of " + ", ".join(repr(c) for c in self.choices or ())
        what = {"int": "an integer", "float": "a finite number", "array": f"an array of {self.dtype}"}[self.kind]
        if self.kind == "array" and self.shape is not None:
            what += " of shape (" + ", ".join("any" if n is None else str(n) for n in self.shape) + ")"
        if self.min is not None and self.max is not None:
            what += f" in {self.min:g} .. {self.max:g}{unit}"
        elif self.min is not None:
            what += f" >= {self.min:g}{unit}"
        elif self.max is not None:
            what += f" <= {self.max:g}{unit}"
        elif unit:
            what += f" in{unit}"
        return what + (" (SI, or an astropy Quantity)" if unit else "")

    def describe(self) -> dict[str, Any]:
        """The schema as a JSON-safe dict (for snapshots, remote clients and listings)."""
        out: dict[str, Any] = {"kind": self.kind, "read_only": self.read_only}
        for name in ("unit", "min", "max", "choices", "shape", "description"):
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = list(value) if isinstance(value, tuple) else value
        if self.kind == "array":
            out["dtype"] = self.dtype
        if self.default is not None:
            out["default"] = jsonable(self.default)
        return out

    # -- conversion of a value given in some other form -------------------------------------------
    def parse(self, path: str, value: Any) -> Any:
        """Check a value as written in a file or on a command line: also takes text such as '5 mW' or 'on'."""
        if not isinstance(value, str) or self.kind in ("str", "enum"):
            return self.check(path, value)
        if self.kind == "bool":
            word = _TRUE_WORDS.get(value.strip().lower())
            if word is None:
                raise invalid(path, value, "is not a yes/no word", "true/false, on/off, yes/no, 1/0")
            return word
        if self.kind == "array":
            raise invalid(path, value, "is text, not an array", self.allowed())
        import astropy.units as u

        try:
            quantity = u.Quantity(value)
        except (TypeError, ValueError) as error:
            raise invalid(path, value, "is not a number with an optional unit", self.allowed()) from error
        if quantity.unit == u.dimensionless_unscaled:  # a bare number in text is SI, like a plain number
            return self.check(path, float(quantity.value))
        return self.check(path, quantity)

    def _magnitude(self, path: str, value: Any) -> Any:
        """The magnitude of an astropy Quantity in this leaf's unit, or `value` itself if it is none."""
        quantity = _quantity_type()
        if quantity is None or not isinstance(value, quantity):
            return value
        try:
            return value.to_value(astropy_unit(self.unit))
        except Exception as error:  # astropy's UnitConversionError and friends
            unit = self.unit or "dimensionless"
            raise invalid(path, value, f"has a unit that does not convert to {unit}", self.allowed()) from error

    def _to_bool(self, path: str, value: Any) -> bool:
        if value is True or value is False:
            return value
        if isinstance(value, np.bool_):
            return bool(value)
        raise invalid(path, value, "is not a bool", self.allowed())

    def _to_int(self, path: str, value: Any) -> int:
        value = self._magnitude(path, value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise invalid(path, value, "is not an integer", self.allowed())
        if isinstance(value, numbers.Integral):
            return int(value)
        number = float(value)
        if not number.is_integer():
            raise invalid(path, value, "is not a whole number", self.allowed())
        return int(number)

    def _to_float(self, path: str, value: Any) -> float:
        if type(value) is int:
            return float(value)
        value = self._magnitude(path, value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise invalid(path, value, "is not a number", self.allowed())
        return float(value)

    def _to_str(self, path: str, value: Any) -> str:
        if type(value) is str:
            return value
        raise invalid(path, value, "is not a str", self.allowed())

    def _to_enum(self, path: str, value: Any) -> str:
        if type(value) is str and value in self._choice_set:  # type: ignore[attr-defined]
            return value
        near = [c for c in self.choices or () if isinstance(value, str) and c.lower() == value.strip().lower()]
        problem = f"is not a choice (did you mean {near[0]!r}?)" if near else "is not a choice"
        raise invalid(path, value, problem, self.allowed())

    def _to_array(self, path: str, value: Any) -> np.ndarray:
        raw = self._magnitude(path, value)
        try:
            array = np.array(raw, dtype=self.dtype)
        except (TypeError, ValueError) as error:
            raise invalid(path, value, f"is not an array of {self.dtype}", self.allowed()) from error
        if np.asarray(raw).dtype.kind not in "biuf":
            raise invalid(path, value, "holds things other than numbers", self.allowed())
        if self.shape is not None and (
            array.ndim != len(self.shape) or any(n is not None and n != m for n, m in zip(self.shape, array.shape))
        ):
            raise invalid(path, value, f"has shape {array.shape}", self.allowed())
        array.flags.writeable = False
        return array

    # -- the checks: conversion plus range -------------------------------------------------------
    def _range_check(self) -> Callable[[str, Any], Any] | None:
        """For int and float leaves, a check closure with the bounds bound in (the hot path of every set)."""
        if self.kind not in ("int", "float"):
            return None
        exact, convert, lo, hi = (int, self._to_int, self._lo, self._hi) if self.kind == "int" else (
            float, self._to_float, self._lo, self._hi)  # type: ignore[attr-defined]

        def check(path: str, value: Any) -> Any:
            number = value if type(value) is exact else convert(path, value)
            if lo <= number <= hi:
                return number
            finite = number == number and abs(number) != _INF
            raise invalid(path, value, "is out of range" if finite else "is not finite", self.allowed())

        return check

    def _check_array(self, path: str, value: Any) -> np.ndarray:
        array = self._to_array(path, value)
        if array.size and array.dtype.kind == "f" and not np.isfinite(array).all():
            raise invalid(path, value, "holds values that are not finite", self.allowed())
        if array.size and (array.min() < self._lo or array.max() > self._hi):  # type: ignore[attr-defined]
            raise invalid(path, value, "holds values out of range", self.allowed())
        return array


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a tree value: arrays as lists, numpy scalars as Python, non-finite floats as None."""
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()] if value.dtype.kind == "f" else value.tolist()
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not -_INF < value < _INF:
        return None
    return value


def Bool(*, default: bool | None = None, read_only: bool = False, description: str = "") -> Leaf:
    """A True/False leaf (a switch, a flag)."""
    return Leaf("bool", default=default, read_only=read_only, description=description)


def Int(
    *, unit: str = "", min: int | None = None, max: int | None = None, default: int | None = None,
    read_only: bool = False, description: str = "",
) -> Leaf:
    """A whole-number leaf, optionally bounded (inclusive) and with an SI unit."""
    return Leaf("int", unit, min, max, default=default, read_only=read_only, description=description)


def Float(
    *, unit: str = "", min: float | None = None, max: float | None = None, default: float | None = None,
    read_only: bool = False, description: str = "",
) -> Leaf:
    """A finite real-number leaf in an SI unit, optionally bounded (inclusive)."""
    return Leaf("float", unit, min, max, default=default, read_only=read_only, description=description)


def Str(*, default: str | None = None, read_only: bool = False, description: str = "") -> Leaf:
    """A free-text leaf (a name, an identity string)."""
    return Leaf("str", default=default, read_only=read_only, description=description)


def Enum(
    choices: Sequence[str], *, default: str | None = None, read_only: bool = False, description: str = ""
) -> Leaf:
    """A leaf that takes one of a fixed set of words."""
    return Leaf("enum", choices=tuple(choices), default=default, read_only=read_only, description=description)


def Array(
    *, unit: str = "", dtype: str = "float64", shape: Sequence[int | None] | None = None,
    min: float | None = None, max: float | None = None, default: Any = None, read_only: bool = False,
    description: str = "",
) -> Leaf:
    """A numeric array leaf; `shape` may use None for any length along an axis."""
    return Leaf(
        "array", unit, min, max, default=default, read_only=read_only, description=description,
        shape=None if shape is None else tuple(shape), dtype=dtype,
    )
