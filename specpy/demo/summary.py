"""The demo's summary: a short table on the terminal and the same facts as JSON (`summary.json`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .analysis import deviation

if TYPE_CHECKING:
    from .run import DemoResult

NM, MW = 1e9, 1e3


def summary_facts(result: DemoResult, tolerance: float) -> dict[str, Any]:
    """The summary as plain JSON values (SI units: m, W, s)."""
    fit, truth = result.fit, result.truth
    deviations = {"d0": deviation(fit.d0, truth.d0), "psat": deviation(fit.psat, truth.psat)}
    z_step, z_slices = result.plan.z_step, result.plan.z_slices

    def finite(value: float) -> float | None:
        return value if math.isfinite(value) else None

    return {
        "truth": {"d0": truth.d0, "psat": truth.psat, "bead_radius": truth.bead_radius, "beads": truth.beads},
        "fit": {"d0": fit.d0, "d0_err": fit.d0_err, "psat": fit.psat, "psat_err": fit.psat_err,
                "chi2": fit.chi2, "dof": fit.dof},
        "deviation": deviations,
        "tolerance": tolerance,
        "within_tolerance": all(abs(value) <= tolerance for value in deviations.values()),
        "sted_series": [{"power": p.power, "beads": p.beads, "fwhm": p.fwhm, "fwhm_err": p.fwhm_err,
                         "spread": p.spread, "law": float(fit.predict(p.power, truth.bead_fwhm))} for p in result.points],
        "z_stack": [{"z": (row.index - (z_slices - 1) / 2) * z_step, "beads": row.beads,
                     "fwhm_median": finite(row.fwhm_median), "counts": row.counts} for row in result.z_planes],
        "time_series": [{"t_index": row.index, "beads": row.beads, "fwhm_median": finite(row.fwhm_median),
                         "counts": row.counts} for row in result.time_planes],
        "application": {"mode": "service" if result.host else "local", "host": result.host},
        "database": result.database,
        "files": {name: str(path.resolve()) for name, path in result.files.items()},
        "elapsed": result.elapsed,
    }


def write_summary(result: DemoResult, tolerance: float, path: Path) -> Path:
    """Write the summary facts as JSON."""
    path.write_text(json.dumps(summary_facts(result, tolerance), indent=2) + "\n", encoding="utf-8")
    return path


def _fmt(value: float | None, scale: float, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def print_summary(result: DemoResult, tolerance: float, stream: TextIO) -> None:
    """Print the resolution curve, the recovered STED law against the truth, and where everything is."""
    facts = summary_facts(result, tolerance)

    def write(line: str = "") -> None:
        print(line, file=stream)

    write("STED power series (beads fitted per frame; FWHM = weighted mean over beads)")
    write(f"  {'P [mW]':>8}  {'beads':>5}  {'FWHM [nm]':>12}  {'spread [nm]':>11}  {'law [nm]':>8}")
    for row in facts["sted_series"]:
        write(f"  {row['power'] * MW:8.2f}  {row['beads']:5d}  {_fmt(row['fwhm'], NM):>6} +- {_fmt(row['fwhm_err'], NM):>3}"
              f"  {_fmt(row['spread'], NM):>11}  {_fmt(row['law'], NM):>8}")
    fit, truth, dev = facts["fit"], facts["truth"], facts["deviation"]
    write()
    write(f"STED law d = d0 / sqrt(1 + P/Psat), fitted to {fit['dof'] + 2} beads (chi2/dof = {fit['chi2'] / max(fit['dof'], 1):.2f})")
    write(f"  {'':5}  {'recovered':>18}  {'truth':>9}  {'deviation':>9}")
    write(f"  {'d0':5}  {_fmt(fit['d0'], NM)} +- {_fmt(fit['d0_err'], NM)} nm  {_fmt(truth['d0'], NM):>6} nm  {dev['d0']:+9.2%}")
    write(f"  {'Psat':5}  {_fmt(fit['psat'], MW, 2)} +- {_fmt(fit['psat_err'], MW, 2)} mW  {_fmt(truth['psat'], MW, 2):>6} mW  {dev['psat']:+9.2%}")
    verdict = "within" if facts["within_tolerance"] else "NOT within"
    write(f"  {verdict} {tolerance:.0%} of the simulator's truth")
    write()
    focus = max(facts["z_stack"], key=lambda row: row["counts"])
    write(f"z-stack: {len(facts['z_stack'])} slices, brightest at z = {focus['z'] * 1e6:+.2f} um "
          f"({focus['beads']} beads, median FWHM {_fmt(focus['fwhm_median'], NM)} nm)")
    widths = [row["fwhm_median"] for row in facts["time_series"] if row["fwhm_median"] is not None]
    write(f"time series: {len(facts['time_series'])} frames, median FWHM {_fmt(min(widths, default=None), NM)}"
          f"..{_fmt(max(widths, default=None), NM)} nm")
    database = facts["database"]
    state = "consistent" if not database["problems"] else f"{len(database['problems'])} problem(s)"
    write(f"database: {database['products']} products and {database['bead_scans']} bead scans in all, {state}")
    write()
    files = facts["files"]
    write(f"measurements (.obf): {files['sted_series']}")
    write(f"                     {files['z_stack']}")
    write(f"                     {files['time_series']}")
    write(f"database:            {files['database']}   (specpy db --url {database['url']} --root {files['products']} check)")
    write(f"products (FITS):     {files['products']}")
    write(f"report (PNG):        {files['report']}")
    write(f"summary (JSON):      {files['summary']}")
    write(f"rig file (truth):    {files['rig']}")
    if "service_log" in files:
        write(f"service log:         {files['service_log']}   (the job ran through get_application({result.host!r}))")
    write(f"done in {result.elapsed:.1f} s")
