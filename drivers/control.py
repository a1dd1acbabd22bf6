"""Control: how one tree leaf maps onto instrument commands (the query that reads it, the command that sets it).

Values travel as SI on the tree side; `scale` converts for instruments whose wire unit is not SI
(wire value x scale = SI value, e.g. scale=1e-3 for a laser that takes mW).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from specpy.tree import Leaf

#: A read done by a driver method instead of a query: method(driver) -> value.
Getter = Callable[[Any], Any]
#: A write done by a driver method instead of a command: method(driver, SI value) -> None.
Setter = Callable[[Any, Any], None]

_TRUE = {"1", "ON", "TRUE", "YES"}
_FALSE = {"0", "OFF", "FALSE", "NO"}


def _parse_bool(text: str) -> bool:
    word = text.strip().upper()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{text!r} is not one of 1/0, ON/OFF, TRUE/FALSE")


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = float(text)  # SCPI instruments often answer '1.000000E+00' for an integer
        if not number.is_integer():
            raise ValueError(f"{text!r} is not a whole number") from None
        return int(number)


def _parse_str(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _parse_array(text: str) -> np.ndarray:
    return np.array([float(item) for item in text.split(",") if item.strip()])


_PARSERS: dict[str, Callable[[str], Any]] = {
    "bool": _parse_bool, "int": _parse_int, "float": float, "str": _parse_str, "enum": _parse_str,
    "array": _parse_array,
}


def _template_ok(template: str) -> bool:
    """True if a set template holds exactly one '{}' (where the value's wire text goes)."""
    try:
        fields = [f for f in string.Formatter().parse(template) if f[1] is not None]
    except ValueError:
        return False
    return len(fields) == 1 and fields[0][1:] == ("", "", None)


@dataclass(frozen=True)
class Control:
    """One leaf's schema with the query that reads it (`get`) and the command template that sets it (`set`).

    `get` is a query such as 'SOUR:POW?' or a driver method; `set` is a template such as 'SOUR:POW {}'
    or a driver method. A leaf without `set` must be declared read-only. `wire` maps values to the
    instrument's words ({'cw': 'CWP'}; {True: 'ON', False: 'OFF'}); `parse`/`format` replace the
    default conversion of reply text and value text; `binary` reads an array as a definite-length block
    of that dtype.
    """

    leaf: Leaf
    get: str | Getter | None = None
    set: str | Setter | None = None
    wire: Mapping[Any, str] | None = None
    parse: Callable[[str], Any] | None = None
    format: Callable[[Any], str] | None = None
    scale: float = 1.0
    binary: str | None = None
    _unwire: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.leaf, Leaf):
            raise TypeError(f"Control needs a Leaf schema (Float(...), Enum(...), ...), not {self.leaf!r}")
        if self.get is None and self.set is None:
            raise TypeError("a Control needs a get query, a set command, or both")
        if (self.set is None) != self.leaf.read_only:
            raise TypeError(
                "a Control without a set command must have a read-only leaf, and a read-only leaf takes no set "
                f"command (set={self.set!r}, read_only={self.leaf.read_only})"
            )
        if isinstance(self.set, str) and not _template_ok(self.set):
            raise TypeError(f"set template {self.set!r} must hold exactly one '{{}}' where the value goes")
        for name in ("get", "set"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str) and not callable(value):
                raise TypeError(f"{name} must be a command string or a driver method, not {value!r}")
        if self.scale <= 0 or (self.scale != 1.0 and self.leaf.kind not in ("int", "float", "array")):
            raise TypeError(f"scale {self.scale!r} must be positive and is for numeric leaves only")
        if self.binary is not None and (self.leaf.kind != "array" or not isinstance(self.get, str)):
            raise TypeError("binary transfer is for array leaves read by a query")
        unwire: dict[str, Any] = {}
        for value, word in (self.wire or {}).items():
            self.leaf.check("wire", value)
            if not isinstance(word, str) or word in unwire:
                raise TypeError(f"wire words must be distinct strings; {word!r} is not")
            unwire[word.upper()] = value
        if self.wire is None and self.leaf.kind == "enum":  # replies match the choices, ignoring case
            unwire = {choice.upper(): choice for choice in self.leaf.choices or ()}
        object.__setattr__(self, "_unwire", unwire)

    def text(self, value: Any) -> str:
        """The wire text of a checked SI value."""
        if self.wire is not None:
            return self.wire[value]
        if self.format is not None:
            return self.format(value)
        kind = self.leaf.kind
        if kind == "bool":
            return "1" if value else "0"
        if kind == "float":
            return repr(value / self.scale if self.scale != 1.0 else value)
        if kind == "int":
            return str(round(value / self.scale) if self.scale != 1.0 else value)
        if kind == "array":
            return ",".join(repr(float(v)) for v in np.asarray(value) / self.scale)
        return str(value)

    def command(self, value: Any) -> str:
        """The command that sets a checked SI value (for a string `set` template)."""
        return self.set.format(self.text(value))  # type: ignore[union-attr]

    def value(self, reply: str) -> Any:
        """The SI value a reply means (ValueError if it cannot be read)."""
        if self._unwire:
            word = reply.strip().upper()
            if word in self._unwire:
                return self._unwire[word]
            raise ValueError(f"{reply!r} is none of {', '.join(self._unwire)}")
        parsed = (self.parse or _PARSERS[self.leaf.kind])(reply)
        return parsed * self.scale if self.scale != 1.0 else parsed
