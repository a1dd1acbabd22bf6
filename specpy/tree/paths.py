"""Tree paths: '/'-separated names; checking them, flattening nested dicts, and suggesting near misses."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ValidationError

_SEGMENT = re.compile(r"[A-Za-z0-9_.\-]+\Z")


def check_path(path: str) -> str:
    """Return `path` if every segment is a plain name (letters, digits, '_', '-', '.'), else raise."""
    if not isinstance(path, str):
        raise ValidationError(f"a tree path must be a str like 'laser/power', not {type(path).__name__} {path!r}")
    if path == "":
        return path
    for segment in path.split("/"):
        if not _SEGMENT.match(segment):
            raise ValidationError(
                f"{path!r} is not a valid tree path: each '/'-separated name must be non-empty and use only "
                "letters, digits, '_', '-' and '.'"
            )
    return path


def join(prefix: str, name: str) -> str:
    """Join two path parts; either may be empty."""
    if not prefix:
        return name
    if not name:
        return prefix
    return f"{prefix}/{name}"


def flatten(
    mapping: Mapping[str, Any], prefix: str = "", *, is_leaf: Any = None, what: str = "a Leaf schema"
) -> dict[str, Any]:
    """Flatten nested dicts (and keys holding '/') into {full path: value}, keeping the given order.

    A value is a leaf when `is_leaf(value)` is true or, with no predicate, when it is not a Mapping;
    with a predicate, anything else that is not a Mapping is refused as not being `what`.
    """
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ValidationError(f"a tree key must be a str, not {type(key).__name__} {key!r} (under {prefix!r})")
        path = check_path(join(prefix, key.strip("/")))
        leaf = is_leaf(value) if is_leaf is not None else not isinstance(value, Mapping)
        if leaf:
            if path in flat:
                raise ValidationError(f"{path!r} is given twice")
            flat[path] = value
        elif isinstance(value, Mapping):
            for sub, item in flatten(value, path, is_leaf=is_leaf, what=what).items():
                if sub in flat:
                    raise ValidationError(f"{sub!r} is given twice")
                flat[sub] = item
        else:
            raise ValidationError(f"{path!r}: expected {what} or a dict of them, got {value!r}")
    return flat


def prefixes(path: str) -> Iterable[str]:
    """Yield the inner-node paths above `path`: 'a/b/c' gives 'a' and 'a/b'."""
    parts = path.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


def under(path: str, prefix: str) -> bool:
    """True if `path` is `prefix` itself or lies below it ('' is above everything)."""
    return not prefix or path == prefix or path.startswith(prefix + "/")


def nest(flat: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Turn {full path: value} for the paths under `prefix` into nested dicts relative to it."""
    tree: dict[str, Any] = {}
    cut = len(prefix) + 1 if prefix else 0
    for path, value in flat.items():
        node = tree
        *parents, last = path[cut:].split("/")
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = value
    return tree


def closest(path: str, candidates: Iterable[str], count: int = 3) -> list[str]:
    """The existing paths nearest to a mistyped one, best first (by whole path, then by last name)."""
    pool = list(candidates)
    found = difflib.get_close_matches(path, pool, n=count, cutoff=0.6)
    if len(found) < count:
        last = path.rsplit("/", 1)[-1]
        by_name = {c: c.rsplit("/", 1)[-1] for c in pool}
        for match in difflib.get_close_matches(last, set(by_name.values()), n=count, cutoff=0.6):
            found.extend(c for c, name in by_name.items() if name == match and c not in found)
    return found[:count]


def unknown_path(path: str, candidates: Iterable[str], what: str = "path") -> ValidationError:
    """A ValidationError for a path that does not exist, naming the closest existing ones."""
    near = closest(path, candidates)
    hint = f"; did you mean {', '.join(repr(p) for p in near)}?" if near else ""
    error = ValidationError(f"unknown {what} {path!r}{hint}")
    error.path = path  # type: ignore[attr-defined]
    error.suggestions = near  # type: ignore[attr-defined]
    return error
