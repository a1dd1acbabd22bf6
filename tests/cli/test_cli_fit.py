"""`specpy fit FILE`: every bead of every plane found and fitted, the table printed and saved as ECSV and FITS."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from specpy import ValidationError
from specpy.cli import main
from specpy.fit_file import fit_parameters

from .conftest import BEADS, FWHM, physical_stack


def test_fit_finds_and_fits_every_bead_and_saves_the_table(bead_file, tmp_path, capsys):
    out = tmp_path / "fitted"
    assert main(["fit", str(bead_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = Table.read(out / "beads_spots.ecsv")
    assert Table.read(out / "beads_spots.fits").colnames == table.colnames
    assert {"stack", "stack_name", "plane", "x", "y", "fwhm_x", "fwhm_y", "status"} <= set(table.colnames)
    for stack, planes in ((0, 1), (1, 2)):
        rows = table[table["stack"] == stack]
        assert sorted(set(rows["plane"])) == list(range(planes))
        for plane in range(planes):
            assert len(rows[rows["plane"] == plane]) == BEADS
    good = table[table["status"] == 0]
    fwhm = 0.5 * (np.asarray(good["fwhm_x"]) + np.asarray(good["fwhm_y"]))  # metres: the axes are lengths
    assert len(good) == 3 * BEADS and np.median(fwhm) == pytest.approx(FWHM, rel=0.05)
    assert "median FWHM [nm]" in printed and "confocal counts" in printed and "time series" in printed
    assert f"saved {len(table)} spot(s)" in printed


def test_fit_saves_next_to_the_file_by_default(bead_file, capsys):
    assert main(["fit", str(bead_file), "--rows", "3"]) == 0
    assert (bead_file.parent / "beads_spots.ecsv").is_file() and (bead_file.parent / "beads_spots.fits").is_file()
    assert "more spot(s) in the saved table" in capsys.readouterr().out


def test_fit_refuses_what_it_cannot_fit(tmp_path, capsys):
    from specpy import File, Stack

    with File(tmp_path / "trace.obf", File.Write) as f:
        f.write(Stack(np.ones(50, np.float32)))
    assert main(["fit", str(tmp_path / "trace.obf")]) == 1
    assert "no stack with x-y images" in capsys.readouterr().err
    with pytest.raises(ValidationError, match="odd"):
        fit_parameters(physical_stack(np.ones((8, 8)), "x"), roi=4)
