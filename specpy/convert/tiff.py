"""Stacks to and from OME-TIFF (tifffile): one OME image (series) per stack.

The stack's axes, fastest first, become OME's X, Y, Z, T, C (a stack of rank 1 is written as one
row). Pixel sizes go to PhysicalSizeX/Y/Z when their unit is a length, TimeIncrement when the
fourth axis is in seconds; the exact SpecPy metadata goes to the image's Description as JSON.
OME pixel types are 8/16/32-bit integers, float32/64 and complex64/128: a 64-bit integer or
boolean stack, or one of rank above 5, cannot be written. Reading a TIFF from elsewhere uses
its series' axes and the OME pixel sizes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..stack import Stack
from .metadata import metadata_text, parse_metadata, set_axes, stack_from

OME_AXES = "XYZTC"  # stack axis i -> OME axis OME_AXES[i]
OME_DTYPES = frozenset(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32,
                                               np.float32, np.float64, np.complex64, np.complex128))
LENGTH_AXES = {"X": 0, "Y": 1, "Z": 2}


def _is_length(unit: str) -> bool:
    from astropy import units as u

    return bool(unit) and u.Unit(unit).physical_type == "length"


def _ome_metadata(stack: Stack) -> dict[str, Any]:
    rank = max(stack.number_of_dimensions(), 2)
    metadata: dict[str, Any] = {"axes": OME_AXES[:rank][::-1], "Name": stack.name(), "Description": metadata_text(stack)}
    for letter, axis in LENGTH_AXES.items():
        if axis < stack.number_of_dimensions() and _is_length(stack.unit(axis)):
            metadata[f"PhysicalSize{letter}"] = stack.pixel_size(axis)
            metadata[f"PhysicalSize{letter}Unit"] = stack.unit(axis)
    if stack.number_of_dimensions() > 3 and stack.unit(3) == "s":
        metadata["TimeIncrement"], metadata["TimeIncrementUnit"] = stack.pixel_size(3), "s"
    return metadata


def write_ome_tiff(stacks: list[Stack], path: str | os.PathLike) -> Path:
    """Write the stacks as the images of a new OME-TIFF file."""
    import tifffile

    for index, stack in enumerate(stacks):
        dtype = np.dtype(stack.type())
        if dtype not in OME_DTYPES or stack.number_of_dimensions() > len(OME_AXES):
            raise ValidationError(f"stack {index} ({stack.name()!r}, {dtype}, rank {stack.number_of_dimensions()}) "
                                  f"cannot be represented in OME-TIFF (pixel types: {', '.join(sorted(d.name for d in OME_DTYPES))}; "
                                  f"rank at most {len(OME_AXES)}); convert it to FITS instead")
    with tifffile.TiffWriter(path, ome=True) as tif:
        for stack in stacks:
            data = np.asarray(stack.data())
            tif.write(data.reshape(1, -1) if data.ndim < 2 else data, photometric="minisblack",
                      metadata=_ome_metadata(stack))
    return Path(path)


def read_tiff(path: str | os.PathLike) -> list[Stack]:
    """Every series of an (OME-)TIFF as a Stack (metadata restored exactly if this module wrote it)."""
    import tifffile

    try:
        tif = tifffile.TiffFile(path)
    except (tifffile.TiffFileError, ValueError) as error:
        raise ValidationError(f"{os.fspath(path)}: not a TIFF file ({error})") from error
    with tif:
        images = _ome_images(tif)
        stacks = [_stack(series.asarray(), series.axes, images[i] if i < len(images) else {})
                  for i, series in enumerate(tif.series)]
    if not stacks:
        raise ValidationError(f"{os.fspath(path)}: no image in this TIFF file")
    return stacks


def _ome_images(tif: Any) -> list[dict[str, Any]]:
    """The OME Image elements of the file (Name, Description, Pixels attributes), [] for a plain TIFF."""
    import tifffile

    if not tif.is_ome or not tif.ome_metadata:
        return []
    images = tifffile.xml2dict(tif.ome_metadata).get("OME", {}).get("Image", [])
    return images if isinstance(images, list) else [images]


def _stack(data: np.ndarray, axes: str, image: dict[str, Any]) -> Stack:
    metadata = parse_metadata(image.get("Description"))
    if metadata is not None:
        return stack_from(data, metadata)
    stack = Stack(data)
    pixels = image.get("Pixels", {})
    letters = axes[::-1]  # stack order: fastest axis first
    sizes: list[float | None] = []
    units: list[str] = []
    for letter in letters:
        if letter in LENGTH_AXES and f"PhysicalSize{letter}" in pixels:
            sizes.append(float(pixels[f"PhysicalSize{letter}"]))
            units.append(str(pixels.get(f"PhysicalSize{letter}Unit", "µm")).replace("µ", "u"))
        elif letter == "T" and "TimeIncrement" in pixels:
            sizes.append(float(pixels["TimeIncrement"]))
            units.append(str(pixels.get("TimeIncrementUnit", "s")).replace("µ", "u"))
        else:
            sizes.append(None)
            units.append("")
    set_axes(stack, [letter.lower() for letter in letters], sizes, units, [None] * len(letters))
    stack.set_name(str(image.get("Name", "")))
    return stack
