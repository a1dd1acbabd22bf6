"""The photon counter (SCPI over TCP): arm for N samples, gated by the scanner's pixel clock, fetch the counts
as an IEEE 488.2 definite-length block straight into an array."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from specpy.errors import ValidationError
from specpy.tree import Enum, Float, Int

from .control import Control
from .errors import DeviceDisconnected, TransportError
from .galvo_scanner import GalvoScanner
from .memory import populate
from .scpi import ScpiInstrument
from .transport import Transport


class _NotStarted(Exception):
    """What triggers the acquisition failed (carries its error past the fetch's own retries)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


#: The block's item type for each data format (little-endian unsigned integers on the wire).
WIRE_DTYPES = {"uint32": np.dtype("<u4"), "uint16": np.dtype("<u2")}


class PhotonCounter(ScpiInstrument):
    """A gated photon counter: INIT arms it, each pixel-clock tick (or *TRG) closes a gate, FETC? returns counts."""

    RESOURCE_KINDS = ("visa",)
    PARAMETERS = {
        "samples": Control(Int(min=1, max=16_777_216, description="samples per acquisition"),
                           get="SAMP:COUN?", set="SAMP:COUN {}"),
        "format": Control(Enum(["uint32", "uint16", "ascii"], description="data format of FETC?"),
                          get="FORM?", set="FORM {}", wire={"uint32": "UINT32", "uint16": "UINT16", "ascii": "ASCII"}),
        "trigger_source": Control(Enum(["external", "bus"], description="pixel clock (external) or *TRG (bus)"),
                                  get="TRIG:SOUR?", set="TRIG:SOUR {}", wire={"external": "EXTERNAL", "bus": "BUS"}),
        "gate_time": Control(Float(unit="s", min=1e-7, max=10.0, description="gate per sample for bus triggers"),
                             get="GATE:TIME?", set="GATE:TIME {}"),
    }
    STATES = {
        "acquisition": {
            "state": Control(Enum(["IDLE", "ARMED", "RUNNING", "DONE", "ABORTED"], read_only=True),
                             get="ACQ:STAT?"),
            "points": Control(Int(read_only=True, description="samples taken so far"), get="ACQ:POIN?"),
        },
    }

    _frame_pending = False  # a frame was armed and its counts not yet fetched

    def _set_if_changed(self, path: str, value: object) -> None:
        """Set a parameter unless the value last set or read is already the same (saves round trips per frame)."""
        if self.parameters.get(path) != value:
            self.parameters.set(path, value)

    def arm(self, samples: int | None = None) -> None:
        """Arm for `samples` samples (validated; default: as set) and confirm the counter accepted INIT."""
        if samples is not None:
            checked = self.parameters.leaf("samples").check("samples", samples)
            self._set_if_changed("samples", checked)
        self.execute("INIT")

    def abort(self) -> None:
        """Disarm and drop the data (ABOR)."""
        self.execute("ABOR")

    def fetch(self, timeout: float | None = None, out: np.ndarray | None = None,
              start: Callable[[], object] | None = None,
              while_counting: Callable[[], object] | None = None) -> np.ndarray:
        """The counts of the armed acquisition as a 1-D array, waiting up to `timeout` s for it to end.

        The block is read straight into `out` when it is a C-contiguous array of the wire type, else into a
        new array (then copied into `out` if given); while the counter computes, `out`'s pages are faulted in, so
        that the reply is one copy. FETC? can be repeated, so a lost or garbled reply is fetched once more.

        With `start` (what triggers the acquisition: the scanner's start), FETC? goes out first and `start()` runs
        while the counter waits for its trigger, so the counter is ready the moment it comes. If `start()` fails,
        that FETC? would wait for a trigger that never comes: the connection is hung up (the counter drops a query
        whose client is gone, and comes back disarmed) and start's error raised.

        `while_counting()` runs once the acquisition is started, while the counter computes (a check that need not
        hold up the frame); an error it raises is raised after the counts are read, so the exchange stays in step.
        """
        transport = self._io()
        fmt = self.parameters.get("format")
        seconds = transport.timeout if timeout is None else timeout
        direct = out is not None and fmt in WIRE_DTYPES and out.dtype == WIRE_DTYPES[fmt] and out.flags.c_contiguous
        deferred: list[BaseException] = []

        def meanwhile(first: Callable[[], object] | None, target: np.ndarray | None,
                      check: Callable[[], object] | None) -> None:
            """The first attempt's work between FETC? and its reply (later attempts: none)."""
            self._start(first, transport)
            if target is not None:
                populate(target)
            if check is not None:
                try:
                    check()
                except Exception as error:
                    deferred.append(error)

        with transport.lock, transport.timeout_for(seconds):
            for attempt in range(1 + self.RETRIES):
                first, check = (start, while_counting) if attempt == 0 else (None, None)
                try:
                    self._resync_if_needed()
                    if fmt == "ascii":
                        transport.write("FETC?")
                        meanwhile(first, None, check)
                        counts = np.array([int(v) for v in transport.read().split(",") if v], np.int64)
                    else:
                        target = out if direct else None
                        prepare = target if attempt == 0 else None
                        counts = transport.query_binary("FETC?", WIRE_DTYPES[fmt], target,
                                                        while_waiting=lambda: meanwhile(first, prepare, check))
                    break
                except _NotStarted as failure:
                    raise failure.error from None
                except DeviceDisconnected:
                    raise
                except TransportError:
                    self._desynced = True
                    self._raise_if_refused("FETC?")  # no data at all: the counter says so; asking again won't help
                    if attempt == self.RETRIES:
                        raise
        if deferred:
            raise deferred[0]
        if out is not None and not direct:
            flat = out.reshape(-1)
            if flat.size != counts.size:
                raise ValidationError(f"out holds {flat.size} values; the acquisition has {counts.size}")
            np.copyto(flat, counts, casting="same_kind")
            return flat
        return counts

    @staticmethod
    def _start(start: Callable[[], object] | None, transport: Transport) -> None:
        """Run `start` (if any) with a FETC? owed; if it fails, hang up (see fetch)."""
        if start is None:
            return
        try:
            start()
        except BaseException as error:
            transport.hang_up()
            raise _NotStarted(error) from error

    def _restore(self) -> None:
        """After a reconnect: disarm first (an acquisition armed over the lost connection is nobody's now, and an
        armed counter refuses settings), then re-send the settings."""
        self._io().write("ABOR")
        super()._restore()

    def _raise_if_refused(self, command: str) -> None:
        """After a failed fetch: if the counter queued an error (no data, stale), raise that instead."""
        try:
            self._resync_if_needed()
            self._raise_queued(command)
        except TransportError:
            return

    def acquire_frame(self, scanner: GalvoScanner, out: np.ndarray | None = None,
                      while_counting: Callable[[], object] | None = None) -> np.ndarray:
        """One frame: arm for nx*ny samples on the pixel clock, start the scanner, fetch, shape (ny, nx).

        With `out` (shape (ny, nx)) the counts are written into it and it is returned; this is the acquisition
        engine's per-frame call. `while_counting()` runs while the frame is scanned and counted (see fetch).
        """
        nx, ny = scanner.parameters.get("pixels/x"), scanner.parameters.get("pixels/y")
        if out is not None and out.shape != (ny, nx):
            raise ValidationError(f"out has shape {out.shape}; the scanner's frame is (ny, nx) = ({ny}, {nx})")
        if self._frame_pending:  # the last frame failed part-way: the counter may still be armed, so disarm it
            self.abort()
        self._set_if_changed("trigger_source", "external")
        self._frame_pending = True
        self.arm(nx * ny)
        timeout = self._io().timeout + scanner.expected_frame_time()
        flat = out.reshape(-1) if out is not None and out.flags.c_contiguous else None
        if out is not None and flat is None:
            counts = self.fetch(timeout, start=scanner.start, while_counting=while_counting)
            self._frame_pending = False
            out[...] = counts.reshape(ny, nx)
            return out
        counts = self.fetch(timeout, out=flat, start=scanner.start, while_counting=while_counting)
        self._frame_pending = False
        return out if out is not None else counts.reshape(ny, nx)
