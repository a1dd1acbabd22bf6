"""The byte layout of .obf/.msr files: headers, footers and their field offsets.

All integers are little endian and structures are packed. See
`docs/obf_format.md` for the field-by-field description; offsets here are the ones that
writers patch in place.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from fractions import Fraction

from ..units import BASE_NAMES, DIMENSIONLESS, SIUnit

FILE_MAGIC = b"OMAS_BF\n\xff\xff"
STACK_MAGIC = b"OMAS_BF_STACK\n\xff\xff"
MAX_RANK = 15

FILE_VERSION = 2
FILE_HEADER = struct.Struct("<10sIQI")  # magic, version, first stack position, description length
FIRST_STACK_POS_FIELD = 14  # offset of the first stack position in the file header
METADATA_POS = struct.Struct("<Q")  # follows the description in version >= 2

STACK_VERSION = 7
STACK_HEADER = struct.Struct("<16sII15I15d15dIIIIIQQQ")
assert STACK_HEADER.size == 368
DATA_LEN_FIELD = 352  # offsets inside the stack header
NEXT_STACK_FIELD = 360
COMPRESSION_LEVEL = 1  # written for every stack, compressed or not, as Imspector does
RESERVED_VALUE = 1  # "0 means data-less stack to old readers"

FOOTER_SIZE = 1528  # version 7
UNIT = struct.Struct("<18id")  # 9 x (numerator, denominator), scale
FOOTER_HEAD = struct.Struct("<I15I15II")  # size, has column positions, has column labels, legacy length
FOOTER_TAIL = struct.Struct("<QQQQIQQQ60s")  # from offset 1408 on
assert FOOTER_HEAD.size + UNIT.size * 16 + FOOTER_TAIL.size == FOOTER_SIZE
SAMPLES_WRITTEN_FIELD = 1452  # offset inside the footer
# The footer size of each version, from which a reader knows which fields are present.
FOOTER_FIELD_ENDS = {"flush": 1424, "tags": 1432, "stack_end": 1444, "samples": 1460, "chunks": 1468}
MIN_FOOTER_SIZE = 124


@dataclass
class StackHeader:
    """The fixed 368-byte header of one stack."""

    version: int
    rank: int
    sizes: list[int]
    lengths: list[float]
    offsets: list[float]
    type_code: int
    compression: int
    name_len: int
    description_len: int
    data_len_disk: int
    next_stack_pos: int

    def pack(self) -> bytes:
        pad = MAX_RANK - self.rank
        return STACK_HEADER.pack(
            STACK_MAGIC, self.version, self.rank,
            *self.sizes, *[0] * pad, *self.lengths, *[0.0] * pad, *self.offsets, *[0.0] * pad,
            self.type_code, self.compression, COMPRESSION_LEVEL, self.name_len, self.description_len,
            RESERVED_VALUE, self.data_len_disk, self.next_stack_pos,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> StackHeader:
        fields = STACK_HEADER.unpack(raw)
        rank = fields[2]
        n = min(rank, MAX_RANK)
        sizes = list(fields[3:3 + n])
        lengths = list(fields[18:18 + n])
        offsets = list(fields[33:33 + n])
        type_code, compression, _level, name_len, description_len, _reserved, data_len, next_pos = fields[48:]
        return cls(fields[1], rank, sizes, lengths, offsets, type_code, compression, name_len,
                   description_len, data_len, next_pos)


@dataclass
class StackFooter:
    """The footer that follows a stack's data (version 1 and later), fixed part and variable part."""

    has_col_positions: list[int] = field(default_factory=lambda: [0] * MAX_RANK)
    has_col_labels: list[int] = field(default_factory=lambda: [0] * MAX_RANK)
    legacy_len: int = 0
    value_unit: SIUnit = DIMENSIONLESS
    axis_units: list[SIUnit] = field(default_factory=lambda: [DIMENSIONLESS] * MAX_RANK)
    num_flush_points: int = 0
    flush_block_size: int = 0
    tag_dict_len: int = 0
    stack_end_disk: int = 0
    stack_end_used_disk: int = 0
    samples_written: int = 0
    num_chunk_positions: int = 0

    def pack(self) -> bytes:
        head = FOOTER_HEAD.pack(FOOTER_SIZE, *self.has_col_positions, *self.has_col_labels, self.legacy_len)
        units = b"".join(pack_unit(u) for u in [self.value_unit, *self.axis_units])
        tail = FOOTER_TAIL.pack(
            self.num_flush_points, self.flush_block_size, self.tag_dict_len, self.stack_end_disk,
            0, self.stack_end_used_disk, self.samples_written, self.num_chunk_positions, b"",
        )
        return head + units + tail

    @classmethod
    def unpack(cls, raw: bytes, size: int) -> StackFooter:
        """Parse `raw` (the footer's first `size` bytes); fields beyond `size` take their defaults."""
        padded = raw[:FOOTER_SIZE].ljust(FOOTER_SIZE, b"\0")
        head = FOOTER_HEAD.unpack_from(padded)
        units = [unpack_unit(padded, FOOTER_HEAD.size + k * UNIT.size) for k in range(16)]
        tail = FOOTER_TAIL.unpack_from(padded, FOOTER_HEAD.size + 16 * UNIT.size)
        footer = cls(list(head[1:16]), list(head[16:31]), head[31] if size >= 128 else 0, units[0], units[1:])
        if size >= FOOTER_FIELD_ENDS["flush"]:
            footer.num_flush_points, footer.flush_block_size = tail[0], tail[1]
        if size >= FOOTER_FIELD_ENDS["tags"]:
            footer.tag_dict_len = tail[2]
        if size >= FOOTER_FIELD_ENDS["samples"]:
            footer.samples_written = tail[6]
        if size >= FOOTER_FIELD_ENDS["chunks"]:
            footer.num_chunk_positions = tail[7]
        return footer


def pack_unit(unit: SIUnit) -> bytes:
    numbers = []
    for exponent in unit.exponents:
        numbers += [exponent.numerator, exponent.denominator]
    return UNIT.pack(*numbers, unit.scale)


def unpack_unit(raw: bytes, offset: int) -> SIUnit:
    values = UNIT.unpack_from(raw, offset)
    exponents = []
    for k in range(len(BASE_NAMES)):
        numerator, denominator = values[2 * k], values[2 * k + 1]
        # Writers that leave the struct zeroed mean "no unit": 0/0 reads as exponent 0.
        exponents.append(Fraction(numerator, denominator) if denominator else Fraction(0))
    scale = values[-1]
    return SIUnit(tuple(exponents), scale if scale == scale and scale != 0.0 else 1.0)


def pack_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<I", len(raw)) + raw


def pack_dictionary(items: dict[str, str]) -> bytes:
    """Key/value string pairs terminated by a zero length, as in tag dictionaries and metadata blocks."""
    return b"".join(pack_string(k) + pack_string(v) for k, v in items.items()) + b"\0\0\0\0"
