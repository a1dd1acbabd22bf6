"""The FITS renderer: plain tables rendered directly and others converted by astropy read back alike, checksums verify."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import MaskedColumn, Table

from specpy.targets import TargetError
from specpy.targets.fitsstream import plain_units, card, hdu_bytes, image_part, primary_part, results_bytes, table_part


def _file(*hdus: list) -> fits.HDUList:
    """Render the HDUs after a primary and open the bytes with astropy (checksums verified, warnings are errors)."""
    data = b"".join(bytes(chunk) for chunks in (hdu_bytes(primary_part([])), *hdus) for chunk in chunks)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opened = fits.open(io.BytesIO(data), checksum=True)
        opened.verify("exception")
    assert all(hdu.verify_checksum() == 1 and hdu.verify_datasum() == 1 for hdu in opened)
    return opened


def _tables() -> dict[str, Table]:
    rng = np.random.default_rng(8)
    plain = Table({"x": rng.normal(size=5), "f4": np.array([1.5, np.nan, 2, 3, 4], np.float32),
                   "n": np.arange(5), "i2": np.array([-1, 2, 3, 4, 5], np.int16), "u1": np.array([0, 1, 2, 254, 255], np.uint8),
                   "flag": np.array([True, False, True, True, False])})
    plain["x"].unit = u.m
    plain["f4"].unit = "ct / s"
    masked = plain.copy()
    masked["m"] = MaskedColumn([1, 2, 3, 4, 5], mask=[False, True, False, False, True])
    text = plain.copy()
    text["name"] = ["a", "bb", "ccc", "", "e"]
    meta = plain.copy()
    meta.meta["ORIGIN"] = "lab"
    wide = plain.copy()
    wide["xy"] = np.zeros((5, 2))
    wide["u4"] = np.arange(5, dtype=np.uint32)
    return {"plain": plain, "empty": plain[:0], "masked": masked, "text": text, "meta": meta, "wide": wide}


@pytest.mark.parametrize("kind", ["plain", "empty", "masked", "text", "meta", "wide"])
def test_results_read_back_like_astropy_writes_them(kind: str) -> None:
    table = _tables()[kind]
    assert (plain_units(table) is not None) == (kind in ("plain", "empty"))  # which path this case takes
    reference = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(table, name="RESULTS")]).writeto(reference)
    reference.seek(0)
    with fits.open(reference) as hdus:
        expected = Table.read(hdus, hdu="RESULTS")
    with _file(results_bytes("RESULTS", table)) as hdus:
        assert hdus[1].name == "RESULTS"
        got = Table.read(hdus, hdu="RESULTS")
    checksums = ("CHECKSUM", "DATASUM")
    assert got.colnames == expected.colnames and {key: value for key, value in got.meta.items() if key not in checksums} == expected.meta
    for name in got.colnames:
        assert got[name].unit == expected[name].unit and got[name].dtype == expected[name].dtype, name
        assert np.array_equal(np.ma.getdata(got[name]), np.ma.getdata(expected[name]), equal_nan=got[name].dtype.kind == "f"), name
        assert np.array_equal(np.ma.getmaskarray(got[name]), np.ma.getmaskarray(expected[name])), name


def test_images_of_every_supported_type_and_many_checksums() -> None:
    rng = np.random.default_rng(3)
    hdus = [hdu_bytes(image_part(rng.normal(size=(3, 7, 5)).astype(dtype) * 100, [card("EXTNAME", f"IMG{index}")]))
            for index, dtype in enumerate([np.float32, np.float64, np.uint8, np.int16, np.int32, np.int64] * 8)]
    with _file(*hdus) as opened:
        for index, hdu in enumerate(opened[1:]):
            assert hdu.name == f"IMG{index}" and hdu.data.shape == (3, 7, 5) and hdu.header["NAXIS1"] == 5


def test_types_without_a_plain_form_are_refused() -> None:
    with pytest.raises(TargetError, match="uint16 has no FITS form"):
        image_part(np.zeros(3, np.uint16), [])
    with pytest.raises(TargetError, match="column 'c' of type complex128"):
        table_part("T", {"c": np.zeros(2, complex)}, {})
