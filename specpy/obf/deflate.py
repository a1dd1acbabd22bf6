"""zlib streams in independent blocks, compressed and inflated on all cores.

Imspector compresses a stack as one zlib stream (level 1) with a full flush after every complete
block of `flush_block_size` raw bytes. A full flush resets the compressor, so each block's deflate
output depends only on that block: compressing blocks separately and concatenating them gives the
very same bytes as one sequential stream, and a reader can inflate blocks separately from the
recorded flush points. zlib releases the GIL, so a thread pool runs on every core.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

LEVEL = 1
ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window, level 1 ("fastest") flag
MAX_EXPANSION = 1032  # deflate cannot inflate more than ~1032 bytes per compressed byte
_BASE = 65521  # adler-32 modulus

T = TypeVar("T")
R = TypeVar("R")

_pool: ThreadPoolExecutor | None = None


def worker_pool() -> ThreadPoolExecutor:
    """The process-wide pool for block work (created on first use, one thread per core)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="specpy-zlib")
    return _pool


def ordered_map(fn: Callable[[T], R], items: Iterable[T], ahead: int | None = None) -> Iterator[R]:
    """Map `fn` over `items` on the pool, yielding results in order with a bounded number in flight."""
    pool = worker_pool()
    limit = ahead or 2 * (os.cpu_count() or 1)
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= limit:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """The adler-32 of A+B from adler(A), adler(B) and len(B) (zlib's adler32_combine)."""
    rem = len2 % _BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _BASE
    sum1 = (sum1 + (adler2 & 0xFFFF) + _BASE - 1) % _BASE
    sum2 = (sum2 + (adler1 >> 16) + (adler2 >> 16) + _BASE - rem) % _BASE
    return sum1 | (sum2 << 16)


def _deflate_block(block: memoryview) -> tuple[bytes, int]:
    """Raw-deflate one complete block and full-flush it; also return the block's adler-32."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH), zlib.adler32(block)


class BlockDeflater:
    """Compresses a growing byte stream exactly as one zlib stream with full flushes per block.

    `feed` takes the next raw bytes and returns the compressed bytes now final; `sync` makes all
    bytes fed so far decodable (a sync flush, for partial stacks); `finish` ends the stream.
    `flush_points` are the compressed offsets (zlib header included) after each complete block.
    """

    def __init__(self, block_size: int):
        self.block_size = block_size
        self.flush_points: list[int] = []
        self.compressed_size = 0
        self._adler = 1
        self._live: zlib._Compress | None = None  # compressor of the current incomplete block
        self._live_len = 0
        self._live_adler = 1

    def _emit(self, parts: list[bytes], chunk: bytes) -> None:
        parts.append(chunk)
        self.compressed_size += len(chunk)

    def feed(self, data: memoryview) -> Iterator[bytes]:
        """Compress the next raw bytes, yielding compressed pieces in order as they are ready."""
        parts: list[bytes] = []
        if self.compressed_size == 0:
            self._emit(parts, ZLIB_HEADER)
        data = memoryview(data).cast("B")
        position = 0
        if self._live is not None:  # complete the block that an earlier call left open
            position = min(len(data), self.block_size - self._live_len)
            self._feed_live(parts, data[:position])
        yield from parts
        whole = (len(data) - position) // self.block_size
        blocks = (data[position + k * self.block_size: position + (k + 1) * self.block_size] for k in range(whole))
        for chunk, adler in ordered_map(_deflate_block, blocks):
            self.compressed_size += len(chunk)
            self._adler = adler32_combine(self._adler, adler, self.block_size)
            self.flush_points.append(self.compressed_size)
            yield chunk
        position += whole * self.block_size
        if position < len(data):
            parts = []
            self._feed_live(parts, data[position:])
            yield from parts

    def _feed_live(self, parts: list[bytes], data: memoryview) -> None:
        if self._live is None:
            self._live = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
            self._live_len, self._live_adler = 0, 1
        self._emit(parts, self._live.compress(data))
        self._live_len += len(data)
        self._live_adler = zlib.adler32(data, self._live_adler)
        if self._live_len == self.block_size:
            self._emit(parts, self._live.flush(zlib.Z_FULL_FLUSH))
            self._close_live()
            self.flush_points.append(self.compressed_size)

    def _close_live(self) -> None:
        self._adler = adler32_combine(self._adler, self._live_adler, self._live_len)
        self._live = None
        self._live_len = 0

    def sync(self) -> list[bytes]:
        """Make every byte fed so far decodable from what has been returned (Z_SYNC_FLUSH)."""
        parts: list[bytes] = []
        if self.compressed_size == 0:
            self._emit(parts, ZLIB_HEADER)
        if self._live is not None:
            self._emit(parts, self._live.flush(zlib.Z_SYNC_FLUSH))
        return parts

    def finish(self) -> list[bytes]:
        """End the stream: the final deflate block and the adler-32 trailer."""
        parts = self.sync() if self.compressed_size == 0 else []
        compressor = self._live or zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
        self._emit(parts, compressor.flush(zlib.Z_FINISH))
        if self._live is not None:
            self._close_live()
        self._emit(parts, struct.pack(">I", self._adler))
        return parts


class InflateError(Exception):
    """A compressed stream that does not inflate to what its stack declares (reason in the message)."""


def _inflate_raw(source: memoryview, size: int) -> tuple[zlib._Decompress, bytes]:
    """Raw-inflate at most `size` bytes (one more shows an overrun, which raises)."""
    inflater = zlib.decompressobj(-15)
    try:
        produced = inflater.decompress(source, size + 1)
    except zlib.error as error:
        raise InflateError(f"corrupt compressed block: {error}") from None
    if len(produced) > size:
        raise InflateError(f"the compressed data inflates past its declared size of {size} bytes")
    return inflater, produced


def _inflate_block(job: tuple[memoryview, memoryview]) -> int:
    """Inflate one full-flush block into `out` exactly; return the adler-32 of what it wrote."""
    source, out = job
    _, produced = _inflate_raw(source, len(out))
    if len(produced) < len(out):
        raise InflateError(f"a compressed block ends after {len(produced)} of {len(out)} bytes")
    out[:] = produced
    return zlib.adler32(out)


def inflate_blocks(stream: memoryview, flush_points: list[int], block_size: int, out: memoryview) -> None:
    """Inflate a complete zlib stream with full flushes at `flush_points` into `out`, on all cores.

    Raises InflateError if any block is corrupt, inflates to the wrong size, or the checksum fails.
    """
    bounds = [len(ZLIB_HEADER), *flush_points, len(stream)]
    sources = [stream[start:end] for start, end in zip(bounds, bounds[1:])]
    whole = len(flush_points)
    targets = [out[k * block_size:(k + 1) * block_size] for k in range(whole)] + [out[whole * block_size:]]
    adler = 1
    for target, block_adler in zip(targets, ordered_map(_inflate_block, zip(sources[:-1], targets[:-1]))):
        adler = adler32_combine(adler, block_adler, len(target))
    # The last block ends the stream: the final deflate block, then the checksum.
    last = targets[-1]
    inflater, produced = _inflate_raw(sources[-1], len(last))
    if len(produced) < len(last) or not inflater.eof:
        raise InflateError(f"the compressed stream is unfinished: it ends before {len(out)} bytes")
    last[:] = produced
    adler = adler32_combine(adler, zlib.adler32(last), len(last))
    trailer = inflater.unused_data[:4]
    if len(trailer) != 4 or struct.unpack(">I", trailer)[0] != adler:
        raise InflateError("the checksum of the inflated data does not match the stream's adler-32")


def inflate_sequential(stream: memoryview, out: memoryview, needed: int) -> None:
    """Inflate the first `needed` bytes of a zlib stream into `out` (the stream may be unfinished).

    If `needed` is all of `out`, the stream must also not hold more data than `out`.
    """
    inflater = zlib.decompressobj()
    filled = 0
    position = 0
    step = 1 << 22
    try:
        while filled < needed and not inflater.eof:
            chunk = inflater.unconsumed_tail or stream[position:position + step]
            if not inflater.unconsumed_tail:
                position += len(chunk)
            if not chunk:
                break
            piece = inflater.decompress(chunk, needed - filled)
            out[filled:filled + len(piece)] = piece
            filled += len(piece)
        if filled < needed:
            raise InflateError(f"the compressed stream ends after {filled} of {needed} bytes")
        if needed == len(out) and not inflater.eof:
            rest = inflater.unconsumed_tail or stream[position:position + step]
            if rest and inflater.decompress(rest, 1):
                raise InflateError(f"the compressed stream inflates past its declared {len(out)} bytes")
    except zlib.error as error:
        raise InflateError(f"corrupt compressed data after {filled} bytes: {error}") from None


def as_bytes(array: np.ndarray) -> memoryview:
    """The raw bytes of a C-contiguous array, without a copy."""
    return memoryview(array.reshape(-1).view(np.uint8))
