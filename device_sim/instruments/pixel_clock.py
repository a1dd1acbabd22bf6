"""The scanner's pixel-clock line to the photon counter: frame starts and aborts."""

from __future__ import annotations

from collections.abc import Callable

from device_sim.world import Raster


class PixelClock:
    """Fan-out of the scanner's frames to whatever is wired to its pixel-clock output."""

    def __init__(self) -> None:
        """No listeners yet."""
        self._frame: list[Callable[[Raster, float], None]] = []
        self._abort: list[Callable[[float], None]] = []

    def connect(self, on_frame: Callable[[Raster, float], None], on_abort: Callable[[float], None]) -> None:
        """Wire a counter input: called with (raster, start time) and with the abort time."""
        self._frame.append(on_frame)
        self._abort.append(on_abort)

    def frame(self, raster: Raster, t_start: float) -> None:
        """A frame starts: one clock tick per pixel every raster.dwell from t_start."""
        for listener in self._frame:
            listener(raster, t_start)

    def abort(self, t: float) -> None:
        """The frame stopped at simulated time t: no ticks after it."""
        for listener in self._abort:
            listener(t)
