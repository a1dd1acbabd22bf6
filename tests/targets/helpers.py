"""Shared test material: small bead stacks, a fit-free analysis, fork-based worker processes, invariant checks."""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from sqlalchemy import func, select

from specpy import Stack
from specpy.targets import Database, Task
from specpy.targets.analysis import BeadAnalysis, render
from specpy.targets.models import BeadSummary, Product, RunOutput, SpotFit, TaskRun
from specpy.targets.pipeline import Pipeline
from specpy.targets.target import product_matches

PIXEL = 20e-9
FORK = multiprocessing.get_context("fork")


def bead_stack(seed: int, size: int = 32, beads: int = 3, sample: str = "beads-40nm", started: str = "2024-05-01T10:00:00") -> Stack:
    """A 2D bead scan as a 1 x size x size uint16 stack in metres, with sample, instrument and start time."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    expected = np.full((size, size), 3.0)
    for cx, cy in rng.uniform(6, size - 6, (beads, 2)):
        expected += 80 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1.3**2))
    stack = Stack(rng.poisson(expected).astype(np.uint16)[np.newaxis])
    stack.set_name(f"beads-{seed}")
    stack.set_lengths([PIXEL * size, PIXEL * size, 1e-7])
    for axis in range(3):
        stack.set_unit(axis, "m")
    stack.set_tag("sample", sample)
    stack.set_tag("instrument", "sim-rig")
    stack.set_tag("started", started)
    stack.set_parameters("scan/dwell_time", 10e-6)
    return stack


def fake_analysis(stack: Stack, parameters: dict) -> BeadAnalysis:
    """A deterministic, fit-free analysis of a bead stack (for protocol tests that need no real fit)."""
    rng = np.random.default_rng(int(stack.data().sum()))
    count = 3
    spots = Table({
        "x": rng.uniform(5, 25, count), "x_err": np.full(count, 0.05), "y": rng.uniform(5, 25, count),
        "y_err": np.full(count, 0.05), "norm": np.full(count, 900.0), "norm_err": np.full(count, 30.0),
        "fwhm_x": rng.uniform(2.5, 3.5, count), "fwhm_x_err": np.full(count, 0.1), "fwhm_y": rng.uniform(2.5, 3.5, count),
        "fwhm_y_err": np.full(count, 0.1), "bg": np.full(count, 3.0), "bg_err": np.full(count, 0.1),
        "status": np.zeros(count, int), "cstat": np.full(count, 40.0)})
    image = render(spots, stack.data().shape[1:], 3.0)[np.newaxis]
    for column in ("x", "x_err", "y", "y_err", "fwhm_x", "fwhm_x_err", "fwhm_y", "fwhm_y_err"):
        spots[column] = spots[column] * PIXEL
        spots[column].unit = "m"
    return BeadAnalysis(spots, image, np.full(image.shape, 3.0), "m")


def fake_pipeline(database: Database) -> Pipeline:
    """The pipeline with the fit-free analysis."""
    return Pipeline(database, {"roi": 7}, analyse=fake_analysis)


def in_child(function: Callable[..., object], *args: object) -> multiprocessing.Process:
    """Start `function(*args)` in a forked process; exit code 0 on success, 1 with a traceback on error."""

    def body() -> None:
        try:
            function(*args)
        except BaseException:  # noqa: BLE001 - report anything, then die with a failure code
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)

    process = FORK.Process(target=body, daemon=True)
    process.start()
    return process


def stop(processes: list[multiprocessing.Process], timeout: float = 60.0) -> list[int | None]:
    """Join every process (killing any still alive after `timeout`); returns their exit codes."""
    for process in processes:
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
    return [process.exitcode for process in processes]


def assert_valid_fits(path: Path, key: str) -> None:
    """The file is a complete FITS product of task `key` whose every HDU checksum verifies."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # astropy reports checksum failures as warnings
        with fits.open(path, checksum=True) as hdus:
            assert hdus[0].header["TASKKEY"] == key
            assert [hdu.name for hdu in hdus][-3:] == ["RESULTS", "PARAMETERS", "INPUTS"]
            for hdu in hdus:
                assert hdu.verify_checksum() == 1 and hdu.verify_datasum() == 1, (path, hdu.name)
    assert not [str(warning.message) for warning in caught if "checksum" in str(warning.message).lower()], path


def assert_consistent(database: Database, tasks: list[Task]) -> dict[str, bool]:
    """For each task: any file at its product path is a complete product; a complete run has all rows and its file.

    Returns key -> complete.
    """
    from specpy.targets import AstraSource

    state = {}
    with database.session() as session:
        for task in tasks:
            path = AstraSource(task, database.root).path
            if path.exists():
                assert_valid_fits(path, task.key)
            run = session.execute(select(TaskRun).where(TaskRun.key == task.key)).scalar_one_or_none()
            markers = [] if run is None else session.execute(select(RunOutput).where(RunOutput.run_id == run.id)).scalars().all()
            if run is None or run.status != "complete":
                state[task.key] = False
                continue
            assert {marker.target for marker in markers} == {"bead_summary", "spot_fit"}, "a complete run lacks a table"
            for marker in markers:
                product = session.get(Product, marker.product_id)
                assert product is not None and product_matches(database.root, product), f"complete row without its file: {task.key}"
                model = {"bead_summary": BeadSummary, "spot_fit": SpotFit}[marker.target]
                rows = session.execute(select(func.count()).select_from(model).where(model.run_id == run.id)).scalar_one()
                assert rows == marker.rows
            state[task.key] = True
    return state
