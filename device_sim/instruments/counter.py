"""The photon counter: arm for N samples, trigger (scanner pixel clock or *TRG), fetch the
counts as an IEEE 488.2 definite-length block of little-endian unsigned integers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from device_sim.commands import CommandError
from device_sim.faults import Faults
from device_sim.instruments.counts import Chunk
from device_sim.instruments.pixel_clock import PixelClock
from device_sim.scpi import ScpiDevice
from device_sim.streamed import Streamed
from device_sim.world import Raster, World

WIRE_TYPES = {"UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4")}
TRIGGER_WAIT = 10.0  # real seconds FETCh? waits for the trigger of an armed counter


@dataclass
class CounterSettings:
    """Samples per acquisition, trigger source, gate time for BUS triggers, data format."""

    samples: int = 1
    source: str = "EXTERNAL"
    gate: float = 1e-3
    format: str = "UINT32"


def to_wire(counts: np.ndarray, wire: np.dtype) -> np.ndarray:
    """Counts as the wire's integers, saturating at the largest (one max() pass decides: a clip costs ~4x a cast)."""
    limit = np.iinfo(wire).max
    if counts.size and counts.max() > limit:
        counts = np.minimum(counts, limit)
    return counts.astype(wire)


class Counter(ScpiDevice):
    """States: IDLE -> (INIT) ARMED -> (pixel clock or *TRG) RUNNING -> DONE at t_done."""

    TABLE = "counter"

    def __init__(self, world: World, clock_in: PixelClock, faults: Faults | None = None) -> None:
        """Wire the counter's gate input to the scanner's pixel clock."""
        self.settings = CounterSettings()
        self._reset_acquisition()
        super().__init__(world, faults)
        self.triggered = threading.Condition(self.lock)
        self.undrawn: list[Chunk] = []  # triggered counts whose noise is not all drawn yet, oldest first
        clock_in.connect(self.on_frame, self.on_abort)

    def _reset_acquisition(self) -> None:
        self.state = "IDLE"
        self.chunks: list[Chunk] = []
        self.collected = 0
        self.t_done = 0.0

    def done(self) -> bool:
        """True once a triggered acquisition has all its samples and its last gate has closed."""
        return self.state == "RUNNING" and self.collected >= self.settings.samples \
            and self.world.clock.now() >= self.t_done

    def acquiring(self) -> bool:
        """Armed, or triggered and not done."""
        return self.state in {"ARMED", "RUNNING"} and not self.done()

    def write_field(self, name: str, value: object) -> None:
        """Change a setting; refused while acquiring (the data of a finished one stays)."""
        if self.acquiring():
            raise CommandError("settings_conflict", f"counter {self.state.lower()}")
        setattr(self.settings, name, value)

    def do_init(self, _: None) -> None:
        """INITiate: arm for `samples` samples and wait for the trigger."""
        if self.acquiring():
            raise CommandError("init_ignored", f"counter {self.state.lower()}")
        self._reset_acquisition()
        self.state = "ARMED"

    def do_abort(self, _: None) -> None:
        """ABORt: disarm and drop any data."""
        self._reset_acquisition()

    def do_trigger(self, _: None) -> None:
        """*TRG / TRIGger: with source BUS, count `samples` gates at the parked beam from now."""
        if self.settings.source != "BUS" or self.state != "ARMED":
            raise CommandError("trigger_ignored", f"source {self.settings.source}, {self.state.lower()}")
        now = self.world.clock.now()
        self._draw_undrawn()
        counts = self.world.point_counts(self.settings.samples, self.settings.gate, now)
        self.chunks = [Chunk(counts, len(counts), len(counts))]
        self.collected = self.settings.samples
        self.t_done = now + self.settings.samples * self.settings.gate
        self.state = "RUNNING"
        self.triggered.notify_all()

    def on_frame(self, raster: Raster, t_start: float) -> None:
        """A scanner frame: with source EXTERNAL, one sample per pixel until `samples` are taken."""
        with self.lock:
            if self.settings.source != "EXTERNAL" or self.state not in {"ARMED", "RUNNING"}:
                return
            need = self.settings.samples - self.collected
            if need <= 0:
                return
            self._draw_undrawn()  # at most one frame waits for its draws: a client that never fetches costs no memory
            frame = np.empty((raster.ny, raster.nx), np.uint64)
            bands = self.world.develop(self.world.exposure(t_start), raster, frame)
            chunk = Chunk(frame.reshape(-1), min(need, frame.size), bands=(rows * raster.nx for rows in bands))
            self.undrawn.append(chunk)
            self.chunks.append(chunk)
            self.collected += chunk.size
            self.t_done = t_start + chunk.size * raster.dwell
            self.state = "RUNNING"
            self.triggered.notify_all()

    def on_abort(self, t: float) -> None:
        """The scanner stopped at t: an acquisition still counting then is lost."""
        with self.lock:
            if self.state == "RUNNING" and t < self.t_done:
                self._reset_acquisition()
                self.state = "ABORTED"

    def q_fetch(self) -> Streamed | str | None:
        """FETCh?: wait for the trigger and the end of the acquisition, then the counts (nothing, and no error, if
        the client hung up meanwhile: a client that gave up on a trigger must not leave an error for the next)."""
        deadline = time.monotonic() + TRIGGER_WAIT
        while self.state == "ARMED" and time.monotonic() < deadline and self.server.running:
            if self.server.client_gone():
                return None
            self.triggered.wait(0.1)
        if self.server.client_gone():
            return None
        if self.state in {"IDLE", "ABORTED"} or self.collected == 0:
            raise CommandError("data_stale", f"no data (counter {self.state.lower()})")
        if self.collected < self.settings.samples:
            raise CommandError("data_stale", f"incomplete: {self.collected} of {self.settings.samples}")
        chunks = list(self.chunks)
        self._draw_undrawn(keep=chunks)  # this reply computes (and streams) its own bands
        self._compute_while_scanning(chunks)
        self.wait_until(self.t_done)
        if self.settings.format == "ASCII":
            for chunk in chunks:
                chunk.complete()
            return ",".join(map(str, np.concatenate([c.data[:c.size] for c in chunks]).tolist()))
        wire = WIRE_TYPES[self.settings.format]
        pieces = (to_wire(piece, wire) for chunk in chunks for piece in chunk.pieces())
        return Streamed(sum(chunk.size for chunk in chunks) * wire.itemsize, pieces)

    def _compute_while_scanning(self, chunks: list[Chunk]) -> None:
        """Compute bands until the scan ends (the photons were fixed at the trigger), so that a scan paced by the
        simulated clock has its counts ready at its end, as a real counter would; what is left is computed as it
        is sent."""
        for chunk in chunks:
            while not chunk.final and self.world.clock.now() < self.t_done:
                chunk.advance()

    def _draw_undrawn(self, keep: list[Chunk] | None = None) -> None:
        """Compute the counts of earlier triggers not computed yet, up to the first of `keep`, so that the next random
        draw comes after theirs: a frame nobody fetched still took its photons at its trigger."""
        kept = {id(chunk) for chunk in keep or ()}
        while self.undrawn and id(self.undrawn[0]) not in kept:
            self.undrawn.pop(0).complete()

    def q_state(self) -> str:
        """ACQuisition:STATe?: IDLE, ARMED, RUNNING, DONE or ABORTED."""
        return "DONE" if self.done() else self.state

    def q_collected(self) -> int:
        """ACQuisition:POINts?: samples taken so far."""
        return self.collected

    def busy_until(self) -> float:
        """*OPC? waits for a triggered acquisition to end."""
        return self.t_done if self.state == "RUNNING" else 0.0

    def reset(self) -> None:
        """*RST: disarm, default settings."""
        self._reset_acquisition()
        self.settings = CounterSettings()
