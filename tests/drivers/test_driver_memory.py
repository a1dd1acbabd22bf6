"""populate: the pages under an array are faulted in writable, its contents (and a mapped file's) untouched."""

import mmap
import sys

import numpy as np
import pytest

from drivers.memory import populate


def resident_pages(view: np.ndarray) -> int:
    """How many pages of an anonymous mapping are in memory (from /proc/self/smaps' Rss of its region)."""
    start = view.__array_interface__["data"][0]
    with open("/proc/self/smaps") as smaps:
        inside = False
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                low, high = (int(part, 16) for part in head.split("-"))
                inside = low <= start < high
            elif inside and head == "Rss:":
                return int(line.split()[1]) * 1024 // mmap.PAGESIZE
    raise AssertionError("the mapping is not in /proc/self/smaps")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_POPULATE_WRITE is Linux's")
def test_populate_faults_an_untouched_mapping_in_without_changing_it():
    region = mmap.mmap(-1, 64 * mmap.PAGESIZE)
    try:
        view = np.frombuffer(region, np.uint8)
        assert resident_pages(view) == 0
        if not populate(view[mmap.PAGESIZE:]):
            pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux < 5.14)")
        assert resident_pages(view) == 63  # from the array's first page on, not before it
        assert not view.any()
        del view
    finally:
        region.close()


def test_populate_keeps_a_mapped_files_contents(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 64)
    with open(path, "r+b") as handle, mmap.mmap(handle.fileno(), 0) as mapped:
        view = np.frombuffer(mapped, np.uint8)
        populate(view[100:])
        assert bytes(view[:256]) == bytes(range(256)) and view.sum() == 64 * sum(range(256))
        del view
    assert path.read_bytes() == bytes(range(256)) * 64


def test_populate_declines_what_it_cannot_do():
    assert populate(np.zeros(0, np.uint32)) is False
    assert populate(np.zeros((64, 64), np.uint32)[:, ::2]) is False  # not contiguous
