"""The counter's frame is developed in the background after the trigger and streamed out band by band:
the bytes are exactly the World's frame, wire faults still apply to the whole reply, the light is the
light at the trigger, and the worker keeps the order of the random draws."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from device_sim import Raster
from device_sim.instruments.counter import to_wire
from device_sim.instruments.counts import Chunk, Worker
from device_sim.streamed import Streamed, definite_block, join_replies
from tests.sim.conftest import bead_world
from tests.sim.test_sim_physics import switch_on
from tests.sim.test_sim_scpi import raw_query

RASTER = Raster(nx=200, ny=150, pixel_x=40e-9, pixel_y=40e-9, dwell=2e-4)  # 3 bands of rows, a partial last one


def start_frame(rig) -> float:
    """Light the sample, arm the counter for RASTER and start the scanner; the frame's start time."""
    switch_on(rig.world, "excitation", rig.world.optics.p_ref)  # freezes the clock
    scanner, counter = rig["scanner"].server.port, rig["counter"].server.port
    setup = f"SCAN:X:PIX {RASTER.nx};SCAN:Y:PIX {RASTER.ny};SCAN:X:PSIZ 4e-8;SCAN:Y:PSIZ 4e-8;SCAN:DWEL 2e-4;*OPC?"
    assert raw_query(scanner, setup.encode()) == b"1\n"
    assert raw_query(counter, f"SAMP:COUN {RASTER.nx * RASTER.ny};FORM UINT32;INIT;*OPC?".encode()) == b"1\n"
    start = rig.world.clock.now()
    assert raw_query(scanner, b"INIT;SYST:ERR?") == b'0,"No error"\n'
    rig.world.clock.advance(RASTER.duration)
    return start


def block_values(reply: bytes) -> np.ndarray:
    """The uint32 values of a '#<n><length><data>\\n' reply."""
    digits = int(reply[1:2])
    length = int(reply[2:2 + digits])
    assert len(reply) == 2 + digits + length + 1 and reply.endswith(b"\n")
    return np.frombuffer(reply[2 + digits:2 + digits + length], "<u4")


def test_the_streamed_frame_is_exactly_the_worlds_frame_and_can_be_fetched_again(rig) -> None:
    start = start_frame(rig)
    fetched = block_values(raw_query(rig["counter"].server.port, b"FETC?"))
    twin = bead_world()  # the same seed, sample and light: the same photons
    switch_on(twin, "excitation", twin.optics.p_ref)
    expected = twin.frame(RASTER, start)
    assert expected.sum() > 1000
    np.testing.assert_array_equal(fetched.reshape(RASTER.ny, RASTER.nx), expected)
    again = block_values(raw_query(rig["counter"].server.port, b"FETC?"))  # FETCh? may be repeated
    np.testing.assert_array_equal(again, fetched)


def test_a_streamed_block_in_a_message_with_other_replies(rig) -> None:
    start_frame(rig)
    reply = raw_query(rig["counter"].server.port, b"*OPC?;FETC?;ACQ:STAT?")
    assert reply.startswith(b"1;#") and reply.endswith(b";DONE\n")
    block = reply[2:-len(b";DONE\n")] + b"\n"
    assert block_values(block).size == RASTER.nx * RASTER.ny


def test_wire_faults_apply_to_the_whole_streamed_reply(rig) -> None:
    start_frame(rig)
    port = rig["counter"].server.port
    clean = raw_query(port, b"FETC?")
    rig.inject("counter", "garble", 1)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"FETC?\n")
        garbled = b""
        while len(garbled) < len(clean):
            garbled += sock.recv(1 << 20)
        rig.inject("counter", "drop", 1)
        sock.sendall(b"FETC?\n*IDN?\n")  # the block is dropped, the next reply is not
        reply = b""
        while not reply.endswith(b"\n"):
            reply += sock.recv(4096)
    assert len(garbled) == len(clean) and garbled.endswith(b"\n")  # the framing is kept ...
    assert np.all(np.frombuffer(garbled[:-1], np.uint8) != np.frombuffer(clean[:-1], np.uint8))  # ... all else is hit
    assert reply.startswith(b"SPECSIM,")


def test_a_frame_sees_the_light_at_its_trigger() -> None:
    world = bead_world()
    switch_on(world, "excitation", world.optics.p_ref)
    exposure = world.exposure()
    world.shutter.open = False  # closed after the trigger: this frame was already lit
    lit = np.empty((RASTER.ny, RASTER.nx), np.uint64)
    assert list(world.develop(exposure, RASTER, lit)) == [64, 128, 150]  # rows done after each band
    dark = world.frame(RASTER)  # dark counts only
    assert lit.sum() > 1000 and dark.sum() < 2 * world.detector.dark_rate * RASTER.dwell * dark.size


def test_a_chunk_gives_its_values_in_order_as_they_become_final() -> None:
    chunk = Chunk(np.arange(10, dtype=np.uint64), 8)
    pieces = chunk.pieces()
    chunk.advance(3)
    assert next(pieces).tolist() == [0, 1, 2]
    chunk.advance(20)  # never beyond its size
    assert next(pieces).tolist() == [3, 4, 5, 6, 7]
    assert list(pieces) == [] and chunk.wait(8) == 8


def test_a_failed_chunk_fails_its_reader_instead_of_blocking_it() -> None:
    chunk = Chunk(np.zeros(4, np.uint64), 4)
    chunk.advance(2)
    pieces = chunk.pieces()
    assert next(pieces).size == 2
    chunk.fail(ValueError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        next(pieces)


def test_the_worker_runs_jobs_in_order_survives_a_failing_one_and_stops(capsys) -> None:
    worker = Worker("sim-test-worker")
    ran: list[int] = []
    gate = threading.Event()
    worker.submit(gate.wait)
    for i in range(3):
        worker.submit(lambda i=i: ran.append(i))
    worker.submit(lambda: 1 / 0)
    worker.submit(lambda: ran.append(3))
    assert ran == []
    gate.set()
    worker.settle()
    assert ran == [0, 1, 2, 3] and "ZeroDivisionError" in capsys.readouterr().err
    worker.stop()
    assert not [t for t in threading.enumerate() if t.name == "sim-test-worker"]
    worker.submit(lambda: ran.append(4))  # after stop: runs at once in the caller
    assert ran[-1] == 4


def test_streamed_replies_know_their_length_and_join_lazily() -> None:
    body = Streamed(6, iter([b"ab", np.frombuffer(b"cdef", np.uint16)]))
    block = definite_block(body)
    assert isinstance(block, Streamed) and len(block) == 9 and bytes(block) == b"#16abcdef"
    message = join_replies([b"1", definite_block(Streamed(2, iter([b"xy"]))), b"2"])
    assert isinstance(message, Streamed) and len(message) == len(b"1;#12xy;2\n") and bytes(message) == b"1;#12xy;2\n"
    assert join_replies([b"1", definite_block(b"xy")]) == b"1;#12xy\n"


def recording_bands(log: list[tuple[str, int]], name: str, ends: tuple[int, ...],
                    hold: threading.Event | None = None):
    """Bands that note which chunk computed which band; the first waits for `hold` (a worker kept busy)."""
    for band, end in enumerate(ends):
        if band == 0 and hold is not None:
            hold.wait()
        log.append((name, band))
        yield end


def test_readers_compute_bands_only_in_the_order_of_the_triggers() -> None:
    worker, log = Worker("sim-test-worker"), []
    hold = threading.Event()
    first = Chunk(np.arange(6, dtype=np.uint64), 6, bands=recording_bands(log, "first", (2, 4, 6), hold))
    second = Chunk(np.arange(6, 12, dtype=np.uint64), 6, bands=recording_bands(log, "second", (2, 4, 6)))
    worker.submit(first.develop)
    worker.submit(second.develop)
    read: dict[str, list[int]] = {}
    readers = [threading.Thread(target=lambda c=c, n=n: read.update({n: [v for p in c.pieces() for v in p.tolist()]}))
               for n, c in (("second", second), ("first", first))]
    try:
        for reader in readers:
            reader.start()
        hold.set()  # the worker gets to the first chunk only now; the second's reader must not draw before it
        for reader in readers:
            reader.join()
        worker.settle()
    finally:
        hold.set()
        worker.stop()
    assert read == {"first": list(range(6)), "second": list(range(6, 12))}
    assert log == [("first", 0), ("first", 1), ("first", 2), ("second", 0), ("second", 1), ("second", 2)]


def test_an_abandoned_reader_leaves_the_rest_to_the_worker() -> None:
    worker, log = Worker("sim-test-worker"), []
    chunk = Chunk(np.arange(8, dtype=np.uint64), 8, bands=recording_bands(log, "frame", (2, 4, 6, 8)))
    worker.submit(chunk.develop)
    try:
        pieces = chunk.pieces()
        assert next(pieces)[0] == 0
        pieces.close()  # a client gone mid-reply
        assert chunk.wait(8) == 8
        worker.settle()  # the job ended: every band computed, each once
    finally:
        worker.stop()
    assert log == [("frame", band) for band in range(4)]


def test_a_failing_band_fails_the_reader_and_is_reported_by_the_worker(capsys) -> None:
    def bands():
        yield 2
        raise ValueError("a bug in band 2")

    worker = Worker("sim-test-worker")
    chunk = Chunk(np.zeros(4, np.uint64), 4, bands=bands())
    worker.submit(chunk.develop)
    try:
        with pytest.raises(RuntimeError, match="a bug in band 2"):
            list(chunk.pieces())
        worker.settle()
    finally:
        worker.stop()
    assert "a bug in band 2" in capsys.readouterr().err


def test_counts_saturate_at_the_largest_wire_integer() -> None:
    counts = np.array([0, 65_535, 65_536, 1 << 40], np.uint64)
    assert to_wire(counts, np.dtype("<u2")).tolist() == [0, 65_535, 65_535, 65_535]
    assert to_wire(counts, np.dtype("<u4")).tolist() == [0, 65_535, 65_536, (1 << 32) - 1]
    assert to_wire(counts[:0], np.dtype("<u4")).dtype == np.dtype("<u4")
