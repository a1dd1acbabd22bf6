"""The galvo scan controller: raster, dwell, parked beam, INIT of a frame (SCPI over TCP)."""

from __future__ import annotations

import dataclasses

from device_sim.commands import CommandError
from device_sim.faults import Faults
from device_sim.instruments.pixel_clock import PixelClock
from device_sim.scpi import ScpiDevice
from device_sim.world import Raster, World


class Scanner(ScpiDevice):
    """A frame runs for nx * ny * dwell simulated seconds; its pixel clock drives the counter."""

    TABLE = "scanner"

    def __init__(self, world: World, clock_out: PixelClock, faults: Faults | None = None) -> None:
        """Power-on raster; frames are announced on `clock_out`."""
        self.settings = Raster()
        self.clock_out = clock_out
        self.frame_end = 0.0
        super().__init__(world, faults)

    def scanning(self) -> bool:
        """True while a frame runs."""
        return self.world.clock.now() < self.frame_end

    def require_idle(self) -> None:
        """Settings cannot change while a frame runs."""
        if self.scanning():
            raise CommandError("settings_conflict", "scan running")

    def write_field(self, name: str, value: object) -> None:
        """Change a raster setting; refused while a frame runs."""
        self.require_idle()
        setattr(self.settings, name, value)

    def do_init(self, _: None) -> None:
        """INITiate: start one frame now."""
        if self.scanning():
            raise CommandError("init_ignored", "scan running")
        now = self.world.clock.now()
        self.frame_end = now + self.settings.duration
        self.clock_out.frame(dataclasses.replace(self.settings), now)

    def do_abort(self, _: None) -> None:
        """ABORt: stop the frame in progress."""
        now = self.world.clock.now()
        if now < self.frame_end:
            self.frame_end = now
            self.clock_out.abort(now)

    def q_state(self) -> str:
        """SCAN:STATe?: SCANNING or IDLE."""
        return "SCANNING" if self.scanning() else "IDLE"

    def q_frame_time(self) -> float:
        """SCAN:FRAMe:TIME?: the frame duration in seconds."""
        return self.settings.duration

    def q_clock(self) -> float:
        """SCAN:CLOCk:FREQuency?: the pixel clock in Hz."""
        return 1.0 / self.settings.dwell

    def q_beam_x(self) -> float:
        """SCAN:POSition:X?: the parked beam, metres from the axis."""
        return self.world.beam[0]

    def q_beam_y(self) -> float:
        """SCAN:POSition:Y?: the parked beam, metres from the axis."""
        return self.world.beam[1]

    def do_beam_x(self, x: float) -> None:
        """SCAN:POSition:X: park the beam (refused while scanning)."""
        self.require_idle()
        self.world.beam = (x, self.world.beam[1])

    def do_beam_y(self, y: float) -> None:
        """SCAN:POSition:Y: park the beam (refused while scanning)."""
        self.require_idle()
        self.world.beam = (self.world.beam[0], y)

    def busy_until(self) -> float:
        """*OPC? waits for the end of the frame."""
        return self.frame_end

    def reset(self) -> None:
        """*RST: abort, default raster, beam parked on the axis."""
        self.do_abort(None)
        self.settings = Raster()
        self.world.beam = (0.0, 0.0)
