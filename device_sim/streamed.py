"""Replies sent while their bytes are still being produced: the length is known up front, the pieces
come later (a frame the counter is still computing goes out row band by row band)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any


class Streamed:
    """`length` bytes delivered as the buffers `pieces` yields (single use); bytes() joins them."""

    def __init__(self, length: int, pieces: Iterable[Any]) -> None:
        """Keep the total length and the (lazy) pieces, which must add up to it."""
        self.length = length
        self._pieces = pieces

    def __len__(self) -> int:
        """The reply's size in bytes."""
        return self.length

    def __iter__(self) -> Iterator[Any]:
        """The pieces, each a buffer (bytes, memoryview, contiguous array), as they become ready."""
        return iter(self._pieces)

    def __bytes__(self) -> bytes:
        """The whole reply at once (waits for every piece)."""
        return b"".join(memoryview(piece).cast("B") for piece in self)


def definite_block(data: bytes | Streamed) -> bytes | Streamed:
    """An IEEE 488.2 definite-length block: #<digits of length><length><data>, streamed if the data is."""
    length = str(len(data)).encode()
    header = b"#" + str(len(length)).encode() + length
    if isinstance(data, Streamed):
        return Streamed(len(header) + len(data), chain((header,), data))
    return header + data


def join_replies(replies: list[bytes | Streamed]) -> bytes | Streamed:
    """One program message's replies as one line: separated by ';', ended by a newline."""
    if not any(isinstance(reply, Streamed) for reply in replies):
        return b";".join(replies) + b"\n"  # type: ignore[arg-type]
    parts: list[bytes | Streamed] = []
    for reply in replies:
        parts += [reply, b";"]
    parts[-1] = b"\n"
    length = sum(len(part) for part in parts)
    return Streamed(length, chain.from_iterable(part if isinstance(part, Streamed) else (part,) for part in parts))
