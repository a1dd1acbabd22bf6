"""The OME-XML metadata block that Imspector's SpecPy writes at the end of a file.

Readers do not need it; it is written byte for byte as SpecPy does so that files compare equal
and OME-aware tools see pixel sizes. Stacks that OME cannot describe (rank above 5, 64-bit
integers) get no Image element.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

OME_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://www.openmicroscopy.org/Schemas/OME/2016-06 '
    'http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd"'
)
PIXEL_TYPES = {
    "uint8": "uint8", "int8": "int8", "uint16": "uint16", "int16": "int16", "uint32": "uint32",
    "int32": "int32", "float32": "float", "float64": "double", "complex64": "complex",
    "complex128": "double-complex", "bool": "bit",
}
MAX_OME_RANK = 5


def ome_number(value: float) -> str:
    """The shortest round-trip decimal, fixed or scientific, whichever is shorter (tie: fixed)."""
    mantissa = repr(float(value)).partition("e")[0]
    significant = len(mantissa.lstrip("-").replace(".", "").strip("0")) or 1
    scientific = f"{value:.{significant - 1}e}"
    exponent = int(scientific.partition("e")[2])
    fixed = f"{value:.{max(0, significant - 1 - exponent)}f}"
    return fixed if len(fixed) <= len(scientific) else scientific


def ome_xml(stacks: Sequence[tuple[list[int], list[float], np.dtype]]) -> str:
    """The OME document for (shape in SpecPy order, lengths, dtype) of every stack in file order."""
    images = []
    for index, (shape, lengths, dtype) in enumerate(stacks, start=1):
        if len(shape) > MAX_OME_RANK or dtype.name not in PIXEL_TYPES or not shape or 0 in shape:
            continue
        attributes = ['BigEndian="false"', 'DimensionOrder="XYZTC"', f'ID="Pixels:{index}"']
        for axis, letter in enumerate("XYZ"):
            if axis < len(shape) and lengths[axis] not in (0.0, 1.0) and math.isfinite(lengths[axis]):
                attributes.append(f'PhysicalSize{letter}="{ome_number(lengths[axis] / shape[axis])}"')
                attributes.append(f'PhysicalSize{letter}Unit="m"')
        size = [shape[axis] if axis < len(shape) else 1 for axis in range(MAX_OME_RANK)]
        attributes += [f'SizeC="{size[4]}"', f'SizeT="{size[3]}"', f'SizeX="{size[0]}"',
                       f'SizeY="{size[1]}"', f'SizeZ="{size[2]}"', f'Type="{PIXEL_TYPES[dtype.name]}"']
        planes = "".join(
            f'<Plane TheC="{c}" TheT="{t}" TheZ="{z}"/>'
            for c, t, z in itertools.product(range(size[4]), range(size[3]), range(size[2]))
        )
        images.append(f'<Image ID="Image:{index}"><Pixels {" ".join(attributes)}><MetadataOnly/>{planes}</Pixels></Image>')
    if not images:
        return OME_OPEN + "/>"
    return OME_OPEN + ">" + "".join(images) + "</OME>"
