"""Canonical JSON of task parameters: equal values give equal text, hence equal SHA-256 keys.

Coercions (so that 1, 1.0 and numpy.int64(1) hash alike, and dict order or tuple-vs-list does
not matter): floats are rounded to 15 significant digits (unit conversions differ in the last
bit), integral floats become ints, numpy scalars and arrays become Python values, tuples
become lists, paths become text, astropy quantities become {"unit": SI unit, "value": SI value}.
NaN and infinity are refused: JSON has no spelling for them and they compare unequal to themselves.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import TaskError


def canonical(value: Any, where: str = "value") -> Any:
    """Return `value` as plain, normalised JSON data; raise TaskError naming `where` if it has none."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(f"{float(value):.15g}")
        if not math.isfinite(number):
            raise TaskError(f"{where} is {number}; parameters must be finite numbers, text, lists or dicts")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if _is_quantity(value):
        si = value.si
        return {"unit": si.unit.to_string(), "value": canonical(si.value, where)}
    if isinstance(value, np.ndarray):
        return canonical(value.tolist(), where)
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TaskError(f"{where} has the key {key!r}; parameter names must be text")
            result[key] = canonical(item, f"{where}[{key!r}]")
        return dict(sorted(result.items()))
    if isinstance(value, (list, tuple)):
        return [canonical(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise TaskError(
        f"{where} is a {type(value).__name__}; allowed: None, bool, int, float, str, paths, "
        "numpy scalars/arrays, astropy quantities, and lists/tuples/dicts of these"
    )


def canonical_json(value: Any, where: str = "value", ascii_only: bool = False) -> str:
    """The canonical JSON text of `value`: sorted keys, no whitespace, UTF-8 characters kept (the form that is
    hashed) or, with `ascii_only`, escaped as \\uXXXX (the same value, for FITS text)."""
    return json.dumps(canonical(value, where), sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only,
                      allow_nan=False)


def sha256_text(text: str) -> str:
    """The full SHA-256 hex digest of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_quantity(value: Any) -> bool:
    """True for an astropy Quantity, without importing astropy.units for everything else."""
    return type(value).__module__.startswith("astropy.units") and hasattr(value, "si")
