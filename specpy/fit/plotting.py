"""plot(): a headless PNG of data, model and residuals (matplotlib is an optional extra)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import Error

if TYPE_CHECKING:
    from .session import Session


class PlotUnavailableError(Error, ImportError):
    """plot() was called without matplotlib installed."""


def plot_fit(session: "Session", path: str | os.PathLike, ins: int, item: int) -> None:
    """Write data, model and residuals of one item of data set ins to a PNG file."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError as error:
        raise PlotUnavailableError("plot() needs matplotlib: pip install 'specpy-hil[plot]'") from error
    ds = session.dataset.get(ins)
    if not 0 <= item < ds.n_items:
        raise IndexError(f"item {item} does not exist; data set {ins} has items 0..{ds.n_items - 1}")
    counts, model = ds.counts[item], session.asc.model(ins)[item]
    residual = counts - model
    figure = Figure(figsize=(12, 4))
    axes = figure.subplots(1, 3)
    if counts.ndim == 1:
        x = ds.grid.axes[0][min(item, ds.grid.axes[0].shape[0] - 1)]
        axes[0].plot(x, counts, ".", label="data")
        axes[0].plot(x, model, "-", label="model")
        axes[0].legend()
        axes[1].plot(x, model, "-")
        axes[2].plot(x, residual, ".")
        axes[2].axhline(0.0, color="k", lw=0.5)
    else:
        planes = [counts, model, residual]
        if counts.ndim > 2:
            planes = [p.sum(axis=tuple(range(p.ndim - 2))) for p in planes]
        for ax, plane in zip(axes, planes):
            image = ax.imshow(plane, origin="lower")
            figure.colorbar(image, ax=ax)
    for ax, title in zip(axes, ("data", "model", "data - model")):
        ax.set_title(title)
    figure.suptitle(f"{ds.name}, item {item}")
    figure.savefig(os.fspath(path), format="png", dpi=80)
