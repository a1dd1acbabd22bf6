"""FITS products: layout, provenance and acquisition cards, units, checksums, shape errors before any byte."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning

from specpy.targets import AstraSource, ShapeError, TargetError, create_image_hdu
from specpy.targets.pipeline import poisson_ivar

from .helpers import assert_valid_fits, bead_stack, fake_analysis, fake_pipeline


@pytest.fixture
def product(tmp_path):
    stack = bead_stack(3)
    stack.set_tag("lasers", '[{"name": "STED 775", "power": 0.2}]')
    task = fake_pipeline(None).task_for(stack)  # the pipeline's task, without a database
    analysis = fake_analysis(stack, {})
    source = AstraSource(task, tmp_path)
    flux = stack.data()
    written = source.write(stack, flux, poisson_ivar(flux), analysis.background, analysis.model,
                           poisson_ivar(analysis.model), analysis.spots, bitmask=np.zeros(flux.shape, np.uint8))
    return stack, task, analysis, source, written


def test_layout_and_checksums(product) -> None:
    stack, task, analysis, source, written = product
    assert source.path == source.root / "bead_fwhm" / task.key[:2] / f"bead_fwhm-{task.key}.fits"
    assert_valid_fits(source.path, task.key)
    with fits.open(source.path) as hdus:
        assert [hdu.name for hdu in hdus] == ["PRIMARY", "FLUX", "FLUX_IVAR", "BACKGROUND", "MODEL", "MODEL_IVAR",
                                              "BITMASK", "RESULTS", "PARAMETERS", "INPUTS"]
        assert all("CHECKSUM" in hdu.header and "DATASUM" in hdu.header for hdu in hdus)
        assert [hdus[name].header["BUNIT"] for name in ("FLUX", "FLUX_IVAR", "MODEL")] == ["count", "count-2", "count"]
        np.testing.assert_array_equal(hdus["FLUX"].data, stack.data())
        assert hdus["FLUX"].header["CUNIT1"] == "m" and hdus["FLUX"].header["CDELT1"] == pytest.approx(20e-9)
        assert hdus["PARAMETERS"].data["NAME"].tolist() == ["roi"] and hdus["PARAMETERS"].data["VALUE"].tolist() == ["7"]
        assert hdus["INPUTS"].data["SHA256"].tolist() == [task.inputs[0].sha256]
    assert written.size == os.path.getsize(source.path)


def test_primary_header_has_provenance_and_acquisition(product) -> None:
    stack, task, _, source, _ = product
    header = fits.getheader(source.path)
    assert header["TASKKEY"] == task.key and header["PARHASH"] == task.parameter_hash
    assert header["SPECPY"] and header["HOST"] and header["CREATED"].endswith("+00:00")
    assert header["SAMPLE"] == "beads-40nm" and header["INSTRUME"] == "sim-rig"
    assert header["DATE-OBS"] == "2024-05-01T10:00:00" and header["DWELL"] == 10e-6
    assert "STED 775" in header["LASERS"]
    assert header["PIXSZ1"] == pytest.approx(20e-9) and header["PIXUN1"] == "m"


def test_results_keep_units(product) -> None:
    _, _, analysis, source, _ = product
    results = Table.read(source.path, hdu="RESULTS")
    assert results["fwhm_x"].unit == u.m and len(results) == len(analysis.spots)
    np.testing.assert_allclose(results["fwhm_x"], analysis.spots["fwhm_x"])


def test_corruption_is_detected_by_the_checksums(product) -> None:
    _, task, _, source, _ = product
    data = bytearray(source.path.read_bytes())
    data[2880 * 3 + 100] ^= 0xFF
    source.path.write_bytes(bytes(data))
    with pytest.raises(AssertionError):
        assert_valid_fits(source.path, task.key)
    with pytest.warns(AstropyUserWarning) as record:
        fits.open(source.path, checksum=True).close()
    assert {str(warning.message).strip() for warning in record} == {
        "Checksum verification failed for HDU ('FLUX', 1).", "Datasum verification failed for HDU ('FLUX', 1)."}


def test_shape_errors_name_the_arrays_and_write_nothing(tmp_path) -> None:
    stack = bead_stack(4)
    source = AstraSource(fake_pipeline(None).task_for(stack), tmp_path)
    flux = stack.data()
    with pytest.raises(ShapeError, match=r"shape \(1, 32, 32\).*flux_ivar \(32, 32\), model \(1, 32, 31\)"):
        source.write(stack, flux, flux[0], flux, flux[..., :31], flux, Table())
    with pytest.raises(ShapeError, match="background is missing"):
        source.write(stack, flux, flux, None, flux, flux, Table())
    with pytest.raises(TargetError, match="astropy Table"):
        source.write(stack, flux, flux, flux, flux, flux, [1, 2])
    assert list(tmp_path.iterdir()) == []


def test_create_image_hdu() -> None:
    hdu = create_image_hdu(np.arange(6).reshape(2, 3), name="FLUX", bunit="um")
    assert hdu.data.dtype == np.float32 and hdu.name == "FLUX" and hdu.header["BUNIT"] == "um"
    assert create_image_hdu(np.ones(2), dtype=np.int16).data.dtype == np.int16
    with pytest.raises(TargetError, match="no FITS spelling"):
        create_image_hdu(np.ones(2), bunit="furlong per fortnight")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fits.HDUList([fits.PrimaryHDU(), hdu]).verify("exception")


def test_text_in_any_language_is_written_escaped_and_reads_back(tmp_path) -> None:
    import json

    from specpy.targets import Task
    from specpy.targets.task import Input

    stack = bead_stack(4, sample="Zelle ü")
    stack.set_name("Kanal µ")
    task = Task("bead_fwhm", {"Größe": "5 µm", "roi": 7}, [Input.from_stack(stack, "image")])
    analysis = fake_analysis(stack, {})
    source = AstraSource(task, tmp_path)
    flux = stack.data()
    source.write(stack, flux, poisson_ivar(flux), analysis.background, analysis.model, poisson_ivar(analysis.model),
                 analysis.spots)
    assert_valid_fits(source.path, task.key)
    back = lambda text: json.loads(f'"{text}"')  # noqa: E731
    with fits.open(source.path) as hdus:
        assert back(hdus[0].header["STACK"]) == "Kanal µ" and back(hdus[0].header["SAMPLE"]) == "Zelle ü"
        parameters = dict(zip(hdus["PARAMETERS"].data["NAME"], hdus["PARAMETERS"].data["VALUE"]))
        assert {back(name): json.loads(value) for name, value in parameters.items()} == {"Größe": "5 µm", "roi": 7}
