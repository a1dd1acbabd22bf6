"""`specpy demo` end to end: rig, acquisitions, pipeline, STED-law fit, report, summary.

The demo writes its own rig file (a known bead sample and known optics) into the output
directory, runs every measurement through `get_application(...)` with the bead pipeline
attached, fits the STED law to the recorded FWHMs, compares d0 and Psat with the rig file's
truth, and writes the PNG report and `summary.json` next to the .obf files and the database.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..errors import ValidationError
from .acquisition import Acquired, Plan, acquire_all
from .analysis import PlaneRow, PowerPoint, StedLawFit, bead_fwhms, by_plane, by_power, fit_sted_law
from .applications import open_application
from .progress import Progress
from .records import DATABASE_NAME, fitted_spots, make_pipeline, open_database
from .rig import Truth, read_truth, write_rig
from .service import SERVICE_LOG

REPORT_NAME = "specpy-demo.png"
SUMMARY_NAME = "summary.json"
RIG_NAME = "rig.toml"
SERVICE_DATA = "service"  # the service's data directory (SPECPY_DATA: autosaves, its log) in the output directory


@dataclass(frozen=True)
class DemoOptions:
    """The demo's options: output directory, local or service application, seed, and the tolerance it reports."""

    out: Path = Path("specpy-demo")
    local: bool = False
    seed: int = 1
    tolerance: float = 0.05

    def __post_init__(self) -> None:
        """Refuse options the demo cannot honour."""
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValidationError(f"the seed must be an integer >= 0, not {self.seed!r}")
        if not 0 < self.tolerance < 1:
            raise ValidationError(f"the tolerance is a fraction between 0 and 1, not {self.tolerance!r}")


@dataclass
class DemoResult:
    """Everything the report and the summary show."""

    truth: Truth
    plan: Plan
    fit: StedLawFit
    points: list[PowerPoint]
    beads: dict[str, np.ndarray]  # power, fwhm, fwhm_err per converged bead of the STED series
    frames: dict[str, np.ndarray]  # name -> a 2D frame (numpy order y, x)
    z_planes: list[PlaneRow]
    time_planes: list[PlaneRow]
    files: dict[str, Path] = field(default_factory=dict)
    database: dict[str, Any] = field(default_factory=dict)
    host: str = ""  # where the application ran: get_application's host ('' : in this process)
    elapsed: float = 0.0


def _sted_beads(acquired: Acquired, pipeline: Any) -> dict[str, np.ndarray]:
    """Power, FWHM and FWHM error of every converged bead of the STED series, from the recorded products."""
    power, fwhm, error = [], [], []
    for stack, value in zip(acquired.stacks, acquired.powers):
        widths, errors, _ = bead_fwhms(fitted_spots(pipeline, stack))
        power.append(np.full(widths.size, value))
        fwhm.append(widths)
        error.append(errors)
    return {"power": np.concatenate(power), "fwhm": np.concatenate(fwhm), "fwhm_err": np.concatenate(error)}


def _frames(acquired: Acquired) -> dict[str, np.ndarray]:
    """The frames at the lowest and the highest STED power (stack name -> frame), for the report."""
    order = np.argsort(acquired.powers)
    return {acquired.stacks[i].name(): np.asarray(acquired.stacks[i].data()[0, 0]) for i in (order[0], order[-1])}


def analyse(acquired: list[Acquired], pipeline: Any, truth: Truth, plan: Plan) -> DemoResult:
    """Fit the STED law to the recorded FWHMs and summarise the z-stack and the time series."""
    runs = {item.kind: item for item in acquired}
    beads = _sted_beads(runs["sted_series"], pipeline)
    fit = fit_sted_law(beads["power"], beads["fwhm"], beads["fwhm_err"], truth.bead_fwhm)
    z_planes = by_plane(fitted_spots(pipeline, runs["z_stack"].stacks[0]), "z_index", plan.z_slices)
    time_planes = by_plane(fitted_spots(pipeline, runs["time_series"].stacks[0]), "t_index", plan.time_points)
    points = by_power(beads["power"], beads["fwhm"], beads["fwhm_err"])
    return DemoResult(truth, plan, fit, points, beads, _frames(runs["sted_series"]), z_planes, time_planes,
                      files={item.kind: item.path for item in acquired})


def _database_facts(database: Any) -> dict[str, Any]:
    """What the demo's database holds and whether its products agree with its rows."""
    from ..targets import bead_scans, products
    from ..targets.check import check

    findings = check(database)
    return {"url": database.safe_url, "products_root": str(database.root), "products": len(products(database)),
            "bead_scans": len(bead_scans(database)), "problems": [str(f) for f in findings]}


def run_demo(options: DemoOptions, stream: TextIO | None = None) -> int:
    """Run the whole demo; print the summary to `stream` (stdout) and return the exit status (0: done)."""
    from drivers.rig import default_rig_path

    from .report import require_matplotlib, write_report
    from .summary import print_summary, write_summary

    require_matplotlib()  # before anything runs: the report is part of the job
    started = time.monotonic()
    stream = stream if stream is not None else sys.stdout
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    rig = write_rig(out / RIG_NAME, default_rig_path(), options.seed)
    truth, plan, progress = read_truth(rig), Plan(), Progress()
    try:
        result = _acquire_and_analyse(out, rig, truth, plan, progress, options.local)
        progress.stage("writing the report")
        result.files.update(rig=rig, database=out / DATABASE_NAME, products=out / "products",
                            report=write_report(result, out / REPORT_NAME), summary=out / SUMMARY_NAME)
    finally:
        progress.finish()
    result.elapsed = time.monotonic() - started
    write_summary(result, options.tolerance, result.files["summary"])
    print_summary(result, options.tolerance, stream)
    return 0 if not result.database["problems"] else 1


def _acquire_and_analyse(out: Path, rig: Path, truth: Truth, plan: Plan, progress: Progress, local: bool) -> DemoResult:
    """Run the measurements with the pipeline attached, then analyse what it recorded."""
    database = open_database(out)
    try:
        pipeline = make_pipeline(database, plan, progress)
        stage = "starting the simulated rig" + ("" if local else ", the broker and the service on loopback")
        progress.stage(stage)
        with open_application(rig, local, out / SERVICE_DATA) as application:
            callback = pipeline.attach(application)
            try:
                acquired = acquire_all(application, plan, out, progress)
            finally:
                application.disconnect_end(callback, 0)
            result = analyse(acquired, pipeline, truth, plan)  # while remote stacks can still be read
            result.host = application.host()
        if not local:
            result.files["service_log"] = out / SERVICE_DATA / SERVICE_LOG
        result.database = _database_facts(database)
    finally:
        database.close()
    return result
