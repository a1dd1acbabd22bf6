"""File: round trips of data and metadata, modes, Append, lazy data, and clear errors."""

import os
import zlib

import numpy as np
import pytest

import specpy
from specpy import File, FileAccessError, FileModeError, Stack, StackIndexError, ValidationError
from specpy.obf.deflate import BlockDeflater

from .test_stack import STACK_DTYPES


def rich_stack(rng, shape, dtype=np.uint16):
    data = (rng.random(shape) * 1000).astype(dtype)
    stack = Stack(data)
    stack.set_name("confocal ✓ 共焦点")
    stack.set_description("bead sample, " * 40)
    rank = len(shape)
    stack.set_labels([f"axis{k}" for k in range(rank)])
    stack.set_lengths([1e-6 * (k + 1) for k in range(rank)])
    stack.set_offsets([-2e-7 * k for k in range(rank)])
    stack.set_unit(0, "m")
    stack.set_value_unit("")
    stack.set_tag("imspector", "<root/>")
    stack.set_parameters("ExpControl/scan/dwell", 1e-5)
    stack.set_col_labels(rank - 1, [f"c{k}" for k in range(shape[0])])
    stack.set_col_positions(0, [0.5 * k for k in range(shape[-1])])
    return stack


def assert_same_stack(read, written):
    np.testing.assert_array_equal(read.data(), written.data())
    for getter in ("name", "description", "shape", "labels", "lengths", "offsets", "tags", "value_unit"):
        assert getattr(read, getter)() == getattr(written, getter)(), getter
    assert read.type() is written.type()
    assert read.parameters("") == written.parameters("")
    rank = len(written.shape())
    for axis in range(rank):
        assert read.unit(axis) == written.unit(axis)
        assert read.col_labels(axis) == written.col_labels(axis)
        assert read.col_positions(axis) == written.col_positions(axis)


@pytest.mark.parametrize("compression", [True, False])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2, 2), (1,) * 15])
def test_round_trip_keeps_data_and_metadata(tmp_path, compression, shape):
    rng = np.random.default_rng(sum(shape))
    stacks = [rich_stack(rng, shape), rich_stack(rng, shape, np.float32)]
    path = tmp_path / "r.obf"
    with File(path, File.Write) as f:
        f.set_description("Ω description")
        for stack in stacks:
            f.write(stack, compression)
        assert f.number_of_stacks() == 2
    with File(path, File.Read) as f:
        assert f.description() == "Ω description"
        assert f.number_of_stacks() == 2
        for i, stack in enumerate(stacks):
            assert_same_stack(f.read(i), stack)


@pytest.mark.parametrize("dtype", STACK_DTYPES)
def test_every_dtype_round_trips_with_extremes(tmp_path, dtype):
    info = np.finfo(dtype) if np.issubdtype(dtype, np.inexact) else np.iinfo(dtype)
    values = np.array([info.min, info.max, 0, 1], dtype=dtype)
    if np.issubdtype(dtype, np.complexfloating):
        values = values + 1j * values[::-1]
    path = tmp_path / "d.msr"
    with File(path, File.Write) as f:
        f.write(Stack(values))
        f.write(Stack(values), False)
    with File(path, File.Read) as f:
        for i in range(2):
            np.testing.assert_array_equal(f.read(i).data(), values)


def test_compressed_stream_is_one_zlib_stream_with_full_flushes(tmp_path):
    """The data of a compressed stack inflates with plain zlib, and blocks decode on their own."""
    rng = np.random.default_rng(1)
    data = rng.integers(0, 50, (6, 200, 300), dtype=np.uint16)  # 720 kB: several flush blocks
    path = tmp_path / "z.obf"
    with File(path, File.Write) as f:
        f.write(Stack(data))
    with File(path, File.Read) as f:
        record = f._records[0]
    raw = path.read_bytes()[record.data_start:record.data_start + record.header.data_len_disk]
    assert zlib.decompress(raw) == data.tobytes()
    assert record.footer.flush_block_size == 120000  # one 200 x 300 plane
    assert len(record.flush_points) == 6
    second = zlib.decompressobj(-15).decompress(raw[record.flush_points[0]:], 120000)
    assert second == data.tobytes()[120000:240000]


def test_block_compressor_equals_a_sequential_stream():
    """Blocks compressed apart (in parallel) give the bytes of one sequential zlib stream."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        size, block = int(rng.integers(1, 200_000)), int(rng.integers(1, 70_000))
        raw = rng.integers(0, int(rng.choice([2, 17, 256])), size, dtype=np.uint8).tobytes()
        reference = zlib.compressobj(1)
        expected = b""
        for start in range(0, size // block * block, block):
            expected += reference.compress(raw[start:start + block]) + reference.flush(zlib.Z_FULL_FLUSH)
        expected += reference.compress(raw[size // block * block:]) + reference.flush()
        deflater = BlockDeflater(block)
        parts, position = [], 0
        while position < size:  # fed in uneven pieces, as a growing stack is
            step = int(rng.integers(1, size - position + 1))
            parts += deflater.feed(memoryview(raw)[position:position + step])
            position += step
        assert b"".join(parts + deflater.finish()) == expected


def test_read_stacks_are_independent_and_outlive_the_file(tmp_path):
    path = tmp_path / "l.obf"
    with File(path, File.Write) as f:
        f.write(Stack(np.arange(12, dtype=np.int16).reshape(3, 4)), False)
        f.write(Stack(np.arange(12, dtype=np.int16).reshape(3, 4)), True)
    f = File(path, File.Read)
    first, again, compressed = f.read(0), f.read(0), f.read(1)
    del f  # the stacks keep what they need to load their data
    first.data()[0, 0] = 99  # copy-on-write: neither the file nor the other read changes
    first.set_name("changed")
    assert again.data()[0, 0] == 0 and again.name() == ""
    np.testing.assert_array_equal(compressed.data(), np.arange(12).reshape(3, 4))
    with File(path, File.Read) as f:
        assert f.read(0).data()[0, 0] == 0


def test_write_replaces_a_file_without_breaking_stacks_mapped_from_it(tmp_path):
    path = tmp_path / "w.obf"
    with File(path, File.Write) as f:
        f.write(Stack(np.full((64, 64), 7, np.uint16)), False)
    old = File(path, File.Read).read(0)
    old_data = old.data()
    with File(path, File.Write) as f:
        f.write(Stack(np.full((2, 2), 1, np.uint8)))
    assert int(old_data.sum()) == 7 * 64 * 64  # still the old file's pages, no SIGBUS
    with File(path, File.Read) as f:
        assert f.number_of_stacks() == 1 and f.read(0).shape() == [2, 2]


def test_append_adds_after_existing_stacks(tmp_path):
    path = tmp_path / "a.obf"
    with File(path, File.Write) as f:
        f.set_description("kept")
        f.write(Stack(np.full((3, 2), 1, np.uint8)))
    for value in (2, 3):
        with File(path, File.Append) as f:
            assert f.number_of_stacks() == value - 1
            f.write(Stack(np.full((3, 2), value, np.uint8)), value == 2)
            assert f.number_of_stacks() == value
            with pytest.raises(FileModeError, match="only be set before the first stack"):
                f.set_description("new")
    with File(path, File.Read) as f:
        assert f.description() == "kept"
        assert [int(f.read(i).data()[0, 0]) for i in range(f.number_of_stacks())] == [1, 2, 3]


def test_append_creates_a_missing_file(tmp_path):
    path = tmp_path / "new.obf"
    with File(path, File.Append) as f:
        f.set_description("fresh")
        f.write(Stack(np.ones(3, np.float64)))
    with File(path, File.Read) as f:
        assert f.description() == "fresh" and f.number_of_stacks() == 1


def test_empty_file_is_valid(tmp_path):
    path = tmp_path / "e.obf"
    File(path, File.Write).close()
    with File(path, File.Read) as f:
        assert f.number_of_stacks() == 0 and f.description() == ""


def test_reading_in_write_mode_and_closing_on_del(tmp_path):
    path = tmp_path / "rw.obf"
    f = File(path, File.Write)
    f.write(Stack(np.arange(5, dtype=np.uint32)))
    assert f.read(0).data().tolist() == [0, 1, 2, 3, 4]
    del f
    with File(path, File.Read) as f:
        assert f.number_of_stacks() == 1


def test_mode_and_argument_errors(tmp_path):
    path = tmp_path / "m.obf"
    with pytest.raises(ValidationError, match="invalid file mode 3; use File.Read \\(0\\), File.Write \\(1\\) or File.Append \\(2\\)"):
        File(path, 3)
    with pytest.raises(ValidationError, match="str or os.PathLike"):
        File(5, File.Read)
    with File(path, File.Write) as f:
        f.write(Stack(np.zeros(2, np.uint8)))
        with pytest.raises(ValidationError, match="specpy.Stack, not NoneType"):
            f.write(None)
        with pytest.raises(ValidationError, match="compression must be True or False, not 1"):
            f.write(Stack(np.zeros(2, np.uint8)), 1)
        with pytest.raises(ValidationError, match="1..15 axes; this stack has 0"):
            f.write(Stack(np.uint8, []))
        with pytest.raises(ValidationError, match="empty axis"):
            f.write(Stack(np.uint8, [3, 0]))
        with pytest.raises(ValidationError, match="1..15 axes; this stack has 16"):
            f.write(Stack(np.uint8, [1] * 16))
        with pytest.raises(FileModeError, match="only be set before the first stack"):
            f.set_description("late")
    with File(path, File.Read) as f:
        assert f.number_of_stacks() == 1  # refused stacks left nothing behind
        with pytest.raises(FileModeError, match="open for reading; open it with File.Write or File.Append"):
            f.write(Stack(np.zeros(2, np.uint8)))
        with pytest.raises(StackIndexError, match="invalid stack index 1 for .*; allowed: 0..0"):
            f.read(1)
        with pytest.raises(StackIndexError, match="invalid stack index -1"):
            f.read(-1)
        with pytest.raises(StackIndexError, match="must be an int, not str"):
            f.read("0")
    f = File(path, File.Write)
    f.close()
    with pytest.raises(FileModeError, match="is closed"):
        f.write(Stack(np.zeros(2, np.uint8)))


def test_paths_that_cannot_be_opened(tmp_path):
    with pytest.raises(FileAccessError, match="cannot open .*missing.obf' for reading: No such file"):
        File(tmp_path / "missing.obf", File.Read)
    with pytest.raises(FileAccessError, match="for writing: No such file"):
        File(tmp_path / "no" / "dir.obf", File.Write)
    with pytest.raises(FileAccessError, match="it is a directory|Is a directory"):
        File(tmp_path, File.Read)
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(FileAccessError, match="Permission denied"):
            File(locked / "x.obf", File.Write)
    with pytest.raises(OSError):  # FileAccessError is an OSError too
        File(tmp_path / "missing.obf", File.Read)


def test_format_only_dtypes_read_back(tmp_path):
    """int64/uint64/bool are defined by the format (not by SpecPy): readable and writable again."""
    path = tmp_path / "i64.obf"
    stack = Stack(np.zeros(3, np.int32))
    stack._dtype = np.dtype(np.int64)
    stack._data = np.array([-(2**40), 0, 2**40], np.int64)
    with File(path, File.Write) as f:
        f.write(stack)
    with File(path, File.Read) as f:
        assert f.read(0).data().tolist() == [-(2**40), 0, 2**40]
    assert specpy.Error  # the package's base error is exported
