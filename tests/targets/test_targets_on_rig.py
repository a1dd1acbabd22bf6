"""The pipeline attached to an application on the simulated rig: a run leaves a FITS product and rows."""

import pytest
from astropy.io import fits

from drivers.rig import connect_rig, default_rig_path
from specpy.application import Imspector
from specpy.targets import Database, Pipeline, bead_scans, products
from specpy.targets.check import check
from specpy.targets.database import upgrade_database


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECPY_DATA", str(tmp_path / "data"))
    application = Imspector(connect_rig(default_rig_path()))
    yield application
    application.shutdown()


def test_a_finished_measurement_lands_as_product_and_rows(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    upgrade_database(url)
    database = Database(url, root=tmp_path / "products")
    pipeline = Pipeline(database, {"roi": 11, "model": "gauss2d", "stat": "cstat", "threshold": 5.0})
    callback = pipeline.attach(app)
    try:
        m = app.create_measurement()
        m.set_parameters("", {"scan": {"x": {"length": 8e-6, "pixel_size": 50e-9},
                                       "y": {"length": 8e-6, "pixel_size": 50e-9}, "dwell_time": 20e-6},
                              "channels": {"excitation": {"power": 2e-3}}})
        app.run(m)
    finally:
        assert app.disconnect_end(callback, 0)
    found = products(database)
    assert len(found) == 1 and found[0]["stack"] == "Configuration counts"
    with fits.open(database.root / found[0]["path"], checksum=True) as hdus:
        assert len(hdus) > 2
        assert all(hdu.verify_checksum() == 1 for hdu in hdus)
    beads = bead_scans(database, fwhm_below=400e-9)
    assert len(beads) == 1 and beads[0]["spots"] > 3
    assert 200e-9 < beads[0]["fwhm_median"] < 400e-9  # the simulator's d0 is 250 nm
    assert check(database) == []
    database.close()
