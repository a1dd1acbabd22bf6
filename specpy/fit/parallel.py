"""Per-part work spread over worker threads (numpy releases the GIL in its big array operations)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

P = TypeVar("P")


def map_parts(workers: int, function: Callable[[P], Any], parts: Sequence[P]) -> list[Any]:
    """function applied to every part, in order; over min(workers, parts) threads when there is more than one of each.

    Each part is computed the same way whatever the thread count, so results do not depend on it.
    """
    if workers <= 1 or len(parts) < 2:
        return [function(part) for part in parts]
    with ThreadPoolExecutor(min(workers, len(parts))) as pool:
        return list(pool.map(function, parts))
