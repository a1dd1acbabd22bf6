"""AstraSource: the FITS product of an analysis task on an image stack, written atomically.

Layout: PRIMARY (no data; provenance and acquisition cards, one HISTORY line per HDU), then the
image HDUs FLUX, FLUX_IVAR, BACKGROUND, MODEL, MODEL_IVAR (and BITMASK if given) in the stack's
numpy shape with standard BUNIT and linear WCS cards (FITS axis i is the Stack's axis i-1), then
binary tables RESULTS (the analysis table, units kept), PARAMETERS (name, canonical JSON value)
and INPUTS (role, SHA-256). Every HDU carries CHECKSUM and DATASUM.
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
from .files import FileSystemTarget, WrittenFile, write_atomic
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


def acquisition_header(stack: Stack) -> fits.Header:
    """Primary-header cards describing the acquisition: stack name, sample, instrument, times, pixel sizes, dwell, lasers."""
    header = fits.Header()
    header["STACK"] = (stack.name(), "name of the analysed stack")
    facts = {"SAMPLE": ("sample", "sample"), "INSTRUME": ("instrument", "instrument"),
             "DATE-OBS": ("started", "acquisition start"), "DATE-END": ("finished", "acquisition end"),
             "DWELL": ("dwell_time", "pixel dwell time [s]"), "LASERS": ("lasers", "lasers (JSON)")}
    for keyword, (fact, comment) in facts.items():
        value = stack_fact(stack, fact)
        if value is not None:
            header[keyword] = (_card_value(value), comment)
    for axis in range(stack.number_of_dimensions()):
        unit = fits_unit(stack.unit(axis) or None, f"stack axis {axis}")
        header[f"PIXSZ{axis + 1}"] = (stack.pixel_size(axis), f"pixel size of axis {axis + 1} [{unit or 'pixel'}]")
        header[f"PIXUN{axis + 1}"] = (unit, f"unit of PIXSZ{axis + 1}")
    return header


def wcs_header(stack: Stack) -> fits.Header:
    """Linear WCS cards for the image HDUs: FITS axis i is Stack axis i-1 (the fastest axis first)."""
    header = fits.Header()
    for axis in range(stack.number_of_dimensions()):
        i = axis + 1
        header[f"CTYPE{i}"] = (stack.label(axis)[:8].upper() or "LINEAR", f"axis {i}")
        unit = fits_unit(stack.unit(axis) or None, f"stack axis {axis}")
        if unit:
            header[f"CUNIT{i}"] = unit
        header[f"CRPIX{i}"] = 1.0
        header[f"CRVAL{i}"] = stack.col_positions(axis)[0] if stack.size(axis) else 0.0
        header[f"CDELT{i}"] = stack.pixel_size(axis) if stack.size(axis) else 1.0
    return header


def _text_table(name: str, columns: tuple[str, str], rows: list[tuple[str, str]]) -> fits.BinTableHDU:
    """A binary-table HDU of two text columns."""
    fields = []
    for index, column in enumerate(columns):
        values = [row[index] for row in rows]
        width = max([len(value.encode()) for value in values] + [1])
        fields.append(fits.Column(name=column, format=f"{width}A", array=np.array(values, dtype=f"S{width}")))
    return fits.BinTableHDU.from_columns(fields, name=name)


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

    def hdu_list(self, stack: Stack, flux: np.ndarray, flux_ivar: np.ndarray, background: np.ndarray,
                 model: np.ndarray, model_ivar: np.ndarray, results_table: Table,
                 bitmask: np.ndarray | None = None) -> fits.HDUList:
        """The product's HDUs, shapes checked first (nothing is built from inconsistent arrays)."""
        arrays = self._check_shapes(stack, results_table, flux=flux, flux_ivar=flux_ivar, background=background,
                                    model=model, model_ivar=model_ivar, bitmask=bitmask)
        primary = fits.PrimaryHDU()
        header = primary.header
        header["SPECPY"] = (__version__, "specpy package version")
        header["TASKNAME"] = (self.task.name, "analysis task")
        header["TASKKEY"] = self.task.key
        header["PARHASH"] = self.task.parameter_hash
        header["CREATED"] = (datetime.now(timezone.utc).isoformat(timespec="seconds"), "UTC")
        header["HOST"] = (socket.gethostname(), "host that wrote this file")
        header.update(acquisition_header(stack))
        value_unit = stack.value_unit() or COUNTS
        inverse_square = (u.Unit(value_unit) ** -2).to_string("fits")
        units = {"flux": value_unit, "flux_ivar": inverse_square, "background": value_unit, "model": value_unit,
                 "model_ivar": inverse_square, "bitmask": None}
        wcs = wcs_header(stack)
        images = [create_image_hdu(arrays[name], wcs, name.upper(), np.int32 if name == "bitmask" else None, units[name])
                  for name in IMAGES if name in arrays]
        results = fits.table_to_hdu(results_table)
        results.name = "RESULTS"
        parameters = _text_table("PARAMETERS", ("NAME", "VALUE"), [
            (name, canonical_json(value, f"parameter {name!r}")) for name, value in sorted(self.task.parameters.items())])
        inputs = _text_table("INPUTS", ("ROLE", "SHA256"), [(item.role, item.sha256) for item in self.task.inputs])
        hdus = fits.HDUList([primary, *images, results, parameters, inputs])
        for index, hdu in enumerate(hdus[1:], start=1):
            header.add_history(f"HDU {index}: {hdu.name}")
        return hdus

    def write(self, stack: Stack, flux: np.ndarray, flux_ivar: np.ndarray, background: np.ndarray,
              model: np.ndarray, model_ivar: np.ndarray, results_table: Table,
              bitmask: np.ndarray | None = None) -> WrittenFile:
        """Write the product atomically and durably (with CHECKSUM/DATASUM); return its hash, size and inode."""
        hdus = self.hdu_list(stack, flux, flux_ivar, background, model, model_ivar, results_table, bitmask)
        return write_atomic(self.path, lambda temporary: hdus.writeto(temporary, checksum=True, output_verify="exception"))
