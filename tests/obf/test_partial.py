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

path, compression = sys.argv[1], sys.argv[2] == "1"
with File(path, File.Write) as f:
    for index in range(3):
        stack = Stack(np.uint16, [{width}, {height}, {planes}])
        stack.set_name(f"stack {{index}}")
        writer = f.begin_stack(stack, compression)
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


@pytest.mark.parametrize("compression", [True, False])
def test_killed_writer_leaves_a_readable_file(tmp_path, compression):
    rng = np.random.default_rng(20261121 + compression)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    environment = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    outcomes = set()
    for trial in range(12):
        path = tmp_path / f"killed{trial}.obf"
        process = subprocess.Popen([sys.executable, str(script), str(path), str(int(compression))],
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
    """One stack per configuration of an acquisition, flushed in turn, raw and compressed."""
    path = tmp_path / "interleaved.obf"
    stacks = [Stack(np.uint16, [WIDTH, HEIGHT, PLANES]) for _ in range(3)]
    with File(path, File.Write) as f:
        writers = [f.begin_stack(stack, compression=k != 1) for k, stack in enumerate(stacks)]
        for plane in range(PLANES):
            for k, (stack, writer) in enumerate(zip(stacks, writers)):
                stack.data()[plane] = expected_stack(k)[plane]
                writer.flush((plane + 1) * HEIGHT * WIDTH)
            if plane == 4:
                with File(path, File.Read) as snapshot:
                    for k in range(3):
                        expected = expected_stack(k)
                        expected[5:] = 0
                        np.testing.assert_array_equal(snapshot.read(k).data(), expected)
    with File(path, File.Read) as f:
        for k in range(3):
            np.testing.assert_array_equal(f.read(k).data(), expected_stack(k))
