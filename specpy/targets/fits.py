"""AstraSource: the FITS product of an analysis task on an image stack, written atomically.

Layout: PRIMARY (no data; provenance and acquisition cards, one HISTORY line per HDU), then the
image HDUs FLUX, FLUX_IVAR, BACKGROUND, MODEL, MODEL_IVAR (and BITMASK if given) in the stack's
numpy shape with standard BUNIT and linear WCS cards (FITS axis i is the Stack's axis i-1), then
binary tables RESULTS (the analysis table, units kept), PARAMETERS (name, canonical JSON value)
and INPUTS (role, SHA-256). Every HDU carries CHECKSUM and DATASUM. The bytes are rendered by
`fitsstream` (astropy's cards and checksum rules, without astropy's per-HDU object overhead)
and hashed as they are written.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from .. import __version__
from ..stack import Stack
from .acquisition import stack_fact
from .canonical import canonical_json
from .errors import ShapeError, TargetError
from .files import FileSystemTarget, WrittenFile, write_chunks_atomic
from .fitsstream import card, hdu_bytes, image_part, primary_part, printable, results_bytes, table_part
from .task import Task

COUNTS = "ct"
IMAGES = ("flux", "flux_ivar", "background", "model", "model_ivar", "bitmask")


def fits_unit(unit: str | u.UnitBase | None, what: str) -> str:
    """A unit as the FITS standard spells it ('' for dimensionless); raises TargetError if it has no FITS form."""
    if unit in (None, ""):
        return ""
    try:
        return u.Unit(unit).to_string("fits")
    except (ValueError, TypeError) as error:
        raise TargetError(f"{what}: unit {unit!r} has no FITS spelling ({error}); use e.g. 'ct', 'm', 's', 'W'") from None


def create_image_hdu(
    data: np.ndarray,
    header: fits.Header | None = None,
    name: str | None = None,
    dtype: Any = None,
    bunit: str | u.UnitBase | None = None,
    **kwargs: Any,
) -> fits.ImageHDU:
    """An image HDU of `data` cast to `dtype` (default float32), with EXTNAME `name` and a standard BUNIT."""
    array = np.asarray(data, dtype=np.float32 if dtype is None else dtype)
    hdu = fits.ImageHDU(data=array, header=header, name=name,  # ImageHDU copies the header
                        do_not_scale_image_data=True, **kwargs)
    unit = fits_unit(bunit, f"HDU {name or 'image'}")
    if unit:
        hdu.header["BUNIT"] = (unit, "unit of the data values")
    return hdu


def _card_value(value: Any) -> Any:
    """A value a FITS card can hold: numbers and text as they are, anything else as compact JSON text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def acquisition_cards(stack: Stack) -> list[str]:
    """Primary-header cards describing the acquisition: stack name, sample, instrument, times, pixel sizes, dwell, lasers."""
    cards = [card("STACK", stack.name(), "name of the analysed stack")]
    facts = {"SAMPLE": ("sample", "sample"), "INSTRUME": ("instrument", "instrument"),
             "DATE-OBS": ("started", "acquisition start"), "DATE-END": ("finished", "acquisition end"),
             "DWELL": ("dwell_time", "pixel dwell time [s]"), "LASERS": ("lasers", "lasers (JSON)")}
    for keyword, (fact, comment) in facts.items():
        value = stack_fact(stack, fact)
        if value is not None:
            cards.append(card(keyword, _card_value(value), comment))
    for axis in range(stack.number_of_dimensions()):
        unit = fits_unit(stack.unit(axis) or None, f"stack axis {axis}")
        cards += [card(f"PIXSZ{axis + 1}", stack.pixel_size(axis), f"pixel size of axis {axis + 1} [{unit or 'pixel'}]"),
                  card(f"PIXUN{axis + 1}", unit, f"unit of PIXSZ{axis + 1}")]
    return cards


def wcs_cards(stack: Stack) -> list[str]:
    """Linear WCS cards for the image HDUs: FITS axis i is Stack axis i-1 (the fastest axis first)."""
    cards = []
    for axis in range(stack.number_of_dimensions()):
        i = axis + 1
        cards.append(card(f"CTYPE{i}", stack.label(axis)[:8].upper() or "LINEAR", f"axis {i}"))
        unit = fits_unit(stack.unit(axis) or None, f"stack axis {axis}")
        if unit:
            cards.append(card(f"CUNIT{i}", unit))
        cards += [card(f"CRPIX{i}", 1.0), card(f"CRVAL{i}", stack.col_positions(axis)[0] if stack.size(axis) else 0.0),
                  card(f"CDELT{i}", stack.pixel_size(axis) if stack.size(axis) else 1.0)]
    return cards


def _text_table(name: str, columns: tuple[str, str], rows: list[tuple[str, str]]) -> list[bytes | memoryview]:
    """A binary-table HDU of two text columns."""
    arrays = {}
    for index, column in enumerate(columns):
        values = [printable(row[index]) for row in rows]
        arrays[column] = np.array(values, dtype=f"S{max([len(value) for value in values] + [1])}")
    return hdu_bytes(table_part(name, arrays, {}))


def _image_hdus(stack: Stack, arrays: dict[str, np.ndarray]) -> list[bytes | memoryview]:
    """The image HDUs in IMAGES order: float32 (bitmask int32), EXTNAME, BUNIT from the stack's value unit, WCS."""
    value_unit = stack.value_unit() or COUNTS
    inverse_square = (u.Unit(value_unit) ** -2).to_string("fits")
    units = {"flux": value_unit, "flux_ivar": inverse_square, "background": value_unit, "model": value_unit,
             "model_ivar": inverse_square, "bitmask": None}
    wcs = wcs_cards(stack)
    chunks = []
    for name in (name for name in IMAGES if name in arrays):
        unit = fits_unit(units[name], f"HDU {name.upper()}")
        bunit = [card("BUNIT", unit, "unit of the data values")] if unit else []
        data = np.asarray(arrays[name], dtype=np.int32 if name == "bitmask" else np.float32)
        chunks += hdu_bytes(image_part(data, [card("EXTNAME", name.upper(), "extension name"), *bunit, *wcs]))
    return chunks


class AstraSource(FileSystemTarget):
    """The FITS product of a task on an image stack, at a path derived from the task key under `root`."""

    def __init__(self, task: Task, root: str | os.PathLike) -> None:
        self.task = task
        self.root = Path(root)
        self.relative_path = Path(task.name) / task.key[:2] / f"{task.name}-{task.key}.fits"
        super().__init__(self.root / self.relative_path)

    def _check_shapes(self, stack: Stack, results_table: Table, **arrays: np.ndarray | None) -> dict[str, np.ndarray]:
        """Every given array must have the stack's numpy shape; raise ShapeError naming each one that does not."""
        if not isinstance(results_table, Table):
            raise TargetError(f"results_table must be an astropy Table, not {type(results_table).__name__}")
        expected = stack.data().shape
        checked, wrong = {}, []
        for name, array in arrays.items():
            if array is None:
                if name != "bitmask":
                    raise ShapeError(f"{name} is missing; every array except bitmask is required, with shape {expected}")
                continue
            checked[name] = np.asarray(array)
            if checked[name].shape != expected:
                wrong.append(f"{name} {checked[name].shape}")
        if wrong:
            raise ShapeError(f"arrays do not match the stack's shape {expected} (numpy order): {', '.join(wrong)}")
        return checked

    def file_chunks(self, stack: Stack, flux: np.ndarray, flux_ivar: np.ndarray, background: np.ndarray,
                    model: np.ndarray, model_ivar: np.ndarray, results_table: Table,
                    bitmask: np.ndarray | None = None) -> list[bytes | memoryview]:
        """The product file as chunks, HDU by HDU, shapes checked first (nothing is built from inconsistent arrays)."""
        arrays = self._check_shapes(stack, results_table, flux=flux, flux_ivar=flux_ivar, background=background,
                                    model=model, model_ivar=model_ivar, bitmask=bitmask)
        images = _image_hdus(stack, arrays)
        results = results_bytes("RESULTS", results_table)
        parameters = _text_table("PARAMETERS", ("NAME", "VALUE"), [  # VALUE: canonical JSON, ASCII-escaped
            (name, canonical_json(value, f"parameter {name!r}", ascii_only=True))
            for name, value in sorted(self.task.parameters.items())])
        inputs = _text_table("INPUTS", ("ROLE", "SHA256"), [(item.role, item.sha256) for item in self.task.inputs])
        extensions = [name.upper() for name in IMAGES if name in arrays] + ["RESULTS", "PARAMETERS", "INPUTS"]
        primary = primary_part([
            card("SPECPY", __version__, "specpy package version"), card("TASKNAME", self.task.name, "analysis task"),
            card("TASKKEY", self.task.key), card("PARHASH", self.task.parameter_hash),
            card("CREATED", datetime.now(timezone.utc).isoformat(timespec="seconds"), "UTC"),
            card("HOST", socket.gethostname(), "host that wrote this file"), *acquisition_cards(stack),
            *(card("HISTORY", f"HDU {index}: {name}") for index, name in enumerate(extensions, start=1))])
        return [*hdu_bytes(primary), *images, *results, *parameters, *inputs]

    def write(self, stack: Stack, flux: np.ndarray, flux_ivar: np.ndarray, background: np.ndarray,
              model: np.ndarray, model_ivar: np.ndarray, results_table: Table,
              bitmask: np.ndarray | None = None) -> WrittenFile:
        """Write the product atomically and durably (with CHECKSUM/DATASUM); return its hash, size and inode."""
        return write_chunks_atomic(self.path, self.file_chunks(stack, flux, flux_ivar, background, model, model_ivar,
                                                               results_table, bitmask))
