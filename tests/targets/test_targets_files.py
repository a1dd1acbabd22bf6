"""File-system targets: atomic writes that leave nothing behind on errors, and the luigi operations."""

from __future__ import annotations

import os

import pytest

from specpy import Error
from specpy.targets import FileSystemTarget, temporary_path, write_atomic
from specpy.targets.files import TEMP_MARK, file_sha256, write_chunks_atomic


def _names(directory) -> list[str]:
    return sorted(os.listdir(directory))


def test_temporary_path_renames_on_success_and_cleans_up_on_error(tmp_path) -> None:
    target = tmp_path / "sub" / "out.txt"
    with temporary_path(target) as temporary:
        assert temporary.parent == target.parent and TEMP_MARK in temporary.name and temporary.name.startswith(".")
        temporary.write_text("first")
        assert not target.exists()
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), temporary_path(target) as temporary:
        temporary.write_text("partial")
        raise RuntimeError("writer failed")
    assert target.read_text() == "first" and _names(target.parent) == ["out.txt"]


def test_open_for_writing_commits_only_on_a_clean_close(tmp_path) -> None:
    target = FileSystemTarget(tmp_path / "a.txt")
    with target.open("w") as stream:
        stream.write("hello")
    with target.open("r") as stream:
        assert stream.read() == "hello"
    with pytest.raises(KeyError), target.open("w") as stream:
        stream.write("half")
        raise KeyError("stop")
    stream = target.open("wb")
    stream.write(b"dropped without close")
    del stream
    with target.open("rb") as stream:
        assert stream.read() == b"hello" and _names(tmp_path) == ["a.txt"]
    with pytest.raises(Error, match="'a' is not supported"):
        target.open("a")


def test_write_atomic_reports_hash_size_and_identity(tmp_path) -> None:
    written = write_atomic(tmp_path / "x.bin", lambda temporary: temporary.write_bytes(b"abc" * 1000))
    assert written.size == 3000 and written.sha256 == file_sha256(tmp_path / "x.bin") and written.is_on_disk()
    write_atomic(tmp_path / "x.bin", lambda temporary: temporary.write_bytes(b"other"))
    assert not written.is_on_disk()

    def disk_full(temporary) -> None:
        temporary.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "x.bin", disk_full)
    assert (tmp_path / "x.bin").read_bytes() == b"other" and _names(tmp_path) == ["x.bin"]


def test_write_chunks_atomic_hashes_what_it_writes_and_drops_a_failed_write(tmp_path) -> None:
    chunks = [b"abc" * 1000, memoryview(bytes(range(256))), b""]
    written = write_chunks_atomic(tmp_path / "x.bin", chunks)
    assert (tmp_path / "x.bin").read_bytes() == b"".join(bytes(chunk) for chunk in chunks)
    assert written.sha256 == file_sha256(tmp_path / "x.bin") and written.size == 3256 and written.is_on_disk()

    def failing():
        yield b"half of a file"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_chunks_atomic(tmp_path / "x.bin", failing())
    assert written.is_on_disk() and _names(tmp_path) == ["x.bin"]


def test_move_copy_remove_makedirs_exists(tmp_path) -> None:
    target = FileSystemTarget(tmp_path / "deep" / "a.txt")
    target.makedirs()
    assert (tmp_path / "deep").is_dir() and not target.exists()
    target.path.write_text("data")
    copy = target.copy(tmp_path / "b.txt")
    assert copy.path.read_text() == "data" and not copy.path.is_symlink()
    with pytest.raises(Error, match="destination exists"):
        target.copy(tmp_path / "b.txt", raise_if_exists=True)
    with pytest.raises(Error, match="destination exists"):
        target.move(tmp_path / "b.txt", raise_if_exists=True)
    target.move(tmp_path / "moved" / "c.txt", raise_if_exists=True)
    assert target.path == tmp_path / "moved" / "c.txt" and target.exists() and not (tmp_path / "deep" / "a.txt").exists()
    target.move(tmp_path / "b.txt")  # replaces
    assert (tmp_path / "b.txt").read_text() == "data"
    folder = FileSystemTarget(tmp_path / "moved")
    folder.move_dir(tmp_path / "renamed")
    assert (tmp_path / "renamed").is_dir() and not (tmp_path / "moved").exists()
    with pytest.raises(Error, match="cannot move directory"):
        FileSystemTarget(tmp_path / "nothing").move_dir(tmp_path / "x")
    folder.remove()
    FileSystemTarget(tmp_path / "b.txt").remove()
    FileSystemTarget(tmp_path / "never-there").remove()
    assert _names(tmp_path) == ["deep"]
