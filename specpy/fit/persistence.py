"""Versioned JSON + .npz files for command logs and saved sessions; never pickle.

Arrays go into an .npz beside the JSON (``<path>.npz``) and are referenced from the JSON as
``{"__array__": key}``; slices, tuples and infinite floats have their own tagged forms. Loading
uses ``numpy.load(..., allow_pickle=False)`` and a whitelist of commands, so a file can never
run code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import SessionFileError

LOG_FORMAT = "specpy.fit.log"
SESSION_FORMAT = "specpy.fit.session"
VERSION = 1


class ArrayStore:
    """Collects arrays while encoding and hands them back while decoding."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None) -> None:
        self.arrays: dict[str, np.ndarray] = dict(arrays or {})

    def put(self, array: np.ndarray) -> dict[str, str]:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.array(array, copy=True)
        return {"__array__": key}

    def get(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise SessionFileError(f"the .npz beside the file has no array {key!r}")
        return self.arrays[key]


def encode(value: Any, store: ArrayStore) -> Any:
    """A JSON-ready form of a call argument or state value."""
    if isinstance(value, np.ndarray):
        return store.put(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if np.isfinite(v) else {"__float__": repr(v)}
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, slice):
        return {"__slice__": [encode(value.start, store), encode(value.stop, store), encode(value.step, store)]}
    if isinstance(value, (list, tuple)):
        items = [encode(v, store) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise SessionFileError("only dictionaries with text keys can be stored")
        return {"__dict__": {k: encode(v, store) for k, v in value.items()}}
    raise SessionFileError(f"cannot store a value of type {type(value).__name__}")


def decode(value: Any, store: ArrayStore) -> Any:
    """The inverse of `encode`."""
    if isinstance(value, list):
        return [decode(v, store) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return store.get(value["__array__"])
    if "__float__" in value:
        text = value["__float__"]
        if text not in ("inf", "-inf", "nan"):
            raise SessionFileError(f"bad special float {text!r}")
        return float(text)
    if "__slice__" in value:
        return slice(*(decode(v, store) for v in value["__slice__"]))
    if "__tuple__" in value:
        return tuple(decode(v, store) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: decode(v, store) for k, v in value["__dict__"].items()}
    raise SessionFileError(f"unknown tagged value {sorted(value)!r}")


def write(path: str | os.PathLike, header: dict[str, Any], lines: list[Any], store: ArrayStore) -> None:
    """Write a JSON-lines file (header first) and its .npz of arrays."""
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(header, allow_nan=False) + "\n")
        for line in lines:
            out.write(json.dumps(line, allow_nan=False) + "\n")
    np.savez(path + ".npz", **store.arrays)


def read(path: str | os.PathLike, expected_format: str) -> tuple[dict[str, Any], list[Any], ArrayStore]:
    """Read a file written by `write`, checking its format name and version."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as src:
            raw = [line for line in src.read().splitlines() if line.strip()]
        parsed = [json.loads(line) for line in raw]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SessionFileError(f"{path!r}: cannot read it as a {expected_format} file ({error})") from error
    if not parsed or not isinstance(parsed[0], dict) or parsed[0].get("format") != expected_format:
        raise SessionFileError(f"{path!r}: not a {expected_format} file (its first line must name the format)")
    version = parsed[0].get("version")
    if version != VERSION:
        raise SessionFileError(f"{path!r}: {expected_format} version {version!r} is not supported; this is version {VERSION}")
    arrays: dict[str, np.ndarray] = {}
    if os.path.exists(path + ".npz"):
        try:
            with np.load(path + ".npz", allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (OSError, ValueError) as error:
            raise SessionFileError(f"{path}.npz: cannot read the arrays ({error})") from error
    return parsed[0], parsed[1:], ArrayStore(arrays)


@dataclass
class CommandLog:
    """Every state-changing call of a session, in order: (command, positional args, keyword args)."""

    entries: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)

    @staticmethod
    def private(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments with every array replaced by a read-only copy, so later changes by the caller cannot alter a call."""

        def copy(v: Any) -> Any:
            if not isinstance(v, np.ndarray):
                return v
            v = np.array(v, copy=True)
            v.flags.writeable = False
            return v

        return tuple(copy(a) for a in args), {k: copy(v) for k, v in kwargs.items()}

    def record(self, command: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Append a call whose arguments are already private (see `private`)."""
        self.entries.append((command, args, kwargs))

    def encoded(self, store: ArrayStore) -> list[dict[str, Any]]:
        """The entries in their JSON form."""
        return [{"cmd": c, "args": encode(list(a), store), "kwargs": encode(k, store)} for c, a, k in self.entries]

    @staticmethod
    def decoded(lines: list[Any], store: ArrayStore, allowed: frozenset[str]) -> list[tuple[str, list[Any], dict[str, Any]]]:
        """Entries read back, refusing any command outside `allowed`."""
        out = []
        for number, line in enumerate(lines, 2):
            if not isinstance(line, dict) or not isinstance(line.get("cmd"), str):
                raise SessionFileError(f"line {number}: not a command entry")
            if line["cmd"] not in allowed:
                raise SessionFileError(f"line {number}: unknown command {line['cmd']!r}; allowed: {', '.join(sorted(allowed))}")
            args, kwargs = decode(line.get("args", []), store), decode(line.get("kwargs", {"__dict__": {}}), store)
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise SessionFileError(f"line {number}: malformed arguments")
            out.append((line["cmd"], args, kwargs))
        return out

    def save(self, path: str | os.PathLike, version: str) -> None:
        """Write the log as JSON lines plus ``<path>.npz``."""
        store = ArrayStore()
        write(path, {"format": LOG_FORMAT, "version": VERSION, "specpy": version}, self.encoded(store), store)
