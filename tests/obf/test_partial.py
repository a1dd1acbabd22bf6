"""Partial stacks: flushed while they grow, and what a writer killed at any moment leaves behind."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from specpy import File, Stack, ValidationError

PLANES, HEIGHT, WIDTH = 12, 48, 64
WRITER = """
import sys
import numpy as np
from specpy import File, Stack

path, mode = sys.argv[1], sys.argv[2]
with File(path, File.Write) as f:
    for index in range(3):
        stack = Stack(np.uint16, [{width}, {height}, {planes}])
        stack.set_name(f"stack {{index}}")
        writer = f.begin_stack(stack, mode == "compressed", in_place=mode == "in place")
        for plane in range({planes}):
            stack.data()[plane] = expected_plane = (np.arange({height} * {width}, dtype=np.uint16)
                                                    .reshape({height}, {width}) + 1000 * index + plane)
            writer.flush((plane + 1) * {height} * {width})
            print(index, plane + 1, flush=True)
""".format(planes=PLANES, height=HEIGHT, width=WIDTH)


def expected_stack(index: int) -> np.ndarray:
    base = np.arange(HEIGHT * WIDTH, dtype=np.uint16).reshape(HEIGHT, WIDTH)
    return np.stack([base + 1000 * index + plane for plane in range(PLANES)])


def check_what_was_left(path: Path, progress: list[tuple[int, int]]) -> None:
    """Every flush the writer reported is in the file; nothing unwritten shows as data."""
    flushed = {index: planes for index, planes in progress}  # last report per stack
    if not path.exists() or path.stat().st_size == 0:
        assert not progress
        return
    with File(path, File.Read) as f:
        assert f.number_of_stacks() >= len(flushed) - (1 if flushed else 0)
        for index in range(f.number_of_stacks()):
            stack = f.read(index)
            assert stack.name() == f"stack {index}"
            samples = stack.meta_data()["samples_written"]
            assert samples % (HEIGHT * WIDTH) == 0
            planes = samples // (HEIGHT * WIDTH)
            assert planes >= flushed.get(index, 0)
            expected = expected_stack(index)
            expected[planes:] = 0
            np.testing.assert_array_equal(stack.data(), expected)


@pytest.mark.parametrize("mode", ["compressed", "raw", "in place"])
def test_killed_writer_leaves_a_readable_file(tmp_path, mode):
    rng = np.random.default_rng(20261121 + len(mode))
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    environment = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    outcomes = set()
    for trial in range(12):
        path = tmp_path / f"killed{trial}.obf"
        process = subprocess.Popen([sys.executable, str(script), str(path), mode],
                                   stdout=subprocess.PIPE, text=True, env=environment)
        lines = []
        if trial % 3:  # kill once the writer is under way, at a random later moment
            assert process.stdout is not None
            lines.append(process.stdout.readline())
            time.sleep(float(rng.uniform(0, 0.05)))
        else:
            time.sleep(float(rng.uniform(0, 0.3)))
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        lines += output.split("\n")
        # Only whole reports count: a kill may cut the last one short.
        progress = [tuple(map(int, line.split())) for line in lines if re.fullmatch(r"\d+ \d+\n?", line)]
        check_what_was_left(path, progress)
        outcomes.add(len(progress))
    assert len(outcomes) > 1  # the kills landed at different moments


def test_growing_stack_reads_back_at_every_flush(tmp_path):
    """While a stack grows, the file on disk always reads as the stack up to its last flush."""
    path = tmp_path / "grow.obf"
    for compression in (True, False):
        stack = Stack(np.uint16, [WIDTH, HEIGHT, PLANES])
        with File(path, File.Write) as f:
            writer = f.begin_stack(stack, compression)
            for plane in range(PLANES):
                stack.data()[plane] = expected_stack(0)[plane]
                writer.flush((plane + 1) * HEIGHT * WIDTH)
                with File(path, File.Read) as snapshot:
                    expected = expected_stack(0)
                    expected[plane + 1:] = 0
                    np.testing.assert_array_equal(snapshot.read(0).data(), expected)
        with File(path, File.Read) as f:
            np.testing.assert_array_equal(f.read(0).data(), expected_stack(0))
            assert f.read(0).meta_data()["samples_written"] == PLANES * HEIGHT * WIDTH


@pytest.mark.parametrize("durable", [False, True])
def test_a_stack_written_in_place_fills_the_files_region(tmp_path, durable):
    """In place: data() is the file's region; only flushed samples count, and after close data() is private."""
    path = tmp_path / "in_place.obf"
    stack = Stack(np.uint16, [WIDTH, HEIGHT, PLANES])
    stack.set_name("in place")
    stack.data()[0] = expected_stack(0)[0]  # what the stack holds already moves into the file
    with File(path, File.Write, durable=durable) as f:
        writer = f.begin_stack(stack, False, in_place=True)
        assert f.number_of_stacks() == 0  # laid out, not yet part of the file
        np.testing.assert_array_equal(stack.data()[0], expected_stack(0)[0])
        stack.data()[1] = expected_stack(0)[1]
        stack.data()[2, :5] = 7  # filled in but not flushed: never shows
        writer.flush(2 * HEIGHT * WIDTH)
        with File(path, File.Read) as snapshot:
            expected = expected_stack(0)
            expected[2:] = 0
            assert snapshot.read(0).name() == "in place"
            np.testing.assert_array_equal(snapshot.read(0).data(), expected)
        stack.data()[2:] = expected_stack(0)[2:]
        writer.flush()
    stack.data()[0] = 0  # the file is closed: the stack's buffer is its own again
    with File(path, File.Read) as f:
        np.testing.assert_array_equal(f.read(0).data(), expected_stack(0))
        assert f.read(0).meta_data()["samples_written"] == PLANES * HEIGHT * WIDTH
    assert not stack.data()[0].any() and (stack.data()[1:] == expected_stack(0)[1:]).all()


def test_only_a_raw_stack_is_written_in_place(tmp_path):
    with File(tmp_path / "refused.obf", File.Write) as f:
        with pytest.raises(ValidationError, match="only a raw"):
            f.begin_stack(Stack(np.uint8, [4, 4]), True, in_place=True)


def test_flush_rules(tmp_path):
    stack = Stack(np.uint8, [4, 4])
    with File(tmp_path / "rules.obf", File.Write) as f:
        writer = f.begin_stack(stack)
        writer.flush(0)  # nothing yet: the stack is not in the file
        assert f.number_of_stacks() == 0
        writer.flush(8)
        assert f.number_of_stacks() == 1 and writer.samples_written == 8
        with pytest.raises(ValidationError, match="must grow from 8 up to 16, got 4"):
            writer.flush(4)
        with pytest.raises(ValidationError, match="got 17"):
            writer.flush(17)
        f.write(Stack(np.zeros(2, np.uint8)))  # while the first still grows
        assert f.number_of_stacks() == 2
    with File(tmp_path / "rules.obf", File.Read) as f:
        assert f.read(0).meta_data()["samples_written"] == 8


def test_several_stacks_grow_at_once(tmp_path):
    """One stack per configuration of an acquisition, flushed in turn, raw, compressed and in place."""
    path = tmp_path / "interleaved.obf"
    stacks = [Stack(np.uint16, [WIDTH, HEIGHT, PLANES]) for _ in range(4)]
    with File(path, File.Write) as f:
        writers = [f.begin_stack(stack, compression=k in (0, 2), in_place=k == 3) for k, stack in enumerate(stacks)]
        for plane in range(PLANES):
            for k, (stack, writer) in enumerate(zip(stacks, writers)):
                stack.data()[plane] = expected_stack(k)[plane]
                writer.flush((plane + 1) * HEIGHT * WIDTH)
            if plane == 4:
                with File(path, File.Read) as snapshot:
                    for k in range(4):
                        expected = expected_stack(k)
                        expected[5:] = 0
                        np.testing.assert_array_equal(snapshot.read(k).data(), expected)
    with File(path, File.Read) as f:
        for k in range(4):
            np.testing.assert_array_equal(f.read(k).data(), expected_stack(k))
