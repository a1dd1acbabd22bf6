"""Stacks to and from FITS (astropy): one image extension per stack, its SpecPy metadata in the header.

Axis i of a stack is FITS axis i+1 (both list the fastest axis first), so the data array is the
same in numpy. Each extension has linear WCS cards for other tools (CNAMEi, CUNITi, CDELTi,
CRPIXi, CRVALi at the first pixel's centre; BUNIT) and the exact SpecPy metadata as JSON
(SPECPY, a long string). FITS holds 8- to 64-bit integers and 32/64-bit floats: complex or
boolean stacks cannot be written. Reading a FITS file from elsewhere uses its WCS cards.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import UnsupportedTypeError, ValidationError
from ..stack import Stack
from .metadata import metadata_text, parse_metadata, set_axes, stack_from

KEYWORD = "SPECPY"
FITS_DTYPES = frozenset(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32,
                                                np.uint64, np.int64, np.float32, np.float64))


def write_fits(stacks: list[Stack], path: str | os.PathLike) -> Path:
    """Write the stacks as image extensions of a new FITS file (an empty primary HDU first)."""
    from astropy.io import fits

    hdus = [fits.PrimaryHDU()]
    for index, stack in enumerate(stacks):
        dtype = np.dtype(stack.type())
        if dtype not in FITS_DTYPES:
            raise ValidationError(f"stack {index} ({stack.name()!r}) holds {dtype} data, which FITS cannot represent; "
                        "convert it to OME-TIFF instead")
        hdu = fits.ImageHDU(np.asarray(stack.data()), name=_ascii(stack.name())[:68] or f"STACK{index}")
        header = hdu.header
        for axis in range(stack.number_of_dimensions()):
            pixel = stack.pixel_size(axis)
            header[f"CNAME{axis + 1}"] = stack.label(axis)
            header[f"CUNIT{axis + 1}"] = stack.unit(axis)
            header[f"CDELT{axis + 1}"] = pixel
            header[f"CRPIX{axis + 1}"] = 1.0
            header[f"CRVAL{axis + 1}"] = stack.offset(axis) + pixel / 2
        if stack.value_unit():
            header["BUNIT"] = stack.value_unit()
        header[KEYWORD] = metadata_text(stack)
        hdus.append(hdu)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)  # long SPECPY cards continue (CONTINUE)
        fits.HDUList(hdus).writeto(path, overwrite=False)
    return Path(path)


def read_fits(path: str | os.PathLike) -> list[Stack]:
    """Every image HDU with data as a Stack (metadata restored exactly if this module wrote it)."""
    from astropy.io import fits

    try:
        hdus = fits.open(path, memmap=False)
    except OSError as error:
        raise ValidationError(f"{os.fspath(path)}: not a FITS file ({error})") from error
    with hdus:
        images = [hdu for hdu in hdus if hdu.is_image and hdu.data is not None]
        for index, hdu in enumerate(images):
            dtype = hdu.data.dtype.newbyteorder("=")
            if dtype not in FITS_DTYPES - {np.dtype(np.uint64), np.dtype(np.int64)}:
                raise UnsupportedTypeError(f"{os.fspath(path)}: image {index} ({hdu.name}) holds {dtype.name} data, "
                                           "which a stack cannot represent")
        stacks = [_stack(hdu) for hdu in images]
    if not stacks:
        raise ValidationError(f"{os.fspath(path)}: no image with data in this FITS file")
    return stacks


def _stack(hdu: object) -> Stack:
    header, data = hdu.header, np.asarray(hdu.data)  # type: ignore[attr-defined]
    metadata = parse_metadata(header.get(KEYWORD))
    if metadata is not None:
        return stack_from(data, metadata)
    stack = Stack(data)
    rank = data.ndim
    cards = {name: [header.get(f"{name}{axis + 1}") for axis in range(rank)]
             for name in ("CNAME", "CTYPE", "CUNIT", "CDELT", "CRPIX", "CRVAL")}
    pixels = [float(d) if d is not None else None for d in cards["CDELT"]]
    origins = [None if d is None else float(v or 0.0) - (float(p if p is not None else 1.0) - 1) * d - d / 2
               for d, p, v in zip(pixels, cards["CRPIX"], cards["CRVAL"])]
    labels = [str(n or t or "") for n, t in zip(cards["CNAME"], cards["CTYPE"])]
    set_axes(stack, labels, pixels, [str(u or "") for u in cards["CUNIT"]], origins)
    stack.set_name(str(header.get("EXTNAME", "")))
    if header.get("BUNIT"):
        stack.set_value_unit(str(header["BUNIT"]))
    return stack


def _ascii(text: str) -> str:
    """Header text: FITS cards are ASCII (the exact name is in the SPECPY card)."""
    return text.encode("ascii", "replace").decode("ascii")
