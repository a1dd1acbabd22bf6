"""`specpy fit FILE`: find and fit every bead in every stack of a file, print the table and save it.

Each stack is analysed as the bead pipeline does (`specpy.targets.analysis.analyse_beads`: every
x-y plane, a 2D Gaussian per spot with `specpy.fit.fit_spots`); positions and widths are in
metres when the stack's x and y axes are lengths, else in pixels. The table is saved next to the
file (or in --out) as `<stem>_spots.ecsv` and `<stem>_spots.fits`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from astropy.table import Table, vstack

from .errors import ValidationError
from .stack import Stack

NOMINAL_FWHM = 250e-9  # m: a confocal FWHM; the default fit window is about twice it


def fit_parameters(stack: Stack, roi: int | None = None, threshold: float = 5.0) -> dict[str, Any]:
    """The analysis parameters: a fit window of `roi` pixels (default: about two confocal FWHMs, else 7)."""
    if roi is None:
        from astropy import units as u

        unit = stack.unit(0)
        if unit and u.Unit(unit).physical_type == "length":
            pixel = (stack.pixel_size(0) * u.Unit(unit)).to_value(u.m)
            roi = max(5, 2 * round(NOMINAL_FWHM / pixel) + 1)
        else:
            roi = 7
    if roi < 3 or roi % 2 == 0:
        raise ValidationError(f"the fit window is an odd number of pixels >= 3, not {roi}")
    return {"roi": roi, "threshold": threshold}


def fit_stacks(stacks: list[Stack], roi: int | None = None, threshold: float = 5.0) -> tuple[Table, list[str]]:
    """One table of every spot of every stack (columns `stack`, `stack_name` first); notes on stacks skipped."""
    from .targets.analysis import analyse_beads
    from .targets.errors import TargetError

    tables, notes = [], []
    for index, stack in enumerate(stacks):
        try:
            spots = analyse_beads(stack, fit_parameters(stack, roi, threshold)).spots
        except TargetError as error:
            notes.append(f"stack {index} ({stack.name()!r}) skipped: {error}")
            continue
        if "plane" not in spots.colnames:
            spots["plane"] = np.zeros(len(spots), dtype=np.int32)
        spots.add_column(np.full(len(spots), index, dtype=np.int32), name="stack", index=0)
        spots.add_column([stack.name()] * len(spots) if len(spots) else np.array([], dtype=str), name="stack_name",
                         index=1)
        tables.append(spots)
    if not tables:
        raise ValidationError("no stack with x-y images to fit" + "".join(f"\n  {note}" for note in notes))
    return vstack(tables, metadata_conflicts="silent"), notes


def save_table(table: Table, source: str | os.PathLike, out: str | os.PathLike | None = None) -> list[Path]:
    """Write the table as `<stem>_spots.ecsv` and `.fits` next to `source` (or in `out`); the paths."""
    folder = Path(out) if out is not None else Path(source).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{Path(source).stem}_spots{suffix}" for suffix in (".ecsv", ".fits")]
    for path in paths:
        table.write(path, overwrite=True)
    return paths


def print_table(table: Table, stream: TextIO, max_rows: int = 40) -> None:
    """Print a per-plane summary, then the spots (at most `max_rows`), in nm/um when the table is in metres."""
    metres = table["x"].unit is not None and str(table["x"].unit) == "m"
    at, width = (1e6, 1e9) if metres else (1.0, 1.0)
    where, size = ("um", "nm") if metres else ("px", "px")
    print(f"{'stack':>5}  {'plane':>5}  {'spots':>5}  {'converged':>9}  {'median FWHM [' + size + ']':>17}  name",
          file=stream)
    for key in sorted({(int(s), int(p)) for s, p in zip(table["stack"], table["plane"])}):
        rows = table[(table["stack"] == key[0]) & (table["plane"] == key[1])]
        good = np.asarray(rows["status"]) == 0
        fwhm = 0.5 * (np.asarray(rows["fwhm_x"], float) + np.asarray(rows["fwhm_y"], float))[good] * width
        median = f"{np.median(fwhm):17.1f}" if good.any() else f"{'-':>17}"
        print(f"{key[0]:5d}  {key[1]:5d}  {len(rows):5d}  {int(good.sum()):9d}  {median}  {rows['stack_name'][0]}",
              file=stream)
    print(f"\n{'stack':>5}  {'plane':>5}  {'x [' + where + ']':>10}  {'y [' + where + ']':>10}  "
          f"{'fwhm_x [' + size + ']':>12}  {'fwhm_y [' + size + ']':>12}  {'norm':>10}  status", file=stream)
    for row in table[:max_rows]:
        print(f"{row['stack']:5d}  {row['plane']:5d}  {row['x'] * at:10.4f}  {row['y'] * at:10.4f}  "
              f"{row['fwhm_x'] * width:12.1f}  {row['fwhm_y'] * width:12.1f}  {row['norm']:10.1f}  {int(row['status'])}",
              file=stream)
    if len(table) > max_rows:
        print(f"... {len(table) - max_rows} more spot(s) in the saved table", file=stream)
