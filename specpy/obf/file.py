"""File: SpecPy's .obf/.msr file object, for reading, writing and appending stacks."""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Iterable
from typing import Any, BinaryIO

from ..errors import Error, FileAccessError, FileModeError, FormatError, StackIndexError, ValidationError
from ..stack import Stack
from .layout import FILE_HEADER, FILE_MAGIC, FILE_VERSION, FIRST_STACK_POS_FIELD, NEXT_STACK_FIELD, pack_dictionary
from .ome import ome_xml
from .reader import PARAMETERS_TAG, StackRecord, load_data, read_structure
from .writer import StackWriter

EMPTY_METADATA = b"\0\0\0\0"  # a metadata block with no entries: what the file ends with while it grows


class _ReadHandle:
    """An open read-only handle shared by the stacks read from one file; closes when the last goes."""

    def __init__(self, handle: BinaryIO, path: str):
        self.handle, self.path = handle, path
        self.lock = threading.Lock()

    def load(self, record: StackRecord) -> Any:
        with self.lock:
            return load_data(self.handle, self.path, record)

    def __del__(self) -> None:
        self.handle.close()


class File:
    """An .obf/.msr file: `File(path, File.Read | File.Write | File.Append)`; closes on `del` or `with`.

    Write truncates (the old file is unlinked first, so stacks still mapped from it stay valid);
    Append adds stacks after the existing ones (creating the file if it does not exist). Every
    stack written is readable by Imspector; a killed writer leaves a file that reads back up to
    its last flush. `durable=True` also fsyncs at every flush, for power loss.
    """

    Read = 0
    Write = 1
    Append = 2
    _MODE_NAMES = {Read: "File.Read", Write: "File.Write", Append: "File.Append"}

    def __init__(self, path: str | os.PathLike, mode: int, *, durable: bool = False):
        if not isinstance(path, (str, os.PathLike)):
            raise ValidationError(f"a file path must be a str or os.PathLike, not {type(path).__name__}")
        if mode not in self._MODE_NAMES or isinstance(mode, float):
            raise ValidationError(f"invalid file mode {mode!r}; use File.Read (0), File.Write (1) or File.Append (2)")
        self._path = os.fspath(path)
        self._mode = int(mode)
        self._durable = durable
        self._lock = threading.RLock()
        self._records: list[StackRecord] = []
        self._writers: list[StackWriter] = []  # stacks still growing
        self._reader: _ReadHandle | None = None
        self._handle: BinaryIO | None = None
        self._closed = False
        self._description = ""
        self._has_metadata_field = True
        self._appending = False  # True when Append opened an existing file: its header is fixed
        if self._mode == File.Read:
            self._open_read()
        elif self._mode == File.Write or not os.path.exists(self._path):
            self._open_new()
        else:
            self._open_append()

    # --- opening ------------------------------------------------------------------------------

    def _open(self, flags: int, what: str) -> BinaryIO:
        try:
            descriptor = os.open(self._path, flags | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as error:
            raise FileAccessError(error.errno, f"cannot open {self._path!r} {what}: {error.strerror}", self._path) from None
        if os.path.isdir(self._path):
            os.close(descriptor)
            raise FileAccessError(21, f"cannot open {self._path!r} {what}: it is a directory", self._path)
        return os.fdopen(descriptor, "rb" if flags == os.O_RDONLY else "r+b", buffering=0)

    def _open_read(self) -> None:
        handle = self._open(os.O_RDONLY, "for reading")
        try:
            structure = read_structure(handle, self._path)
        except BaseException:
            handle.close()
            raise
        self._description, self._records = structure.description, structure.stacks
        self._reader = _ReadHandle(handle, self._path)

    def _open_new(self) -> None:
        if os.path.lexists(self._path) and not os.path.isdir(self._path):
            try:
                os.unlink(self._path)
            except OSError as error:
                raise FileAccessError(error.errno, f"cannot replace {self._path!r}: {error.strerror}", self._path) from None
        self._handle = self._open(os.O_RDWR | os.O_CREAT | os.O_TRUNC, "for writing")
        self._write_file_header()

    def _open_append(self) -> None:
        self._handle = self._open(os.O_RDWR, "for appending")
        try:
            structure = read_structure(self._handle, self._path)
        except BaseException:
            self._handle.close()
            raise
        self._description, self._records = structure.description, structure.stacks
        self._has_metadata_field = structure.version >= 2
        self._appending = True
        self._header_size = structure.header_size
        self._end = os.fstat(self._handle.fileno()).st_size

    def _write_file_header(self) -> None:
        """(Re)write the header of a file with no stack yet, and an empty metadata block after it."""
        description = self._description.encode("utf-8")
        header = FILE_HEADER.pack(FILE_MAGIC, FILE_VERSION, 0, len(description)) + description
        self._header_size = len(header) + 8
        self._write_at(0, [header, struct.pack("<Q", self._header_size), EMPTY_METADATA])
        self._handle.truncate(self._header_size + len(EMPTY_METADATA))
        self._end = self._header_size

    # --- the SpecPy API -----------------------------------------------------------------------

    def description(self) -> str:
        """The file's description."""
        return self._description

    def set_description(self, description: str) -> None:
        """Set the file's description; only before the first stack is written (it lives in the header)."""
        if not isinstance(description, str):
            raise ValidationError(f"a file description must be a str, not {type(description).__name__}")
        with self._lock:
            self._check_writable()
            if self._records or self._writers or self._appending:
                raise FileModeError(
                    f"{self._path!r}: the description lives in the file header and can only be set before "
                    "the first stack is written (and not in Append mode)"
                )
            self._description = description
            self._write_file_header()

    def number_of_stacks(self) -> int:
        """How many stacks the file holds (in Write mode: how many were written so far)."""
        return len(self._records)

    def read(self, position: int) -> Stack:
        """The stack at `position` (0 .. number_of_stacks() - 1); its data loads on first `data()`."""
        if isinstance(position, bool) or not isinstance(position, int):
            raise StackIndexError(f"a stack index must be an int, not {type(position).__name__}")
        with self._lock:
            count = len(self._records)
            if not 0 <= position < count:
                allowed = f"0..{count - 1}" if count else "none: the file holds no stack"
                raise StackIndexError(f"invalid stack index {position} for {self._path!r}; allowed: {allowed}")
            record = self._records[position]
            if self._reader is None:
                if self._closed:
                    raise FileModeError(f"{self._path!r} is closed")
                self._reader = _ReadHandle(self._open(os.O_RDONLY, "for reading"), self._path)
            reader = self._reader
        return _stack_from_record(record, lambda: reader.load(record))

    def write(self, stack: Stack, compression: bool = True) -> None:
        """Append `stack` to the file, zlib-compressed unless `compression` is False."""
        self.begin_stack(stack, compression).flush()

    def begin_stack(self, stack: Stack, compression: bool = True, *, in_place: bool = False) -> StackWriter:
        """Start a stack that is written while it fills: call `flush(samples)` as data arrives.

        The stack's `data()` buffer is written from. Several stacks may grow at once (one per
        channel or configuration of an acquisition); each appears in the file at its first flush.
        `in_place=True` (raw only) lays the stack out in the file now, with its metadata as it is
        now, and makes its `data()` the file's data region (a shared mapping): what is filled in
        lands in the file's pages and a flush only records how many samples count. When the
        writer closes, `data()` becomes a private copy-on-write mapping: later changes stay in memory.
        """
        if not isinstance(stack, Stack):
            raise ValidationError(f"File.write takes a specpy.Stack, not {type(stack).__name__}")
        with self._lock:
            self._check_writable()
            writer = StackWriter(self, stack, compression, in_place)
            self._writers.append(writer)
            return writer

    def close(self) -> None:
        """Finish the file: close any stack being written and write the metadata block."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._reader = None
            if self._handle is None:
                return
            try:
                self._close_writers()
                self._finish_metadata()
                if self._durable:
                    os.fsync(self._handle.fileno())
            finally:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> File:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_lock", None) is not None:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else self._MODE_NAMES[self._mode]
        return f"<specpy.File {self._path!r} {state}, {len(self._records)} stacks>"

    # --- the writer's side --------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._closed:
            raise FileModeError(f"{self._path!r} is closed")
        if self._mode == File.Read:
            raise FileModeError(f"{self._path!r} is open for reading; open it with File.Write or File.Append to write")

    def _close_writers(self) -> None:
        for writer in list(self._writers):  # each removes itself
            writer.close()

    def _writer_done(self, writer: StackWriter) -> None:
        """A stack is complete or closed: it no longer grows."""
        if writer in self._writers:
            self._writers.remove(writer)

    def _write_at(self, offset: int, parts: Iterable) -> int:
        """Write the parts one after the other from `offset`; return how many bytes that was."""
        assert self._handle is not None
        self._handle.seek(offset)
        total = 0
        for part in parts:
            view = memoryview(part).cast("B")
            total += view.nbytes
            while view.nbytes:
                written = self._handle.write(view)
                view = view[written:]
        return total

    def _reserve(self, offset: int, length: int) -> None:
        """Allocate the file's blocks for a region (where the system can), so that filling it cannot run out of space."""
        assert self._handle is not None
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(self._handle.fileno(), offset, length)

    def _patch(self, offset: int, raw: bytes) -> None:
        self._write_at(offset, [raw])

    def _sync(self) -> None:
        if self._durable and self._handle is not None:
            os.fsync(self._handle.fileno())

    def _link(self, record: StackRecord) -> None:
        """Make a stack that is fully on disk part of the file (one 8-byte pointer)."""
        self._sync()
        pointer = self._records[-1].position + NEXT_STACK_FIELD if self._records else FIRST_STACK_POS_FIELD
        self._patch(pointer, struct.pack("<Q", record.position))
        self._records.append(record)

    def _after_flush(self) -> None:
        """End the file with an empty metadata block at the current end, and point the header at it."""
        self._write_at(self._end, [EMPTY_METADATA])
        self._point_metadata_at(self._end)
        self._sync()

    def _point_metadata_at(self, position: int) -> None:
        if self._has_metadata_field:
            self._patch(self._header_size - 8, struct.pack("<Q", position))

    def _finish_metadata(self) -> None:
        shapes = [(r.shape, r.header.lengths, r.dtype) for r in self._records]
        block = pack_dictionary({"ome_xml": ome_xml(shapes)}) if self._has_metadata_field else b""
        self._write_at(self._end, [block])
        self._point_metadata_at(self._end)
        self._handle.truncate(self._end + len(block))


def _stack_from_record(record: StackRecord, loader: Any) -> Stack:
    """A Stack with the record's metadata whose data loads lazily through `loader`."""
    stack = Stack._lazy(record.dtype, record.shape, loader)
    stack._name, stack._description = record.name, record.description
    rank = record.header.rank
    if rank:  # a rank-0 stack keeps the defaults of its one-element shape
        stack._labels = list(record.labels)
        stack._lengths = [float(v) for v in record.header.lengths]
        stack._offsets = [float(v) for v in record.header.offsets]
        stack._units = list(record.units)
    stack._value_unit = record.footer.value_unit
    stack._col_positions = dict(record.col_positions)
    stack._col_labels = dict(record.col_labels)
    tags = dict(record.tags)
    parameters = tags.pop(PARAMETERS_TAG, None)
    stack._tags = tags
    if parameters is not None:
        try:
            decoded = json.loads(parameters)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            stack._parameters = decoded
        else:
            tags[PARAMETERS_TAG] = parameters  # not ours after all: keep it as a plain tag
    stack._samples_written = record.samples_written
    return stack
