"""`specpy convert`: stacks between .obf/.msr, FITS and OME-TIFF, each file kind known by its suffix.

`read_stacks(path)` reads any of them, `write_stacks(stacks, path)` writes any of them, and
`convert(source, destination)` does both. What a format cannot hold (complex data in FITS,
64-bit integers in OME-TIFF) is refused with a specpy.Error naming the stack.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import ValidationError
from ..stack import Stack
from .fits import read_fits, write_fits
from .tiff import read_tiff, write_ome_tiff

KINDS = {".obf": "obf", ".msr": "obf", ".fits": "fits", ".fit": "fits", ".fts": "fits",
         ".tif": "tiff", ".tiff": "tiff"}


def file_kind(path: str | os.PathLike) -> str:
    """'obf', 'fits' or 'tiff' from the file name's suffix; Error for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in KINDS:
        raise ValidationError(f"{os.fspath(path)}: unsupported file kind {suffix or '(no suffix)'!r}; "
                    f"convert knows {', '.join(sorted(KINDS))} (.ome.tif/.ome.tiff for OME-TIFF)")
    return KINDS[suffix]


def read_obf(path: str | os.PathLike) -> list[Stack]:
    """Every stack of an .obf/.msr file, its data loaded."""
    from ..obf import File

    with File(path, File.Read) as f:
        stacks = [f.read(index) for index in range(f.number_of_stacks())]
        for stack in stacks:
            stack.data()  # loaded while the file is open
    return stacks


def write_obf(stacks: list[Stack], path: str | os.PathLike) -> Path:
    """Write the stacks to a new .obf/.msr file."""
    from ..obf import File

    with File(path, File.Write) as f:
        for stack in stacks:
            f.write(stack)
    return Path(path)


READERS: dict[str, Callable[[str | os.PathLike], list[Stack]]] = {"obf": read_obf, "fits": read_fits,
                                                                  "tiff": read_tiff}
WRITERS: dict[str, Callable[[list[Stack], str | os.PathLike], Path]] = {"obf": write_obf, "fits": write_fits,
                                                                       "tiff": write_ome_tiff}


def read_stacks(path: str | os.PathLike) -> list[Stack]:
    """Every stack of an .obf/.msr, FITS or (OME-)TIFF file."""
    kind = file_kind(path)
    if not os.path.isfile(path):
        raise ValidationError(f"{os.fspath(path)}: no such file")
    return READERS[kind](path)


def write_stacks(stacks: list[Stack], path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write stacks as the file kind `path` names; an existing file is replaced only with `overwrite`."""
    kind = file_kind(path)
    if not stacks:
        raise ValidationError(f"{os.fspath(path)}: nothing to write (no stacks)")
    if os.path.exists(path):
        if not overwrite:
            raise ValidationError(f"{os.fspath(path)} exists; pass --force to replace it")
        os.remove(path)
    return WRITERS[kind](stacks, path)


def convert(source: str | os.PathLike, destination: str | os.PathLike, overwrite: bool = False) -> list[Stack]:
    """Read every stack of `source` and write them to `destination` (kinds by suffix); the stacks written."""
    if file_kind(source) == file_kind(destination):
        raise ValidationError(f"{os.fspath(source)} and {os.fspath(destination)} are the same kind of file: "
                              "nothing to convert")
    stacks = read_stacks(source)
    write_stacks(stacks, destination, overwrite)
    return stacks


__all__ = ["convert", "file_kind", "read_stacks", "write_stacks"]
