"""Bad files: each fault is a FormatError naming the file and the byte offset; never a hang, a
crash or an allocation larger than the file could hold. Ends with a seeded mutation fuzz."""

import struct
import tracemalloc

import numpy as np
import pytest

from specpy import File, FormatError, Stack
from specpy.obf.layout import FILE_HEADER, STACK_HEADER


def valid_file(path, compression=True, stacks=2, shape=(3, 8, 10)):
    rng = np.random.default_rng(len(shape) + stacks)
    with File(path, File.Write) as f:
        f.set_description("fuzz seed")
        for k in range(stacks):
            stack = Stack(rng.integers(0, 30, shape, dtype=np.uint16))
            stack.set_name(f"s{k}")
            stack.set_labels(["x", "y", "z"][: len(shape)])
            stack.set_tag("note", "t" * k)
            stack.set_col_labels(0, [str(c) for c in range(shape[-1])])
            f.write(stack, compression)
    return path.read_bytes()


def first_stack(raw):
    return struct.unpack_from("<Q", raw, 14)[0]


def read_everything(path):
    with File(path, File.Read) as f:
        for i in range(f.number_of_stacks()):
            f.read(i).data()


def expect_format_error(path, match, offset=None):
    with pytest.raises(FormatError, match=match) as caught:
        read_everything(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    if offset is not None:
        assert caught.value.offset == offset
    assert isinstance(caught.value, ValueError)
    return caught.value


def test_wrong_magic(tmp_path):
    path = tmp_path / "m.obf"
    path.write_bytes(b"NOT_OBF\n\xff\xff" + bytes(40))
    expect_format_error(path, "not an OBF file", 0)


def test_empty_and_tiny_files(tmp_path):
    path = tmp_path / "empty.obf"
    path.write_bytes(b"")
    expect_format_error(path, "0 bytes, a file header needs 26", 0)
    path.write_bytes(b"OMAS_BF\n\xff\xff\x02\x00")
    expect_format_error(path, "a file header needs 26")


def test_cut_short_inside_a_header(tmp_path):
    path = tmp_path / "cut.obf"
    raw = valid_file(path)
    position = first_stack(raw)
    path.write_bytes(raw[: position + 100])
    expect_format_error(path, f"the file ends at byte {position + 100}, a stack header needs 368", position)


def test_cut_short_inside_the_data(tmp_path):
    path = tmp_path / "cutdata.obf"
    raw = valid_file(path, compression=False, stacks=1)
    position = first_stack(raw)
    path.write_bytes(raw[: position + STACK_HEADER.size + 50])
    expect_format_error(path, "past the end of the file", position + 352)


def test_corrupted_header_fields(tmp_path):
    path = tmp_path / "h.obf"
    raw = bytearray(valid_file(path))
    position = first_stack(raw)
    bad = bytearray(raw)
    struct.pack_into("<I", bad, position + 20, 16)  # rank
    path.write_bytes(bad)
    expect_format_error(path, "a stack of rank 16; the format allows 0..15", position + 20)
    bad = bytearray(raw)
    struct.pack_into("<I", bad, position + 324, 0x400)  # RGB: a code this reader does not know
    path.write_bytes(bad)
    expect_format_error(path, "unknown data type code 0x400", position + 324)
    bad = bytearray(raw)
    bad[position:position + 4] = b"XXXX"
    path.write_bytes(bad)
    expect_format_error(path, "no OBF stack header here", position)
    bad = bytearray(raw)
    struct.pack_into("<I", bad, FILE_HEADER.size - 4, 10**6)  # description length
    path.write_bytes(bad)
    expect_format_error(path, "the file description needs 1000000 bytes", FILE_HEADER.size)


def test_absurd_sizes_allocate_nothing(tmp_path):
    path = tmp_path / "huge.obf"
    raw = bytearray(valid_file(path, stacks=1))
    position = first_stack(raw)
    struct.pack_into("<III", raw, position + 24, 2**20, 2**20, 2**4)  # 2**44 elements
    path.write_bytes(raw)
    tracemalloc.start()
    try:
        expect_format_error(path, "declares 35184372088832 bytes of data but holds only", position + 24)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


def test_stream_that_inflates_past_its_declared_size(tmp_path):
    path = tmp_path / "bomb.obf"
    raw = bytearray(valid_file(path, stacks=1, shape=(2, 4, 4)))
    position = first_stack(raw)
    struct.pack_into("<III", raw, position + 24, 4, 4, 1)  # declare half the samples
    path.write_bytes(raw)
    error = expect_format_error(path, "inflates past its declared 32 bytes")
    assert error.offset is not None


def test_corrupt_compressed_payload(tmp_path):
    path = tmp_path / "z.obf"
    raw = bytearray(valid_file(path, stacks=1, shape=(2, 40, 40)))
    position = first_stack(raw)
    data_start = position + STACK_HEADER.size + 2  # after the name "s0"
    raw[data_start + 10:data_start + 30] = bytes(range(20))
    path.write_bytes(raw)
    expect_format_error(path, "corrupt compressed|checksum|inflates|ends after", data_start)


def test_pointer_loop(tmp_path):
    path = tmp_path / "loop.obf"
    raw = bytearray(valid_file(path, stacks=2))
    position = first_stack(raw)
    second = struct.unpack_from("<Q", raw, position + 360)[0]
    struct.pack_into("<Q", raw, second + 360, position)
    path.write_bytes(raw)
    expect_format_error(path, f"loops back to the stack at byte {position}", second + 360)


def test_flush_points_out_of_order(tmp_path):
    path = tmp_path / "fp.obf"
    with File(path, File.Write) as f:
        f.write(Stack(np.zeros((3, 200, 300), np.uint16)))
    with File(path, File.Read) as f:
        record = f._records[0]
    raw = bytearray(path.read_bytes())
    labels = sum(4 for _ in range(3))
    points_at = record.footer_position + 1528 + labels
    struct.pack_into("<QQ", raw, points_at, 500, 400)
    path.write_bytes(raw)
    expect_format_error(path, "flush points are not ordered", record.footer_position + 1408)


def mutate(raw: bytes, rng: np.random.Generator, donors: list[bytes]) -> bytes:
    """One seeded mutation: byte flips, a cut, a splice from another valid file, or a duplication."""
    data = bytearray(raw)
    kind = int(rng.integers(0, 5))
    if kind == 0:
        for _ in range(int(rng.integers(1, 9))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
    elif kind == 1:
        del data[int(rng.integers(0, len(data))):]
    elif kind == 2:
        donor = donors[int(rng.integers(0, len(donors)))]
        start, length = int(rng.integers(0, len(donor))), int(rng.integers(1, 600))
        at = int(rng.integers(0, len(data)))
        data[at:at + length] = donor[start:start + length]
    elif kind == 3:
        at, length = int(rng.integers(0, len(data))), int(rng.integers(1, 64))
        data[at:at] = data[at:at + length]
    else:  # a plausible-looking integer field set to an extreme value
        at = int(rng.integers(0, max(1, len(data) - 8)))
        wide = bool(rng.integers(0, 2))
        value = [0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1][int(rng.integers(0, 6))]
        struct.pack_into("<Q" if wide else "<I", data, at, value if wide else value % 2**32)
    return bytes(data)


def test_fuzz_mutated_files(tmp_path):
    """3000 seeded mutations of valid files: each reads fine or raises FormatError, nothing else."""
    rng = np.random.default_rng(2026)
    seeds = [
        valid_file(tmp_path / "a.obf", True, 2),
        valid_file(tmp_path / "b.obf", False, 2),
        valid_file(tmp_path / "c.obf", True, 1, (4, 130, 130)),  # several flush blocks
    ]
    growing = tmp_path / "d.obf"
    with File(growing, File.Write) as f:  # a chunked partial stack
        stack = Stack(np.ones((6, 20, 20), np.uint16))
        writer = f.begin_stack(stack, True)
        for plane in (1, 2, 4):
            writer.flush(plane * 400)
    seeds.append(growing.read_bytes())
    outcomes = {"read": 0, "format error": 0}
    path = tmp_path / "mutant.obf"
    tracemalloc.start()
    try:
        for case in range(3000):
            raw = seeds[case % len(seeds)]
            mutant = mutate(raw, rng, seeds)
            path.write_bytes(mutant)
            try:
                read_everything(path)
                outcomes["read"] += 1
            except FormatError as error:
                assert error.path == str(path) and "at byte" in str(error)
                outcomes["format error"] += 1
            # Nothing may allocate more than deflate's maximum expansion of the file.
            assert tracemalloc.get_traced_memory()[1] < 1032 * len(mutant) + (8 << 20)
            tracemalloc.reset_peak()
    finally:
        tracemalloc.stop()
    assert outcomes["read"] > 100 and outcomes["format error"] > 500, outcomes
