"""The pipeline with the real fit: a measurement's stacks become FITS products and rows that queries find."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from astropy.table import Table

from specpy import Stack
from specpy.cli import main
from specpy.targets import Pipeline, bead_scans, products
from specpy.targets.analysis import FWHM_PER_SIGMA
from specpy.targets.queries import parse_length, parse_time

from .helpers import PIXEL, assert_consistent, assert_valid_fits

pytest.importorskip("specpy.fit", reason="the fit session (specpy.fit) is not available")


def bead_scan(seed: int, fwhm: float, sample: str, started: str, size: int = 64, beads: int = 5) -> Stack:
    """Beads of a known FWHM (metres) on a 20 nm grid, Poisson counts."""
    rng = np.random.default_rng(seed)
    sigma = fwhm / PIXEL / FWHM_PER_SIGMA
    y, x = np.mgrid[0:size, 0:size]
    expected = np.full((size, size), 2.0)
    for cx, cy in rng.uniform(10, size - 10, (beads, 2)):
        expected += 400 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    stack = Stack(rng.poisson(expected).astype(np.uint16)[np.newaxis])
    stack.set_name(f"scan {seed}")
    stack.set_lengths([PIXEL * size, PIXEL * size, 1e-7])
    stack.set_offsets([0.0, 0.0, 0.0])
    for axis in range(3):
        stack.set_unit(axis, "m")
    for key, value in {"sample": sample, "instrument": "sim-rig", "started": started}.items():
        stack.set_tag(key, value)
    return stack


class FinishedMeasurement:
    """What the pipeline needs of a finished measurement (the engine's Measurement has the same two methods)."""

    def __init__(self, stacks: list[Stack]) -> None:
        self._stacks = stacks

    def number_of_stacks(self) -> int:
        return len(self._stacks)

    def stack(self, position: int) -> Stack:
        return self._stacks[position]


def test_measurement_end_to_query(store) -> None:
    sted = bead_scan(1, 50e-9, "beads-40nm", "2024-05-01T10:00:00")
    confocal = bead_scan(2, 250e-9, "beads-40nm", "2024-05-02T10:00:00")
    other = bead_scan(3, 55e-9, "tetraspeck", "2024-06-01T10:00:00")
    pipeline = Pipeline(store, {"roi": 9, "threshold": 5.0})
    outcomes = pipeline.on_measurement_end(FinishedMeasurement([sted, confocal, other]))
    assert [outcome.status for outcome in outcomes] == ["written"] * 3
    tasks = [pipeline.task_for(stack) for stack in (sted, confocal, other)]
    assert all(assert_consistent(store, tasks).values())
    for task in tasks:
        assert_valid_fits(store.root / "bead_fwhm" / task.key[:2] / f"bead_fwhm-{task.key}.fits", task.key)

    sharp = bead_scans(store, fwhm_below=parse_length("60 nm"))
    assert sorted(row["stack"] for row in sharp) == ["scan 1", "scan 3"]
    assert all(row["spots"] == 5 and row["converged"] >= 4 for row in sharp)
    assert sharp[0]["fwhm_median"] == pytest.approx(50e-9, rel=0.1)
    assert [row["stack"] for row in bead_scans(store, fwhm_below=60e-9, sample="beads-40nm")] == ["scan 1"]
    may = products(store, sample="beads-40nm", since=parse_time("2024-05-01"), until=parse_time("2024-05-02"))
    assert [row["stack"] for row in may] == ["scan 1"] and may[0]["started_at"] == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert len(products(store, instrument="sim-rig")) == 3 and products(store, instrument="other rig") == []

    results = Table.read(store.root / may[0]["path"], hdu="RESULTS")
    assert len(results) == 5 and str(results["fwhm_x"].unit) == "m"
    assert [outcome.status for outcome in pipeline.on_measurement_end(FinishedMeasurement([sted]))] == ["complete"]


def test_cli_upgrade_check_query(tmp_path, capsys: pytest.CaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    root = str(tmp_path / "products")
    assert main(["db", "--url", url, "check"]) == 1
    assert "specpy db upgrade" in capsys.readouterr().err
    assert main(["db", "--url", url, "upgrade"]) == 0
    from specpy.targets import Database

    with Database(url, root) as database:
        Pipeline(database, {"roi": 9}).run([bead_scan(4, 50e-9, "beads-40nm", "2024-05-01T10:00:00")])
    capsys.readouterr()
    assert main(["db", "--url", url, "--root", root, "check"]) == 0
    assert "consistent" in capsys.readouterr().out
    assert main(["db", "--url", url, "--root", root, "query", "beads", "--fwhm-below", "60 nm"]) == 0
    assert "1 beads" in capsys.readouterr().out
    assert main(["db", "--url", url, "--root", root, "query", "beads", "--fwhm-below", "sixty"]) == 1
    assert "not a length" in capsys.readouterr().err
    (tmp_path / "products" / "stray.fits").write_bytes(b"x")
    assert main(["db", "--url", url, "--root", root, "check"]) == 1
    assert main(["db", "--url", url, "--root", root, "check", "--repair"]) == 0
    assert "quarantined stray.fits" in capsys.readouterr().out
