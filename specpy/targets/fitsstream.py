"""FITS HDUs rendered straight to bytes: astropy-formatted cards, big-endian data, CHECKSUM and DATASUM.

Why: building astropy HDU objects and letting `writeto` serialise them costs about 20 ms of
per-card Python work per product (configuration look-ups, header copies, verification), more
than the data itself. A product's layout is fixed, so its HDUs are rendered here directly. The
cards are still formatted by `astropy.io.fits.Card` (quoting, float spelling, CONTINUE), cached
because most repeat from product to product; the checksums are the FITS standard's (Appendix J,
as astropy computes them). A results table with anything beyond plain numeric columns (masks,
mixins, metadata, display formats, text) is converted by astropy's own `table_to_hdu`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Column, Table

from .errors import TargetError

BLOCK = 2880
CHECKSUM_VALUE_AT = 11  # "CHECKSUM= '" precedes the 16 characters of the value
PLACEHOLDER = "0" * 16
END = "END".ljust(80)
EXCLUDED = frozenset(range(0x3A, 0x41)) | frozenset(range(0x5B, 0x61))  # punctuation a checksum never uses
BITPIX = {"f4": -32, "f8": -64, "u1": 8, "i2": 16, "i4": 32, "i8": 64}
TFORM = {"f4": "E", "f8": "D", "u1": "B", "i2": "I", "i4": "J", "i8": "K", "b1": "L"}


def printable(text: str) -> str:
    """`text` as FITS can hold it: printable ASCII as it is, any other text JSON-escaped ("5 \\u00b5m" for "5 µm"),
    so a sample or stack name in any language can be written (and read back with `json.loads('"' + text + '"')`)."""
    if text.isascii() and text.isprintable():
        return text
    return json.dumps(text)[1:-1].replace("\x7f", "\\u007f")


@lru_cache(maxsize=4096, typed=True)  # typed: True, 1 and 1.0 are different cards
def card(keyword: str, value: Any = None, comment: str = "") -> str:
    """One header card (or a CONTINUE run) as astropy formats it: a multiple of 80 characters; text as `printable`."""
    return fits.Card(keyword, printable(value) if isinstance(value, str) else value, printable(comment)).image


@dataclass(frozen=True)
class Part:
    """One HDU before its checksums: its cards in order (no END) and its data unit (unpadded)."""

    cards: Sequence[str]
    data: bytes | memoryview = b""


def ones_sum(buffer: bytes | bytearray | memoryview, total: int = 0) -> int:
    """`total` plus the 32-bit ones' complement sum of `buffer` read as big-endian words (last one zero-padded)."""
    view = memoryview(buffer).cast("B")
    whole = len(view) - len(view) % 4
    total += int(np.frombuffer(view[:whole], ">u4").sum(dtype=np.uint64))
    if whole < len(view):
        total += int.from_bytes(bytes(view[whole:]).ljust(4, b"\0"), "big")
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def encode_checksum(value: int) -> str:
    """The 16 ASCII characters that store a checksum complement (FITS standard, Appendix J)."""
    characters = [0] * 16
    for index in range(4):
        byte = (value >> (24 - 8 * index)) & 0xFF
        quotient = byte // 4 + ord("0")
        spread = [quotient + byte % 4, quotient, quotient, quotient]
        for first in (0, 2):
            while spread[first] in EXCLUDED or spread[first + 1] in EXCLUDED:
                spread[first] += 1
                spread[first + 1] -= 1
        for position in range(4):
            characters[4 * position + index] = spread[position]
    return bytes(characters[-1:] + characters[:-1]).decode("ascii")


def hdu_bytes(part: Part) -> list[bytes | memoryview]:
    """The HDU as file chunks: header with CHECKSUM and DATASUM, data, zero padding."""
    datasum = ones_sum(part.data)
    head = "".join(part.cards)
    text = head + card("CHECKSUM", PLACEHOLDER, "HDU checksum") + card("DATASUM", str(datasum), "data unit checksum") + END
    header = bytearray((text + " " * (-len(text) % BLOCK)).encode("ascii"))
    at = len(head) + CHECKSUM_VALUE_AT
    header[at:at + 16] = encode_checksum(~ones_sum(header, datasum) & 0xFFFFFFFF).encode("ascii")
    return [bytes(header), part.data, bytes(-len(part.data) % BLOCK)]


def _format_key(dtype: np.dtype) -> str:
    """'f4', 'i2', 'b1', ... for a numpy dtype (byte order left out)."""
    return f"{dtype.kind}{dtype.itemsize}"


def primary_part(cards: Sequence[str]) -> Part:
    """A primary HDU without data, with extensions, and `cards` after the mandatory ones."""
    return Part([card("SIMPLE", True, "conforms to FITS standard"), card("BITPIX", 8, "array data type"),
                 card("NAXIS", 0, "number of array dimensions"), card("EXTEND", True), *cards])


def image_part(data: np.ndarray, cards: Sequence[str]) -> Part:
    """An IMAGE extension of `data` (numpy shape, so NAXIS1 is the last axis) with `cards` after the mandatory ones."""
    key = _format_key(data.dtype)
    if key not in BITPIX:
        raise TargetError(f"image data of type {data.dtype} has no FITS form here; use one of {sorted(BITPIX)}")
    array = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder(">"))
    axes = [card(f"NAXIS{index}", size) for index, size in enumerate(reversed(array.shape), start=1)]
    return Part([card("XTENSION", "IMAGE", "Image extension"), card("BITPIX", BITPIX[key], "array data type"),
                 card("NAXIS", array.ndim, "number of array dimensions"), *axes,
                 card("PCOUNT", 0, "number of parameters"), card("GCOUNT", 1, "number of groups"), *cards],
                memoryview(array.reshape(-1).view(np.uint8)))


def table_part(name: str, columns: Mapping[str, np.ndarray], units: Mapping[str, str]) -> Part:
    """A BINTABLE extension of 1-D columns (float, int, uint8, bool or bytes), with TUNITn where `units` has one."""
    arrays, forms = {}, []
    for column, values in columns.items():
        values = np.asarray(values)
        key = _format_key(values.dtype)
        if values.ndim == 1 and values.dtype.kind == "S":
            width = max(values.dtype.itemsize, 1)
            forms.append(f"{width}A")
            arrays[column] = values.astype(f"S{width}")
        elif values.ndim == 1 and key in TFORM:
            forms.append(TFORM[key])
            arrays[column] = np.where(values, ord("T"), ord("F")).astype(np.uint8) if key == "b1" else values
        else:
            raise TargetError(f"table {name}: column {column!r} of type {values.dtype}, shape {values.shape} has no plain FITS form")
    rows = len(next(iter(arrays.values()))) if arrays else 0
    records = np.empty(rows, dtype=[(column, array.dtype.newbyteorder(">")) for column, array in arrays.items()])
    for column, array in arrays.items():
        records[column] = array
    described = []
    for index, (column, form) in enumerate(zip(arrays, forms), start=1):
        described += [card(f"TTYPE{index}", column), card(f"TFORM{index}", form)]
        if units.get(column):
            described.append(card(f"TUNIT{index}", units[column]))
    return Part([card("XTENSION", "BINTABLE", "binary table extension"), card("BITPIX", 8, "array data type"),
                 card("NAXIS", 2, "number of array dimensions"), card("NAXIS1", records.dtype.itemsize, "length of dimension 1"),
                 card("NAXIS2", len(records), "length of dimension 2"), card("PCOUNT", 0, "number of group parameters"),
                 card("GCOUNT", 1, "number of groups"), card("TFIELDS", len(arrays), "number of table fields"),
                 *described, card("EXTNAME", name, "extension name")], memoryview(records.view(np.uint8)))


def plain_units(table: Table) -> dict[str, str] | None:
    """The FITS units of a table's columns if every column is plain numeric data (see table_part), else None."""
    if not table.colnames or table.meta or table.has_mixin_columns or table.has_masked_columns:
        return None
    units = {}
    for column in table.columns.values():
        if type(column) is not Column or column.info.format is not None or column.ndim != 1 \
                or _format_key(column.dtype) not in TFORM:
            return None
        if column.unit is not None:
            try:
                units[column.name] = column.unit.to_string("fits")
            except ValueError:
                return None
    return units


def results_bytes(name: str, table: Table) -> list[bytes | memoryview]:
    """An astropy Table as a BINTABLE HDU named `name` (units kept): rendered here if plain, else by astropy."""
    units = plain_units(table)
    if units is not None:
        return hdu_bytes(table_part(name, {column: table[column].data for column in table.colnames}, units))
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(table, name=name)]).writeto(buffer, checksum=True, output_verify="exception")
    with fits.open(io.BytesIO(buffer.getvalue())) as hdus:
        where = hdus.fileinfo(1)
    return [buffer.getvalue()[where["hdrLoc"]:where["datLoc"] + where["datSpan"]]]
