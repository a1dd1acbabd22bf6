"""Reading .obf/.msr files: every header checked against the file before anything is allocated.

`read_structure` walks the file header and the chain of stacks and returns one `StackRecord`
per stack (metadata only). `load_data` turns a record into its numpy array: memory-mapped when
the data is stored raw in one piece, inflated on all cores when compressed.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from ..dtypes import dtype_of_code
from ..errors import FormatError
from ..units import SIUnit
from .deflate import MAX_EXPANSION, InflateError, as_bytes, inflate_blocks, inflate_sequential
from .layout import (
    FILE_HEADER,
    FILE_MAGIC,
    MAX_RANK,
    METADATA_POS,
    MIN_FOOTER_SIZE,
    STACK_HEADER,
    STACK_MAGIC,
    StackFooter,
    StackHeader,
)

PARAMETERS_TAG = "specpy:parameters"  # the tag that carries Stack.parameters() as JSON


@dataclass
class StackRecord:
    """Everything a file says about one stack, and where its data lies."""

    position: int  # of the stack header
    header: StackHeader
    dtype: np.dtype
    shape: list[int]  # SpecPy order
    name: str
    description: str
    data_start: int
    footer: StackFooter = field(default_factory=StackFooter)
    footer_position: int = 0
    labels: list[str] = field(default_factory=list)
    col_positions: dict[int, list[float]] = field(default_factory=dict)
    col_labels: dict[int, list[str]] = field(default_factory=dict)
    flush_points: list[int] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    chunks: list[tuple[int, int]] = field(default_factory=list)  # (logical offset, offset from data start)
    end: int = 0  # first byte after the stack's variable part

    @property
    def total_samples(self) -> int:
        return int(np.prod(self.shape, dtype=object)) if self.shape else 1

    @property
    def samples_written(self) -> int:
        written = self.footer.samples_written
        return self.total_samples if written == 0 or written > self.total_samples else written

    @property
    def units(self) -> list[SIUnit]:
        return self.footer.axis_units[: len(self.shape)] if self.shape else []


@dataclass
class FileStructure:
    """The file header and the stacks, in chain order."""

    version: int
    description: str
    header_size: int  # bytes up to the first possible stack position
    metadata_position: int
    stacks: list[StackRecord]


class _Cursor:
    """Bounded reads from a file: every read is checked against the file's size first."""

    def __init__(self, handle: BinaryIO, path: str, size: int):
        self.handle, self.path, self.size = handle, path, size

    def fail(self, offset: int | None, problem: str) -> FormatError:
        return FormatError(self.path, offset, problem)

    def read(self, offset: int, count: int, what: str) -> bytes:
        if count < 0 or offset < 0 or offset + count > self.size:
            raise self.fail(offset, f"the file ends at byte {self.size}, {what} needs {count} bytes here")
        self.handle.seek(offset)
        raw = self.handle.read(count)
        if len(raw) != count:
            raise self.fail(offset, f"the file was cut short while reading {what}")
        return raw

    def u32(self, offset: int, what: str) -> int:
        return struct.unpack("<I", self.read(offset, 4, what))[0]

    def string(self, offset: int, what: str) -> tuple[str, int]:
        """A u32 length and UTF-8 text at `offset`; returns the text and the offset after it."""
        length = self.u32(offset, f"the length of {what}")
        return self.text(offset + 4, length, what), offset + 4 + length

    def text(self, offset: int, length: int, what: str) -> str:
        raw = self.read(offset, length, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.fail(offset + error.start, f"{what} is not valid UTF-8") from None


def read_structure(handle: BinaryIO, path: str) -> FileStructure:
    """Parse and check the file header and every stack's header and footer."""
    handle.seek(0, 2)
    cursor = _Cursor(handle, path, handle.tell())
    if cursor.size < FILE_HEADER.size:
        raise cursor.fail(0, f"not an OBF file: {cursor.size} bytes, a file header needs {FILE_HEADER.size}")
    magic, version, first_stack, description_len = FILE_HEADER.unpack(cursor.read(0, FILE_HEADER.size, "the file header"))
    if magic != FILE_MAGIC:
        raise cursor.fail(0, "not an OBF file (no OBF file header found)")
    if version < 1:
        raise cursor.fail(10, f"unknown file format version {version}")
    description = cursor.text(FILE_HEADER.size, description_len, "the file description")
    header_size = FILE_HEADER.size + description_len
    metadata_position = 0
    if version >= 2:
        raw = cursor.read(header_size, METADATA_POS.size, "the metadata position")
        metadata_position = METADATA_POS.unpack(raw)[0]
        header_size += METADATA_POS.size
    stacks: list[StackRecord] = []
    seen: set[int] = set()
    position, pointer_at = first_stack, 14
    while position:
        if position in seen:
            raise cursor.fail(pointer_at, f"the stack chain loops back to the stack at byte {position}")
        seen.add(position)
        record = _read_stack(cursor, position)
        stacks.append(record)
        position, pointer_at = record.header.next_stack_pos, position + 360
    return FileStructure(version, description, header_size, metadata_position, stacks)


def _read_stack(cursor: _Cursor, position: int) -> StackRecord:
    raw = cursor.read(position, STACK_HEADER.size, "a stack header")
    if raw[:16] != STACK_MAGIC:
        raise cursor.fail(position, "no OBF stack header here (the stack pointer is wrong or the file corrupt)")
    header = StackHeader.unpack(raw)
    if header.rank > MAX_RANK:
        raise cursor.fail(position + 20, f"a stack of rank {header.rank}; the format allows 0..{MAX_RANK}")
    dtype = dtype_of_code(header.type_code)
    if dtype is None:
        raise cursor.fail(position + 324, f"unknown data type code {header.type_code:#x}")
    if header.compression not in (0, 1):
        raise cursor.fail(position + 328, f"unknown compression {header.compression} (0 = none, 1 = zlib)")
    shape = header.sizes if header.rank else [1]  # a rank-0 stack holds one element, as Imspector reads it
    offset = position + STACK_HEADER.size
    name = cursor.text(offset, header.name_len, "the stack name")
    description = cursor.text(offset + header.name_len, header.description_len, "the stack description")
    data_start = offset + header.name_len + header.description_len
    record = StackRecord(position, header, dtype, list(shape), name, description, data_start)
    record.labels = [""] * header.rank
    if record.data_start + header.data_len_disk > cursor.size:
        raise cursor.fail(position + 352, f"the stack declares {header.data_len_disk} bytes of data at byte "
                          f"{record.data_start}, past the end of the file at byte {cursor.size}")
    _check_declared_size(cursor, record)
    if header.version >= 1:
        _read_footer(cursor, record)
    _check_raw_length(cursor, record)
    return record


def _check_declared_size(cursor: _Cursor, record: StackRecord) -> None:
    """The on-disk data must be able to hold what the stack declares: nothing larger is ever allocated."""
    disk = record.header.data_len_disk
    nbytes = record.total_samples * record.dtype.itemsize
    if nbytes > MAX_EXPANSION * disk + 1024:
        raise cursor.fail(record.position + 24, f"the stack declares {nbytes} bytes of data but holds only {disk} "
                          f"bytes; even deflate cannot expand more than {MAX_EXPANSION}:1")


def _check_raw_length(cursor: _Cursor, record: StackRecord) -> None:
    """Raw data must hold every sample the footer says was written."""
    needed = record.samples_written * record.dtype.itemsize
    if not record.header.compression and _logical_length(record) < needed:
        raise cursor.fail(record.position + 352, f"the stack holds {_logical_length(record)} bytes of raw data, "
                          f"{needed} needed for its {record.samples_written} samples")


def _read_footer(cursor: _Cursor, record: StackRecord) -> None:
    start = record.data_start + record.header.data_len_disk
    size = cursor.u32(start, "the stack footer size")
    if size < MIN_FOOTER_SIZE:
        raise cursor.fail(start, f"a stack footer of {size} bytes; a footer has at least {MIN_FOOTER_SIZE}")
    footer = StackFooter.unpack(cursor.read(start, min(size, 1528), "the stack footer"), size)
    cursor.read(start, size, "the stack footer")  # the whole footer must be in the file
    record.footer, record.footer_position = footer, start
    rank = record.header.rank
    for flags, what in ((footer.has_col_positions, "column positions"), (footer.has_col_labels, "column labels")):
        flagged = [axis for axis, flag in enumerate(flags) if flag]
        if any(axis >= rank for axis in flagged):
            raise cursor.fail(start + 4, f"{what} flagged for an axis beyond the stack's rank {rank}")
    offset = start + size
    for axis in range(rank):
        record.labels[axis], offset = cursor.string(offset, f"the label of axis {axis}")
    for axis in range(rank):
        if footer.has_col_positions[axis]:
            count = record.shape[axis]
            raw = cursor.read(offset, 8 * count, f"the column positions of axis {axis}")
            record.col_positions[axis] = np.frombuffer(raw, "<f8").tolist()
            offset += 8 * count
    for axis in range(rank):
        if footer.has_col_labels[axis]:
            cursor.read(offset, 4 * record.shape[axis], f"the column labels of axis {axis}")  # bound the count
            labels = []
            for column in range(record.shape[axis]):
                text, offset = cursor.string(offset, f"column label {column} of axis {axis}")
                labels.append(text)
            record.col_labels[axis] = labels
    offset += len(cursor.read(offset, footer.legacy_len, "the legacy metadata string"))
    raw = cursor.read(offset, 8 * footer.num_flush_points, "the flush points")
    record.flush_points = np.frombuffer(raw, "<u8").tolist()
    offset += len(raw)
    record.tags = _read_dictionary(cursor, offset, footer.tag_dict_len)
    offset += footer.tag_dict_len
    raw = cursor.read(offset, 16 * footer.num_chunk_positions, "the chunk positions")
    pairs = np.frombuffer(raw, "<u8").reshape(-1, 2).tolist()
    record.chunks = [(int(logical), int(place)) for logical, place in pairs]
    record.end = offset + len(raw)
    _check_stream_layout(cursor, record)


def _read_dictionary(cursor: _Cursor, offset: int, length: int) -> dict[str, str]:
    """Key/value pairs, each a u32-length UTF-8 string, ended by a zero length, within `length` bytes."""
    if length == 0:
        return {}
    cursor.read(offset, length, "the tag dictionary")  # the block lies in the file
    block = _Cursor(cursor.handle, cursor.path, offset + length)  # and reads may not leave it
    items: dict[str, str] = {}
    position = offset
    while True:
        key, position = block.string(position, "a tag key")
        if not key:
            return items
        items[key], position = block.string(position, f"the value of tag {key!r}")


def _check_stream_layout(cursor: _Cursor, record: StackRecord) -> None:
    """Flush points and chunk positions must be ordered and lie within the on-disk data."""
    disk = record.header.data_len_disk
    footer_offset = record.footer_position
    logical_end = _logical_length(record)
    points = record.flush_points
    if points and (record.footer.flush_block_size == 0 or any(b <= a for a, b in zip(points, points[1:]))
                   or points[0] < 2 or points[-1] > logical_end):
        raise cursor.fail(footer_offset + 1408, "the flush points are not ordered within the compressed data")
    previous_logical, previous_place = 0, 0
    for logical, place in record.chunks:
        if logical < previous_logical or place < previous_place or place > disk:
            raise cursor.fail(footer_offset + 1460, "the chunk positions are not ordered within the stack's data")
        previous_logical, previous_place = logical, place


def _logical_length(record: StackRecord) -> int:
    """Length of the data stream once its chunks are put together."""
    if not record.chunks:
        return record.header.data_len_disk
    logical, place = record.chunks[-1]
    return logical + record.header.data_len_disk - place


def _stream(view: memoryview, record: StackRecord, path: str) -> memoryview:
    """The stack's data stream: the on-disk bytes, chunks put together (copied only when chunked)."""
    start, disk = record.data_start, record.header.data_len_disk
    if not record.chunks:
        return view[start:start + disk]
    pieces = []
    boundaries = [(0, 0), *record.chunks]
    for k, (logical, place) in enumerate(boundaries):
        if k + 1 < len(boundaries):
            length = boundaries[k + 1][0] - logical
        else:
            length = disk - place
        if place + length > disk or length < 0:
            raise FormatError(path, record.footer_position + 1460, "a chunk runs past the stack's data")
        pieces.append(view[start + place:start + place + length])
    return memoryview(b"".join(pieces))


def load_data(handle: BinaryIO, path: str, record: StackRecord) -> np.ndarray:
    """Return the stack's data as a writable numpy array (memory-mapped copy-on-write when possible)."""
    shape = tuple(reversed(record.shape))
    dtype = record.dtype.newbyteorder("<")
    nbytes = record.total_samples * dtype.itemsize
    needed = record.samples_written * dtype.itemsize
    handle.seek(0, 2)
    file_size = handle.tell()
    if nbytes == 0:
        return np.zeros(shape, dtype)
    raw_in_place = not record.header.compression and not record.chunks
    if raw_in_place and record.data_start + nbytes <= file_size and record.header.data_len_disk >= needed:
        array = np.memmap(handle, dtype=dtype, mode="c", offset=record.data_start, shape=shape)
        if needed < nbytes:
            array.reshape(-1)[record.samples_written:] = 0
        return _native(array.view(np.ndarray))
    array = np.zeros(shape, dtype)
    # Left to the garbage collector rather than closed: views into it may outlive an error.
    whole = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    _decode(_stream(memoryview(whole), record, path), record, as_bytes(array), needed, path)
    return _native(array)


def _decode(stream: memoryview, record: StackRecord, out: memoryview, needed: int, path: str) -> None:
    if not record.header.compression:
        out[:needed] = stream[:needed]  # the length was checked when the file was opened
        return
    footer = record.footer
    blocks_usable = (
        needed == len(out) and footer.flush_block_size > 0
        and len(record.flush_points) == len(out) // footer.flush_block_size
        and bytes(stream[:1]) == b"\x78" and len(stream) >= 2 and not stream[1] & 0x20
    )
    try:
        if blocks_usable:
            try:
                inflate_blocks(stream, record.flush_points, footer.flush_block_size, out)
                return
            except InflateError:
                pass  # flush points that are not full flushes: the sequential inflate decides
        inflate_sequential(stream, out, needed)
    except InflateError as error:
        raise FormatError(path, record.data_start, str(error)) from None


def _native(array: np.ndarray) -> np.ndarray:
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
