"""What a product records about the acquisition behind a stack: identity hash, sample, instrument, times.

The facts are looked up in the stack's tags first, then in its parameters, under the names in
`FACTS` (the engine records them there; a lab script can set them by hand with `set_tag`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from ..errors import Error
from ..stack import Stack

# fact -> (tag name, parameter path); the tag wins when both are present.
FACTS: dict[str, tuple[str, str]] = {
    "sample": ("sample", "sample"),
    "instrument": ("instrument", "instrument"),
    "started": ("started", "measurement/started"),
    "finished": ("finished", "measurement/finished"),
    "dwell_time": ("dwell_time", "scan/dwell_time"),
    "lasers": ("lasers", "lasers"),
}


def stack_sha256(stack: Stack) -> str:
    """SHA-256 of a stack's content: dtype, shape, every piece of metadata, and the data bytes."""
    digest = hashlib.sha256()
    digest.update(json.dumps(_meta(stack), sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\0")
    digest.update(stack.data().tobytes(order="C"))
    return digest.hexdigest()


def stack_fact(stack: Stack, fact: str) -> Any:
    """One acquisition fact of a stack (see FACTS), or None when the stack does not record it."""
    tag, path = FACTS[fact]
    tags = stack.tags()
    if tag in tags:
        return tags[tag]
    try:
        return stack.parameters(path)
    except Error:
        return None


def stack_time(stack: Stack, fact: str) -> datetime | None:
    """The 'started' or 'finished' fact as a timezone-aware UTC datetime (ISO text or POSIX seconds)."""
    value = stack_fact(stack, fact)
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise Error(f"the stack's {fact!r} time {value!r} is neither ISO 8601 text nor POSIX seconds") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def stack_record(stack: Stack) -> dict[str, Any]:
    """The acquisition row values of a stack (without file references)."""
    facts = {fact: stack_fact(stack, fact) for fact in ("sample", "instrument")}
    return {
        "sha256": stack_sha256(stack),
        "name": stack.name(),
        "sample": None if facts["sample"] is None else str(facts["sample"]),
        "instrument": None if facts["instrument"] is None else str(facts["instrument"]),
        "started_at": stack_time(stack, "started"),
        "finished_at": stack_time(stack, "finished"),
        "meta": _meta(stack),
    }


def _meta(stack: Stack) -> dict[str, Any]:
    """The stack's metadata without the data or the write progress; non-finite pixel sizes become None."""
    meta = stack.meta_data()
    meta.pop("samples_written")
    meta["pixel_sizes"] = [size if size == size else None for size in meta["pixel_sizes"]]
    return meta
