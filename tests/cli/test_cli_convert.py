"""`specpy convert`: .obf to FITS and OME-TIFF and back, keeping dtype, shape, axis order, pixel sizes, units, names."""

from __future__ import annotations

import numpy as np
import pytest

from specpy import File, Stack, ValidationError
from specpy.cli import main
from specpy.convert import convert, read_stacks

from .conftest import physical_stack

DTYPES = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.float64)


def sample_stacks() -> list[Stack]:
    """Stacks of every FITS/OME type, ranks 2 to 4, with distinct sizes on every axis (axis order shows)."""
    rng = np.random.default_rng(11)
    shapes = [(5, 7), (3, 5, 7), (2, 3, 5, 7)]
    return [physical_stack((rng.uniform(0, 100, shapes[i % 3])).astype(dtype), f"stack {i} µ {np.dtype(dtype).name}")
            for i, dtype in enumerate(DTYPES)]


def write_obf(path, stacks):
    with File(path, File.Write) as f:
        for stack in stacks:
            f.write(stack)
    return path


def assert_same(got: Stack, want: Stack) -> None:
    assert got.data().dtype == want.data().dtype
    assert got.shape() == want.shape()
    assert np.array_equal(got.data(), want.data())
    assert got.name() == want.name() and got.labels() == want.labels()
    assert got.lengths() == want.lengths() and got.offsets() == want.offsets()
    assert [got.pixel_size(a) for a in range(got.number_of_dimensions())] == \
           [want.pixel_size(a) for a in range(want.number_of_dimensions())]
    assert [got.unit(a) for a in range(got.number_of_dimensions())] == \
           [want.unit(a) for a in range(want.number_of_dimensions())]
    assert got.tags() == want.tags()


@pytest.mark.parametrize("suffix", [".fits", ".ome.tif"])
def test_obf_to_other_and_back_keeps_everything(tmp_path, suffix, capsys):
    stacks = sample_stacks()
    source = write_obf(tmp_path / "source.obf", stacks)
    middle, back = tmp_path / f"middle{suffix}", tmp_path / "back.obf"
    assert main(["convert", str(source), str(middle)]) == 0
    assert main(["convert", str(middle), str(back)]) == 0
    assert f"wrote {len(stacks)} stack(s)" in capsys.readouterr().out
    again = read_stacks(back)
    assert len(again) == len(stacks)
    for got, want in zip(again, read_stacks(source)):
        assert_same(got, want)


def test_the_fits_file_is_plain_fits_with_wcs_cards(tmp_path):
    from astropy.io import fits

    stack = sample_stacks()[7]  # float64, 3 axes
    path = tmp_path / "one.fits"
    convert(write_obf(tmp_path / "one.obf", [stack]), path)
    with fits.open(path) as hdus:
        header, data = hdus[1].header, hdus[1].data
        assert data.shape == tuple(reversed(stack.shape())) and data.dtype.kind == "f"
        assert header["CUNIT1"] == "m" and header["CDELT1"] == pytest.approx(stack.pixel_size(0))
        assert header["CNAME3"] == "z"


def test_a_foreign_fits_file_gets_its_pixel_sizes_from_wcs(tmp_path):
    from astropy.io import fits

    header = fits.Header({"CDELT1": 5e-8, "CUNIT1": "m", "CRPIX1": 1.0, "CRVAL1": 0.0, "CTYPE2": "y",
                          "CDELT2": 1e-7, "CUNIT2": "m", "EXTNAME": "foreign"})
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((4, 6), np.int16), header=header)]).writeto(tmp_path / "f.fits")
    assert main(["convert", str(tmp_path / "f.fits"), str(tmp_path / "f.obf")]) == 0
    [stack] = read_stacks(tmp_path / "f.obf")
    assert stack.name() == "foreign" and stack.shape() == [6, 4] and stack.data().dtype == np.int16
    assert stack.pixel_size(0) == pytest.approx(5e-8) and stack.unit(0) == "m" and stack.label(1) == "y"
    assert stack.offset(0) == pytest.approx(-2.5e-8)  # the first pixel's centre is at CRVAL1 = 0


def test_a_foreign_ome_tiff_gets_its_pixel_sizes_and_axes(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "f.ome.tif", np.zeros((3, 8, 9), np.uint16), ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": 0.05, "PhysicalSizeXUnit": "µm", "Name": "foreign"})
    convert(tmp_path / "f.ome.tif", tmp_path / "f.obf")
    [stack] = read_stacks(tmp_path / "f.obf")
    assert stack.name() == "foreign" and stack.shape() == [9, 8, 3] and stack.labels() == ["x", "y", "z"]
    assert stack.pixel_size(0) * 1e-6 == pytest.approx(5e-8) and stack.unit(0) == "1e-06 m"


def test_what_a_format_cannot_hold_is_refused_clearly(tmp_path):
    complex_stack = write_obf(tmp_path / "complex.obf", [Stack(np.ones((4, 4), np.complex64))])
    with pytest.raises(ValidationError, match="FITS cannot represent"):
        convert(complex_stack, tmp_path / "complex.fits")
    assert not (tmp_path / "complex.fits").exists()
    convert(complex_stack, tmp_path / "complex.ome.tif")  # OME-TIFF can
    assert read_stacks(tmp_path / "complex.ome.tif")[0].data().dtype == np.complex64
    deep = write_obf(tmp_path / "deep.obf", [Stack(np.ones((2,) * 6, np.uint8))])
    with pytest.raises(ValidationError, match="cannot be represented in OME-TIFF"):
        convert(deep, tmp_path / "deep.ome.tif")


def test_unsupported_kinds_and_unrepresentable_files_are_errors(tmp_path, capsys):
    from astropy.io import fits

    source = write_obf(tmp_path / "a.obf", [Stack(np.ones((4, 4), np.uint8))])
    assert main(["convert", str(source), str(tmp_path / "a.png")]) == 1
    assert "unsupported file kind '.png'" in capsys.readouterr().err
    with pytest.raises(ValidationError, match="same kind"):
        convert(source, tmp_path / "b.msr")
    fits.HDUList([fits.PrimaryHDU(np.ones((3, 3), np.int64))]).writeto(tmp_path / "wide.fits")
    assert main(["convert", str(tmp_path / "wide.fits"), str(tmp_path / "wide.obf")]) == 1
    assert "int64" in capsys.readouterr().err
    fits.HDUList([fits.PrimaryHDU()]).writeto(tmp_path / "empty.fits")
    assert main(["convert", str(tmp_path / "empty.fits"), str(tmp_path / "empty.obf")]) == 1
    assert "no image" in capsys.readouterr().err
    (tmp_path / "junk.tif").write_bytes(b"not a tiff at all")
    assert main(["convert", str(tmp_path / "junk.tif"), str(tmp_path / "junk.obf")]) == 1
    assert "not a TIFF file" in capsys.readouterr().err


def test_an_existing_destination_is_replaced_only_with_force(tmp_path, capsys):
    source = write_obf(tmp_path / "a.obf", [Stack(np.ones((4, 4), np.uint8))])
    assert main(["convert", str(source), str(tmp_path / "a.fits")]) == 0
    assert main(["convert", str(source), str(tmp_path / "a.fits")]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["convert", str(source), str(tmp_path / "a.fits"), "--force"]) == 0
