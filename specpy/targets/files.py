"""File-system targets: atomic, durable writes and the luigi-style file operations.

Every write goes to a hidden temporary file in the destination's directory (`.NAME.tmp-XXXX`),
is flushed and fsync'd, renamed into place with `os.replace`, and the directory is fsync'd. On
an exception the temporary file is removed and the destination is untouched, so a reader sees
the old file or the new one, never a partial one. A SIGKILL can leave a temporary file behind;
`specpy db check` reports and removes those.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import FileAccessError

TEMP_MARK = ".tmp-"
CHUNK = 1 << 20


@dataclass(frozen=True)
class WrittenFile:
    """A file placed atomically: where, its SHA-256 and size, and its inode (to recognise it later)."""

    path: Path
    sha256: str
    size: int
    device: int
    inode: int

    def is_on_disk(self) -> bool:
        """True while the file at `path` is still the one this write placed there."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (status.st_dev, status.st_ino) == (self.device, self.inode)


def is_temporary(path: Path) -> bool:
    """True for the temporary files of an atomic write (left behind only by a killed writer)."""
    return path.name.startswith(".") and TEMP_MARK in path.name


def temporary_sibling(path: Path) -> Path:
    """A fresh temporary name in the same directory as `path` (same filesystem, so rename is atomic)."""
    return path.with_name(f".{path.name}{TEMP_MARK}{uuid.uuid4().hex[:12]}")


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def commit_temporary(temporary: Path, final: Path) -> None:
    """fsync a finished temporary file, rename it onto `final`, and fsync the directory."""
    fd = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, final)
    fsync_directory(final.parent)


@contextmanager
def temporary_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it, rename it onto `path`, fsync the directory.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(final)
    try:
        yield temporary
        commit_temporary(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> WrittenFile:
    """Have `write(temporary_path)` create the file, then place it atomically and durably; return its hash, size and inode."""
    with temporary_path(path) as temporary:
        write(temporary)
        status = os.stat(temporary)
        sha256 = file_sha256(temporary)
    return WrittenFile(Path(path), sha256, status.st_size, status.st_dev, status.st_ino)


def write_chunks_atomic(path: str | os.PathLike, chunks: Iterable[bytes | memoryview]) -> WrittenFile:
    """Write `chunks` in order to a temporary file, hashing them on the way, then place it atomically and durably."""
    digest = hashlib.sha256()
    with temporary_path(path) as temporary:
        with open(temporary, "xb") as stream:
            for chunk in chunks:
                digest.update(chunk)
                stream.write(chunk)
        status = os.stat(temporary)
    return WrittenFile(Path(path), digest.hexdigest(), status.st_size, status.st_dev, status.st_ino)


class _AtomicWriter(io.BufferedWriter):
    """A binary file that replaces its destination on close(); leaving a `with` block by an error,
    or being dropped unclosed, discards it instead."""

    def __init__(self, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        self._final = final
        self._temporary = temporary_sibling(final)
        super().__init__(io.FileIO(self._temporary, "xb"))

    def close(self) -> None:
        if not self.closed:
            super().close()
            commit_temporary(self._temporary, self._final)

    def discard(self) -> None:
        """Drop what was written; the destination stays as it was."""
        if not self.closed:
            super().close()
        self._temporary.unlink(missing_ok=True)

    def __exit__(self, kind: Any, *rest: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

    def __del__(self) -> None:
        self.discard()


class _AtomicText(io.TextIOWrapper):
    """Text on top of an _AtomicWriter, with the same commit-or-discard rule."""

    def __exit__(self, kind: Any, *rest: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.buffer.discard()

    def __del__(self) -> None:
        self.buffer.discard()


class FileSystemTarget:
    """A local file as a task output (luigi's FileSystemTarget operations, all writes atomic)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        """True if something is at the path."""
        return self.path.exists()

    def makedirs(self) -> None:
        """Create the parent directories if they do not exist."""
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def open(self, mode: str = "r") -> IO[Any]:
        """Open to read ('r', 'rb') or to write atomically ('w', 'wb': visible only after a clean close)."""
        if mode in ("r", "rb"):
            return open(self.path, mode)
        if mode in ("w", "wb"):
            writer = _AtomicWriter(self.path)
            return writer if mode == "wb" else _AtomicText(writer, encoding="utf-8")
        raise FileAccessError(f"{self.path}: open mode {mode!r} is not supported; use 'r', 'rb', 'w' or 'wb'")

    @contextmanager
    def temporary_path(self) -> Iterator[Path]:
        """A temporary path beside this target; renamed onto it (durably) if the block ends without error."""
        with temporary_path(self.path) as temporary:
            yield temporary

    def move(self, new_path: str | os.PathLike, raise_if_exists: bool = False) -> None:
        """Move the file to `new_path` atomically; with `raise_if_exists`, never replace an existing file."""
        destination = Path(new_path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            if raise_if_exists:
                os.link(self.path, destination)  # fails atomically if the destination exists
                os.unlink(self.path)
            else:
                os.replace(self.path, destination)
        except FileExistsError:
            raise FileAccessError(f"cannot move {self.path} to {destination}: the destination exists") from None
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            self.copy(destination, raise_if_exists)
            self.path.unlink()
        fsync_directory(destination.parent)
        fsync_directory(self.path.parent)
        self.path = destination

    def move_dir(self, new_path: str | os.PathLike) -> None:
        """Rename a directory to `new_path` (which must not exist or be an empty directory)."""
        destination = Path(new_path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(self.path, destination)
        except OSError as error:
            raise FileAccessError(f"cannot move directory {self.path} to {destination}: {error.strerror}") from None
        fsync_directory(destination.parent)
        self.path = destination

    def remove(self) -> None:
        """Remove the file (or directory tree) at the path; nothing there is not an error."""
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path)
        else:
            self.path.unlink(missing_ok=True)
        if self.path.parent.exists():
            fsync_directory(self.path.parent)

    def copy(self, new_path: str | os.PathLike, raise_if_exists: bool = False) -> FileSystemTarget:
        """Copy the file to `new_path` atomically (a real copy, never a link); return the new target."""
        destination = Path(new_path)
        if raise_if_exists and destination.exists():
            raise FileAccessError(f"cannot copy {self.path} to {destination}: the destination exists")
        with temporary_path(destination) as temporary:
            shutil.copyfile(self.path, temporary)
        return FileSystemTarget(destination)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path}>"
