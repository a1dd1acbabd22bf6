"""Writing one stack, whole or while it grows, so that a killed writer leaves a readable file.

A stack becomes visible only when the pointer to it is patched in (8 bytes, after its header,
data and footer are on disk). After that, nothing live is overwritten:
- raw data is laid out at its full size at once; a flush writes the new samples in place and then
  patches the footer's "samples written" (8 bytes);
- raw data written in place is laid out when the writer begins, and the data region, mapped
  shared, is the stack's buffer: samples land in the file's pages as they are filled in, and a
  flush only patches "samples written" (and links the stack in at the first flush);
- compressed data grows as chunks: each flush appends the new compressed bytes and a new footer
  after the old one, then patches the header's data length to point at the new footer (8 bytes).
At every moment the file reads back as the stack up to its last flush, zero-filled beyond.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..dtypes import CODE_OF_DTYPE
from ..errors import Error, ValidationError
from ..stack import Stack
from ..units import DIMENSIONLESS
from .deflate import BlockDeflater, as_bytes
from .layout import (
    DATA_LEN_FIELD,
    FOOTER_SIZE,
    MAX_RANK,
    SAMPLES_WRITTEN_FIELD,
    STACK_HEADER,
    STACK_VERSION,
    StackFooter,
    StackHeader,
    pack_dictionary,
    pack_string,
)
from .reader import PARAMETERS_TAG, StackRecord

if TYPE_CHECKING:
    from .file import File

BLOCK_LIMIT = 262144  # Imspector's flush block sizing (see flush_block_size)
BLOCK_MIN = 65536


def flush_block_size(numpy_shape: tuple[int, ...], itemsize: int) -> int:
    """The raw bytes between full flushes, chosen as Imspector does so compressed bytes are identical.

    Prefer whole slices of the array between BLOCK_MIN and BLOCK_LIMIT bytes; split a larger slice
    evenly along the next axis; fall back to equal cuts of at least BLOCK_MIN bytes.
    """
    total = itemsize * math.prod(numpy_shape)
    slice_bytes = [itemsize * math.prod(numpy_shape[i + 1:]) for i in range(len(numpy_shape))]
    deep = [i for i, s in enumerate(slice_bytes) if s >= BLOCK_MIN]
    if deep and slice_bytes[deep[-1]] <= BLOCK_LIMIT:
        return slice_bytes[deep[-1]]
    split_axis = deep[-1] + 1 if deep else 0
    above = slice_bytes[deep[-1]] if deep else total
    count = numpy_shape[split_axis]
    least = -(-above // BLOCK_LIMIT)
    parts = next(k for k in range(max(least, 1), count + 1) if count % k == 0)
    block = count // parts * slice_bytes[split_axis]
    if block < BLOCK_MIN and parts > 1:
        cuts = total // above * (above // BLOCK_MIN)
        block = total // cuts
    return block


class StackWriter:
    """Writes one stack of a File: `flush(samples)` as the stack fills, `close()` when done.

    Samples count in numpy's C order (the fastest axis first in SpecPy's terms): an acquisition
    that fills the stack slice by slice flushes the samples of every finished slice. `in_place`
    (raw only): see `File.begin_stack`.
    """

    def __init__(self, file: File, stack: Stack, compression: bool, in_place: bool = False):
        if not isinstance(compression, bool):
            raise ValidationError(f"compression must be True or False, not {compression!r}")
        if in_place and compression:
            raise ValidationError("only a raw (uncompressed) stack can be written in place")
        shape = stack.shape()
        if not 1 <= len(shape) <= MAX_RANK:
            raise ValidationError(f"an OBF stack has 1..{MAX_RANK} axes; this stack has {len(shape)}")
        if 0 in shape:
            raise ValidationError(f"an OBF stack cannot have an empty axis; the stack's shape is {shape}")
        data = stack.data()
        self._file = file
        self._stack = stack
        self._data = as_bytes(data)
        self._itemsize = data.dtype.itemsize
        self._total = data.size
        self._compression = compression
        self._block = flush_block_size(data.shape, self._itemsize)
        self._deflater = BlockDeflater(self._block) if compression else None
        self._samples = 0
        self._record: StackRecord | None = None  # set once the stack is on disk
        self._linked = False  # the stack is part of the file (after its first flush)
        self._mapping: mmap.mmap | None = None  # the shared data region of a stack written in place
        self._finished = False
        if in_place:
            self._lay_out_in_place()

    @property
    def samples_written(self) -> int:
        """How many samples (C order) are safely in the file."""
        return self._samples

    def flush(self, samples: int | None = None) -> None:
        """Write the samples up to `samples` (default: all) so that the file reads them back."""
        with self._file._lock:
            self._flush(self._total if samples is None else int(samples))

    def _flush(self, samples: int) -> None:
        if self._finished:
            raise Error("this stack is closed; write another stack instead")
        if not self._samples <= samples <= self._total:
            raise ValidationError(
                f"samples written must grow from {self._samples} up to {self._total}, got {samples}"
            )
        if samples == self._samples and self._linked:
            return
        if samples == 0:
            return  # "0 samples written" would read as "all": a stack appears with its first sample
        raw = self._data[self._samples * self._itemsize: samples * self._itemsize]
        if self._deflater is None:
            self._flush_raw(raw, samples)
        else:
            self._flush_compressed(raw, samples)
        self._samples = samples
        if samples == self._total:
            self._finish()
        self._file._after_flush()

    def close(self) -> None:
        """End the stack as far as it was flushed; the rest reads back as zeros."""
        with self._file._lock:
            self._close()

    def _close(self) -> None:
        if self._finished:
            return
        if self._deflater is not None and self._record is not None:
            self._append_chunk(self._compressed(memoryview(b""), final=True), self._samples)
            self._file._after_flush()
        self._finish()

    def _finish(self) -> None:
        """The stack no longer grows; one written in place gets a buffer of its own (later writes stay in memory)."""
        if self._mapping is not None:
            self._stack._data = self._region(mmap.ACCESS_COPY)[1]
            self._mapping = None
        self._finished = True
        self._file._writer_done(self)

    # --- raw data: laid out whole, filled in place ---------------------------------------------

    def _flush_raw(self, raw: memoryview, samples: int) -> None:
        if self._record is None:
            # The whole data region is laid out now (the unwritten tail is a hole of zeros).
            self._write_stack(self._file._end, [raw], samples, self._total * self._itemsize)
        elif self._mapping is not None:
            self._flush_mapped(samples)
        else:
            self._file._write_at(self._record.data_start + self._samples * self._itemsize, [raw])
            self._file._sync()
            self._file._patch(self._record.footer_position + SAMPLES_WRITTEN_FIELD, struct.pack("<Q", samples))

    # --- raw data written in place: the stack's buffer is the file's data region ----------------

    def _lay_out_in_place(self) -> None:
        """Lay the stack out now (linked in at the first flush) and make its mapped data region the stack's buffer.

        The region's blocks are allocated first, so a full disk fails here rather than (SIGBUS) while
        samples land in the mapping. Whatever the stack holds already is copied in.
        """
        data = self._stack.data()
        nbytes = self._total * self._itemsize
        self._record = self._lay_out(self._file._end, [], 0, nbytes)
        self._file._after_flush()
        self._file._reserve(self._record.data_start, nbytes)
        self._mapping, region = self._region(mmap.ACCESS_WRITE)
        if hasattr(mmap, "MADV_RANDOM"):
            # No read-ahead: the steps fill the region front to back, and each page first touched would otherwise
            # have the kernel fill a whole read-ahead window (8 MB here) with zeros, stalling that step ~10 ms.
            self._mapping.madvise(mmap.MADV_RANDOM)
        if data.any():
            region[...] = data
        self._stack._data = region
        self._data = as_bytes(region)

    def _region(self, access: int) -> tuple[mmap.mmap, np.ndarray]:
        """The stack's data region in the file, mapped with `access`, and the stack's array on it."""
        assert self._record is not None
        start = self._record.data_start
        aligned = start - start % mmap.ALLOCATIONGRANULARITY
        mapping = mmap.mmap(self._file._handle.fileno(), start - aligned + self._total * self._itemsize,
                            access=access, offset=aligned)
        data = self._stack.data()
        return mapping, np.frombuffer(mapping, data.dtype, self._total, start - aligned).reshape(data.shape)

    def _flush_mapped(self, samples: int) -> None:
        """The samples are in the file's pages already: (for a durable file, write them out,) then count them."""
        assert self._record is not None and self._mapping is not None
        if self._file._durable:
            self._mapping.flush()
        self._file._patch(self._record.footer_position + SAMPLES_WRITTEN_FIELD, struct.pack("<Q", samples))
        if not self._linked:
            self._link()

    # --- compressed data: a growing stream, appended as chunks --------------------------------

    def _flush_compressed(self, raw: memoryview, samples: int) -> None:
        if self._record is None:
            self._write_stack(self._file._end, self._compressed(raw, samples == self._total), samples)
        else:
            self._append_chunk(self._compressed(raw, samples == self._total), samples)

    def _compressed(self, raw: memoryview, final: bool) -> Iterator[bytes]:
        """The compressed bytes of `raw`, block by block as they are ready, then a sync or the end."""
        assert self._deflater is not None
        yield from self._deflater.feed(raw)
        yield from self._deflater.finish() if final else self._deflater.sync()

    def _append_chunk(self, parts: Iterable[bytes], samples: int) -> None:
        """Append compressed bytes as a new chunk with a new footer, then switch the header to it."""
        record = self._record
        assert record is not None and self._deflater is not None
        place = self._file._end
        record.chunks.append((self._deflater.compressed_size, place - record.data_start))
        footer_at = place + self._file._write_at(place, parts)
        footer = self._footer_bytes(footer_at, samples, record.chunks)
        self._file._end = footer_at + self._file._write_at(footer_at, footer)
        self._file._sync()
        record.header.data_len_disk = footer_at - record.data_start
        record.footer_position = footer_at
        self._file._patch(record.position + DATA_LEN_FIELD, struct.pack("<Q", record.header.data_len_disk))

    # --- the stack on disk ---------------------------------------------------------------------

    def _write_stack(self, position: int, data_parts: Iterable, samples: int, data_len: int | None = None) -> None:
        """Write header, data (streamed), footer; then link the stack in: only now is it visible."""
        self._record = self._lay_out(position, data_parts, samples, data_len)
        self._link()

    def _link(self) -> None:
        """Make the laid-out stack part of the file (one 8-byte pointer)."""
        assert self._record is not None
        self._file._link(self._record)
        self._linked = True

    def _lay_out(self, position: int, data_parts: Iterable, samples: int, data_len: int | None) -> StackRecord:
        """Write header, data (streamed) and footer at `position`; the stack is not part of the file yet.

        `data_len` is the data region's size when known (raw); else the bytes the parts hold.
        """
        stack = self._stack
        name, description = stack.name().encode("utf-8"), stack.description().encode("utf-8")
        shape = stack.shape()
        dtype = np.dtype(stack.type())
        header = StackHeader(
            STACK_VERSION, len(shape), shape, stack.lengths(), stack.offsets(), CODE_OF_DTYPE[dtype],
            int(self._compression), len(name), len(description), 0, 0,
        )
        data_start = position + STACK_HEADER.size + len(name) + len(description)
        self._file._write_at(position, [header.pack(), name, description])
        written = self._file._write_at(data_start, data_parts)
        header.data_len_disk = written if data_len is None else data_len
        footer_at = data_start + header.data_len_disk
        footer = self._footer_bytes(footer_at, samples, [])
        self._file._end = footer_at + self._file._write_at(footer_at, footer)
        self._file._patch(position + DATA_LEN_FIELD, struct.pack("<Q", header.data_len_disk))
        record = StackRecord(position, header, dtype, shape, stack.name(), stack.description(), data_start)
        record.footer_position = footer_at
        return record

    def _footer_bytes(self, position: int, samples: int, chunks: list[tuple[int, int]]) -> list[bytes]:
        """The footer and its variable part, for a footer placed at `position`."""
        stack = self._stack
        rank = len(stack.shape())
        col_positions = {axis: stack.col_positions(axis) for axis in range(rank) if stack._col_positions.get(axis)}
        col_labels = {axis: stack.col_labels(axis) for axis in range(rank) if stack.col_labels(axis)}
        tags = stack.tags()
        if stack.parameters(""):
            tags[PARAMETERS_TAG] = json.dumps(stack.parameters(""), separators=(",", ":"))
        flush_points = self._deflater.flush_points if self._deflater is not None else []
        variable = [
            *(pack_string(label) for label in stack.labels()),
            *(np.asarray(col_positions[axis], "<f8").tobytes() for axis in sorted(col_positions)),
            *(pack_string(label) for axis in sorted(col_labels) for label in col_labels[axis]),
            np.asarray(flush_points, "<u8").tobytes(),
            pack_dictionary(tags),
            np.asarray(chunks, "<u8").reshape(-1).tobytes(),
        ]
        end = position + FOOTER_SIZE + sum(map(len, variable))
        footer = StackFooter(
            has_col_positions=[int(axis in col_positions) for axis in range(MAX_RANK)],
            has_col_labels=[int(axis in col_labels) for axis in range(MAX_RANK)],
            value_unit=stack._value_unit,
            axis_units=[*stack._units] + [DIMENSIONLESS] * (MAX_RANK - rank),
            num_flush_points=len(flush_points),
            flush_block_size=self._block,
            tag_dict_len=len(variable[-2]),
            stack_end_disk=end,
            stack_end_used_disk=end,
            samples_written=samples,
            num_chunk_positions=len(chunks),
        )
        return [footer.pack(), *variable]
