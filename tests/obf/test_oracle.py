"""Interoperability with Imspector's own SpecPy (the oracle), in both directions.

The oracle runs in a subprocess (see tests/oracle); these tests skip, saying why, only where its
wheel cannot be installed.
"""

import numpy as np
import pytest

from specpy import File, FormatError, Stack

DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64", "complex64", "complex128"]


def sample(rng, dtype, shape):
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    values = rng.normal(0, 1e3, shape)
    if dtype.kind == "c":
        values = values + 1j * rng.normal(0, 1e3, shape)
    return values.astype(dtype)


def shapes_for_rank(rng, rank):
    """A numpy shape of the given rank with at most ~4000 elements."""
    limit = max(1, int(4000 ** (1 / rank)))
    return tuple(int(s) for s in rng.integers(1, limit + 1, rank))


def write_ours(path, stacks, description="", compression=True):
    with File(path, File.Write) as f:
        f.set_description(description)
        for stack in stacks:
            f.write(stack, compression)


@pytest.mark.parametrize("compression", [True, False])
def test_oracle_reads_our_files(oracle, tmp_path, compression):
    rng = np.random.default_rng(11 + compression)
    names = ["", "confocal", "STED ✓ 共焦点 ümlaut", "x" * 300]
    ours = []
    for k, dtype in enumerate(DTYPES):
        for rank in (1, 2, 3, 4, 5):
            stack = Stack(sample(rng, dtype, shapes_for_rank(rng, rank)))
            stack.set_name(names[(k + rank) % len(names)])
            stack.set_description("long description " * ((k * rank) % 5) * 20)
            stack.set_labels([f"ax{a}" for a in range(rank)])
            stack.set_lengths(list(rng.uniform(1e-7, 1e-4, rank)))
            stack.set_offsets(list(rng.uniform(-1e-5, 1e-5, rank)))
            ours.append(stack)
    path = tmp_path / "ours.obf"
    write_ours(path, ours, "Ä file description", compression)
    seen = oracle.read(path)
    assert seen["description"] == "Ä file description"
    assert len(seen["stacks"]) == len(ours)
    for theirs, stack in zip(seen["stacks"], ours):
        assert theirs["type"] == np.dtype(stack.type()).name
        assert theirs["shape"] == stack.shape()
        assert theirs["name"] == stack.name()  # their reader keeps names (their writer drops them)
        assert theirs["description"] == stack.description()
        assert theirs["labels"] == stack.labels()
        assert theirs["lengths"] == stack.lengths()
        assert theirs["offsets"] == stack.offsets()
        np.testing.assert_array_equal(theirs["data"], stack.data())


def test_oracle_reads_our_high_rank_stacks(oracle, tmp_path):
    rng = np.random.default_rng(5)
    stacks = [Stack(sample(rng, "uint16", shapes_for_rank(rng, rank))) for rank in range(6, 16)]
    path = tmp_path / "high.obf"
    write_ours(path, stacks)
    seen = oracle.read(path)
    for theirs, stack in zip(seen["stacks"], stacks, strict=True):
        assert theirs["shape"] == stack.shape()
        np.testing.assert_array_equal(theirs["data"], stack.data())


@pytest.mark.parametrize("compression", [True, False])
def test_we_read_oracle_files(oracle, tmp_path, compression):
    rng = np.random.default_rng(21 + compression)
    items = []
    for dtype in DTYPES:
        for rank in (1, 2, 3, 4, 5):
            items.append({
                "data": sample(rng, dtype, shapes_for_rank(rng, rank)), "compression": compression,
                "labels": [f"λ{a}" for a in range(rank)], "lengths": list(rng.uniform(1e-7, 1e-4, rank)),
                "offsets": list(rng.uniform(-1e-5, 1e-5, rank)),
            })
    path = tmp_path / "theirs.obf"
    oracle.write(path, items, description="their description " * 30)
    with File(path, File.Read) as f:
        assert f.description() == "their description " * 30
        assert f.number_of_stacks() == len(items)
        for i, item in enumerate(items):
            stack = f.read(i)
            np.testing.assert_array_equal(stack.data(), item["data"])
            assert stack.data().dtype == item["data"].dtype
            assert stack.labels() == item["labels"]
            assert stack.lengths() == item["lengths"]
            assert stack.offsets() == item["offsets"]


def test_we_read_oracle_high_rank_files(oracle, tmp_path):
    """Their writer stores ranks 6..15 (with zeros for data, as their own reader shows) and then
    raises; we read those files exactly as their reader does."""
    rng = np.random.default_rng(3)
    for rank in range(6, 16):
        data = sample(rng, "float32", shapes_for_rank(rng, rank))
        path = tmp_path / f"rank{rank}.obf"
        errors = oracle.write(path, [{"data": data}], tolerate_errors=True)
        assert errors and f"{rank} dimensions" in errors[0]
        theirs = oracle.read(path)["stacks"][0]
        with File(path, File.Read) as f:
            stack = f.read(0)
            assert stack.shape() == theirs["shape"] == list(reversed(data.shape))
            np.testing.assert_array_equal(stack.data(), theirs["data"])


@pytest.mark.parametrize("compression", [True, False])
def test_unnamed_stacks_are_byte_identical_to_theirs(oracle, tmp_path, compression):
    rng = np.random.default_rng(31 + compression)
    arrays = [sample(rng, dtype, shape) for dtype, shape in [
        ("uint16", (6, 200, 300)),      # several flush blocks
        ("float32", (17, 2, 2600)),
        ("uint8", (7, 40000)),          # the block-size fallback that cuts through samples
        ("int16", (131101,)),
        ("complex64", (3, 4, 5, 6, 7)),
        ("float64", (1,)),
    ]]
    lengths = [list(rng.uniform(1e-7, 1e-4, a.ndim)) for a in arrays]
    theirs = tmp_path / "theirs.obf"
    oracle.write(theirs, [{"data": a, "compression": compression, "lengths": ln} for a, ln in zip(arrays, lengths)],
                 description="same bytes")
    ours = tmp_path / "ours.obf"
    stacks = []
    for array, length in zip(arrays, lengths):
        stacks.append(Stack(array))
        stacks[-1].set_lengths(length)
    write_ours(ours, stacks, "same bytes", compression)
    assert ours.read_bytes() == theirs.read_bytes()


def test_oracle_reads_our_appended_file(oracle, tmp_path):
    rng = np.random.default_rng(8)
    arrays = [sample(rng, "uint16", (5, 40, 30)) for _ in range(3)]
    path = tmp_path / "append.obf"
    oracle.write(path, [{"data": arrays[0]}])  # their file, our appends
    for k in (1, 2):
        with File(path, File.Append) as f:
            f.write(Stack(arrays[k]), k == 1)
    seen = oracle.read(path)
    for theirs, array in zip(seen["stacks"], arrays, strict=True):
        np.testing.assert_array_equal(theirs["data"], array)


@pytest.mark.parametrize("compression", [True, False])
def test_oracle_reads_our_partial_stacks_zero_filled(oracle, tmp_path, compression):
    """A stack flushed in part (an aborted measurement), raw or as compressed chunks."""
    rng = np.random.default_rng(9)
    data = rng.integers(0, 4000, (5, 60, 70), dtype=np.uint16)
    stack = Stack(data)
    path = tmp_path / "partial.obf"
    plane = 60 * 70
    with File(path, File.Write) as f:
        writer = f.begin_stack(stack, compression)
        for k in (1, 2, 3):
            writer.flush(k * plane)
        writer.close()
        f.write(Stack(data[:1]), compression)  # a stack after the partial one
    expected = data.copy()
    expected[3:] = 0
    seen = oracle.read(path)
    np.testing.assert_array_equal(seen["stacks"][0]["data"], expected)
    np.testing.assert_array_equal(seen["stacks"][1]["data"], data[:1])
    with File(path, File.Read) as f:
        np.testing.assert_array_equal(f.read(0).data(), expected)
        assert f.read(0).meta_data()["samples_written"] == 3 * plane


def test_their_append_corruption_is_a_clear_format_error(oracle, tmp_path):
    """Their File.Append (mode 2) overwrites the file magic; we say so instead of guessing."""
    path = tmp_path / "broken.obf"
    oracle.write(path, [{"data": np.ones((3, 3), np.uint8)}])
    oracle.write(path, [{"data": np.ones((3, 3), np.uint8)}], mode=2)
    with pytest.raises(FormatError, match="broken.obf' at byte 0: not an OBF file"):
        File(path, File.Read)
