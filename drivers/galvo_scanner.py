"""The galvo scan controller (SCPI over TCP): raster size, pixel size, field offset, dwell; one frame per start()."""

from __future__ import annotations

from typing import Any

from specpy.tree import Bool, Float, Int

from .control import Control
from .scpi import ScpiInstrument
from .waiting import poll_until

_PIXELS = Int(min=1, max=4096, description="pixels along the axis")
_PSIZE = Float(unit="m", min=1e-9, max=1e-5, description="pixel size")
_OFFSET = Float(unit="m", min=-100e-6, max=100e-6, description="field centre from the optical axis")
_BEAM = Float(unit="m", min=-100e-6, max=100e-6, description="parked beam position")


class GalvoScanner(ScpiInstrument):
    """A galvo scan controller with a pixel clock (SCPI SCAN:* commands); its frames clock the photon counter."""

    RESOURCE_KINDS = ("visa",)
    PARAMETERS = {
        "pixels": {
            "x": Control(_PIXELS, get="SCAN:X:PIX?", set="SCAN:X:PIX {}"),
            "y": Control(_PIXELS, get="SCAN:Y:PIX?", set="SCAN:Y:PIX {}"),
        },
        "pixel_size": {
            "x": Control(_PSIZE, get="SCAN:X:PSIZ?", set="SCAN:X:PSIZ {}"),
            "y": Control(_PSIZE, get="SCAN:Y:PSIZ?", set="SCAN:Y:PSIZ {}"),
        },
        "offset": {
            "x": Control(_OFFSET, get="SCAN:X:OFFS?", set="SCAN:X:OFFS {}"),
            "y": Control(_OFFSET, get="SCAN:Y:OFFS?", set="SCAN:Y:OFFS {}"),
        },
        "dwell_time": Control(Float(unit="s", min=1e-7, max=1e-2, description="pixel dwell"),
                              get="SCAN:DWEL?", set="SCAN:DWEL {}"),
    }
    STATES = {
        "scanning": Control(Bool(read_only=True), get="SCAN:STAT?", wire={True: "SCANNING", False: "IDLE"}),
        "beam": {
            "x": Control(_BEAM, get="SCAN:POS:X?", set="SCAN:POS:X {}"),
            "y": Control(_BEAM, get="SCAN:POS:Y?", set="SCAN:POS:Y {}"),
        },
        "pixel_clock": Control(Float(unit="Hz", read_only=True), get="SCAN:CLOC?"),
    }

    def configure(self, nx: int, ny: int, pixel_x: Any, pixel_y: Any, offset_x: Any = 0.0, offset_y: Any = 0.0,
                  dwell: Any = 10e-6) -> None:
        """Set the whole raster in one validated multi-set: every value is checked before any is sent."""
        self.parameters.set("", {
            "pixels": {"x": nx, "y": ny}, "pixel_size": {"x": pixel_x, "y": pixel_y},
            "offset": {"x": offset_x, "y": offset_y}, "dwell_time": dwell,
        })

    def start(self) -> None:
        """Start one frame now (INIT); its pixel clock gates the photon counter. DeviceError if one is running."""
        self.execute("INIT")

    def abort(self) -> None:
        """Stop the frame in progress (ABOR)."""
        self.execute("ABOR")

    def frame_time(self) -> float:
        """The frame duration in s as the controller computes it (nx * ny * dwell)."""
        return float(self.ask("SCAN:FRAM:TIME?", idempotent=True))

    def expected_frame_time(self) -> float:
        """The frame duration in s from the settings last set or read (no instrument round trip)."""
        get = self.parameters.get
        return get("pixels/x") * get("pixels/y") * get("dwell_time")

    def is_scanning(self) -> bool:
        """Whether a frame runs now (a live reading)."""
        return bool(self.states.read("scanning"))

    def wait_until_idle(self, timeout: float | None = None) -> None:
        """Block until the frame in progress ends; WaitTimeout after `timeout` s (default: frame time + timeout)."""
        if timeout is None:
            timeout = self.expected_frame_time() + self.options["timeout"]
        poll_until(self.name, "idle", lambda: (not self.is_scanning(), "scanning"), timeout)
