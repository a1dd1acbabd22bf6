"""The demo's PNG report: frames, the FWHM histogram, the resolution curve with the fitted STED law, the z profile."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import Error
from .analysis import sted_law

if TYPE_CHECKING:
    from .run import DemoResult

NM, MW = 1e9, 1e3


class ReportUnavailableError(Error, ImportError):
    """The PNG report needs matplotlib (the `plot` extra)."""


def require_matplotlib() -> Any:
    """The matplotlib module, or a clear error naming the extra to install (checked before the demo starts)."""
    try:
        import matplotlib
    except ImportError:
        raise ReportUnavailableError("the demo's PNG report needs matplotlib: pip install 'specpy-hil[plot]' "
                                     "(from a checkout: pip install -e '.[plot]')") from None
    return matplotlib


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend."""
    require_matplotlib().use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def _frames(axes: list[Any], result: DemoResult) -> None:
    """The confocal and the highest-STED frames, in counts, on a common scale bar of micrometres."""
    extent_um = result.plan.field * 1e6 / 2
    for ax, (title, frame) in zip(axes, result.frames.items()):
        image = ax.imshow(frame, cmap="magma", origin="lower", extent=(-extent_um, extent_um, -extent_um, extent_um))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x [um]")
        ax.set_ylabel("y [um]")
        ax.figure.colorbar(image, ax=ax, label="counts", shrink=0.8)


def _histogram(ax: Any, result: DemoResult) -> None:
    """The per-bead FWHMs, one histogram per STED power."""
    beads = result.beads
    bins = np.arange(np.floor(beads["fwhm"].min() * NM) - 2, np.ceil(beads["fwhm"].max() * NM) + 3, 1.0)
    for point in result.points:
        at = beads["power"] == point.power
        ax.hist(beads["fwhm"][at] * NM, bins=bins, alpha=0.7, label=f"{point.power * MW:g} mW")
    ax.set_xlabel("bead FWHM [nm]")
    ax.set_ylabel("beads")
    ax.set_title("FWHM of every fitted bead", fontsize=9)
    ax.legend(fontsize=7, title="STED power", title_fontsize=7)


def _resolution_curve(ax: Any, result: DemoResult) -> None:
    """Beads, per-power means and the fitted law against the true law."""
    beads, fit, truth = result.beads, result.fit, result.truth
    ax.errorbar(beads["power"] * MW, beads["fwhm"] * NM, yerr=beads["fwhm_err"] * NM, fmt=".", color="0.6",
                alpha=0.5, label="beads")
    ax.errorbar([p.power * MW for p in result.points], [p.fwhm * NM for p in result.points],
                yerr=[p.fwhm_err * NM for p in result.points], fmt="o", color="C0", label="weighted mean")
    power = np.linspace(0, beads["power"].max() * 1.05, 200)
    ax.plot(power * MW, fit.predict(power, truth.bead_fwhm) * NM, color="C3",
            label=f"fit: d0 = {fit.d0 * NM:.1f} nm, Psat = {fit.psat * MW:.2f} mW")
    ax.plot(power * MW, sted_law(power, truth.d0, truth.psat, truth.bead_fwhm) * NM, "k--", lw=1,
        label=f"truth: d0 = {truth.d0 * NM:.0f} nm, Psat = {truth.psat * MW:.2f} mW")
    ax.set_xlabel("STED power [mW]")
    ax.set_ylabel("FWHM [nm]")
    ax.set_title("resolution: d = d0 / sqrt(1 + P/Psat)", fontsize=9)
    ax.legend(fontsize=7)


def _z_profile(ax: Any, result: DemoResult) -> None:
    """The z-stack: total bead counts and median FWHM per slice."""
    plan = result.plan
    z = [(row.index - (plan.z_slices - 1) / 2) * plan.z_step * 1e6 for row in result.z_planes]
    ax.plot(z, [row.counts for row in result.z_planes], "o-", color="C2")
    ax.set_xlabel("z [um]")
    ax.set_ylabel("fitted bead counts", color="C2")
    twin = ax.twinx()
    twin.plot(z, [row.fwhm_median * NM for row in result.z_planes], "s--", color="C4")
    twin.set_ylabel("median FWHM [nm]", color="C4")
    twin.set_ylim(0, 1.3 * max([row.fwhm_median * NM for row in result.z_planes if row.beads] + [1.0]))
    ax.set_title(f"z-stack at {plan.z_power * MW:g} mW", fontsize=9)


def write_report(result: DemoResult, path: Path) -> Path:
    """Write the report PNG and return its path."""
    pyplot = _pyplot()
    figure = pyplot.figure(figsize=(15, 9), layout="constrained")
    grid = figure.add_gridspec(2, 3)
    _frames([figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])], result)
    _histogram(figure.add_subplot(grid[0, 2]), result)
    _resolution_curve(figure.add_subplot(grid[1, :2]), result)
    _z_profile(figure.add_subplot(grid[1, 2]), result)
    figure.suptitle("specpy demo: beads on the simulated STED rig, acquired, fitted and recorded")
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path
