"""The demo's targets: the analysis database in the output directory, the pipeline, and its results read back.

Every finished measurement goes through `specpy.targets.Pipeline` (attached to the application):
one FITS product and rows per stack. The demo reads each stack's fitted spots back from its
product, so the resolution curve is built from what was recorded, not from a side channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from astropy.table import Table

from ..errors import Error
from ..stack import Stack
from .acquisition import Plan
from .progress import FITTED, Progress

DATABASE_NAME = "specpy-demo.db"
NOMINAL_FWHM = 250e-9  # m: what a lab knows of its confocal resolution; sets the fit window


def database_url(out: Path) -> str:
    """The SQLite URL of the demo's database in `out`."""
    return f"sqlite:///{(out / DATABASE_NAME).resolve()}"


def open_database(out: Path) -> Any:
    """Create or migrate the demo's database, then open it with its products under `<out>/products`."""
    from ..targets import Database, upgrade_database

    url = database_url(out)
    upgrade_database(url)
    return Database(url, root=out / "products")


def analysis_parameters(plan: Plan) -> dict[str, Any]:
    """The bead analysis for the demo's frames: a fit window of about twice the confocal FWHM."""
    # The simulator samples the PSF at pixel centres (device_sim.optics), so the Gaussian is evaluated
    # there too (integrate=False; the pixel-integrated model would bias the FWHM low by up to 2 % at
    # 3 pixels FWHM). The finder smooths and separates spots on the scale of the PSF.
    fwhm_pixels = NOMINAL_FWHM / plan.pixel
    return {"roi": 2 * round(fwhm_pixels) + 1, "model": "gauss2d", "stat": "cstat", "integrate": False,
            "threshold": 5.0, "sigma": max(1.0, fwhm_pixels / 5), "min_distance": max(2, round(fwhm_pixels / 2)),
            "background_size": 3 * round(fwhm_pixels) + 1}


def counted_analysis(progress: Progress) -> Any:
    """The default bead analysis, counting each stack's x-y planes as fitted frames."""
    from ..targets.analysis import analyse_beads

    def analyse(stack: Stack, parameters: Mapping[str, Any]) -> Any:
        result = analyse_beads(stack, parameters)
        progress.advance(FITTED, stack.data().size // (stack.size(0) * stack.size(1)))
        return result

    return analyse


def make_pipeline(database: Any, plan: Plan, progress: Progress) -> Any:
    """The bead pipeline with the demo's analysis parameters, writing into `database`."""
    from ..targets import Pipeline

    return Pipeline(database, analysis_parameters(plan), analyse=counted_analysis(progress))


def fitted_spots(pipeline: Any, stack: Stack) -> Table:
    """The spots the pipeline recorded for `stack`, read from its FITS product; raises if it did not complete."""
    from sqlalchemy import select

    from ..targets import AstraSource
    from ..targets.models import TaskRun
    from ..targets.pipeline import complete

    task = pipeline.task_for(stack)
    if not complete(pipeline.database, task):
        with pipeline.database.session() as session:
            error = session.execute(select(TaskRun.error).where(TaskRun.key == task.key)).scalar_one_or_none()
        raise Error(f"the pipeline did not complete stack {stack.name()!r} (task {task.key[:12]}): "
                    f"{error or 'no run was recorded; was the pipeline attached?'}")
    return Table.read(AstraSource(task, pipeline.database.root).path, hdu="RESULTS")
