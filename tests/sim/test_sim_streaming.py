"""The counter's frame is computed band by band when it is fetched and streamed out as each band is final:
the bytes are exactly the World's frame, wire faults still apply to the whole reply, the light is the
light at the trigger, and frames draw their noise in the order of their triggers, fetched or not."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from device_sim import Raster
from device_sim.instruments.counter import to_wire
from device_sim.instruments.counts import Chunk
from device_sim.streamed import Streamed, definite_block, join_replies
from tests.sim.conftest import bead_world
from tests.sim.test_sim_physics import switch_on
from tests.sim.test_sim_scpi import raw_query

RASTER = Raster(nx=200, ny=150, pixel_x=40e-9, pixel_y=40e-9, dwell=2e-4)  # 3 bands of rows, a partial last one


def start_frame(rig) -> float:
    """Light the sample, set up scanner and counter for RASTER and scan a frame; the frame's start time."""
    switch_on(rig.world, "excitation", rig.world.optics.p_ref)  # freezes the clock
    scanner, counter = rig["scanner"].server.port, rig["counter"].server.port
    setup = f"SCAN:X:PIX {RASTER.nx};SCAN:Y:PIX {RASTER.ny};SCAN:X:PSIZ 4e-8;SCAN:Y:PSIZ 4e-8;SCAN:DWEL 2e-4;*OPC?"
    assert raw_query(scanner, setup.encode()) == b"1\n"
    assert raw_query(counter, f"SAMP:COUN {RASTER.nx * RASTER.ny};FORM UINT32;*OPC?".encode()) == b"1\n"
    return scan_frame(rig)


def scan_frame(rig) -> float:
    """Arm the counter, start the scanner and let the frame's time pass; the frame's start time."""
    assert raw_query(rig["counter"].server.port, b"INIT;*OPC?") == b"1\n"
    start = rig.world.clock.now()
    assert raw_query(rig["scanner"].server.port, b"INIT;SYST:ERR?") == b'0,"No error"\n'
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


def test_frames_nobody_fetched_still_draw_their_noise_in_trigger_order(rig) -> None:
    starts = [start_frame(rig)] + [scan_frame(rig) for _ in range(3)]  # the next INIT drops data, not photons
    assert len(rig["counter"].undrawn) <= 1  # a client that never fetches does not make the simulator grow
    fetched = block_values(raw_query(rig["counter"].server.port, b"FETC?"))
    starts.append(scan_frame(rig))  # not fetched either: the point counts below draw after it
    port = rig["counter"].server.port
    triggered = rig.world.clock.now()  # the clock stands still until advanced
    assert raw_query(port, b"TRIG:SOUR BUS;GATE:TIME 1e-3;SAMP:COUN 5;FORM ASCII;INIT;*TRG;SYST:ERR?") == \
        b'0,"No error"\n'
    rig.world.clock.advance(1.0)
    points = np.array(raw_query(port, b"FETC?").decode().strip().split(","), int)
    twin = bead_world()
    switch_on(twin, "excitation", twin.optics.p_ref)
    for start in starts[:3]:
        twin.frame(RASTER, start)
    np.testing.assert_array_equal(fetched.reshape(RASTER.ny, RASTER.nx), twin.frame(RASTER, starts[3]))
    twin.frame(RASTER, starts[4])
    twin.beam = rig.world.beam
    np.testing.assert_array_equal(points, twin.point_counts(5, 1e-3, triggered))


def test_a_fetch_asked_before_the_trigger_answers_when_the_frame_is_scanned(rig) -> None:
    first = start_frame(rig)  # sets both instruments up (that frame is not fetched)
    counter, scanner = rig["counter"].server.port, rig["scanner"].server.port
    assert raw_query(counter, b"INIT;*OPC?") == b"1\n"
    with socket.create_connection(("127.0.0.1", counter), timeout=5) as waiting:
        waiting.sendall(b"FETC?\n")  # waits for the trigger
        start = rig.world.clock.now()
        assert raw_query(scanner, b"INIT;SYST:ERR?") == b'0,"No error"\n'
        rig.world.clock.advance(RASTER.duration)
        reply = b""
        while not reply.endswith(b"\n") or len(reply) < RASTER.nx * RASTER.ny * 4:
            reply += waiting.recv(1 << 20)
    twin = bead_world()
    switch_on(twin, "excitation", twin.optics.p_ref)
    twin.frame(RASTER, first)  # the set-up frame's draws come first
    np.testing.assert_array_equal(block_values(reply).reshape(RASTER.ny, RASTER.nx), twin.frame(RASTER, start))


def test_a_fetch_during_a_scan_computes_the_counts_while_the_scan_runs(rig) -> None:
    start_frame(rig)
    counter, scanner = rig["counter"], rig["scanner"].server.port
    assert raw_query(counter.server.port, b"INIT;*OPC?") == b"1\n"
    with socket.create_connection(("127.0.0.1", counter.server.port), timeout=5) as waiting:
        waiting.sendall(b"FETC?\n")
        assert raw_query(scanner, b"INIT;SYST:ERR?") == b'0,"No error"\n'  # the clock stands still: mid-scan
        deadline = time.monotonic() + 5
        while not (counter.chunks and counter.chunks[0].final) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert counter.chunks[0].final  # every band computed before the scan's end ...
        rig.world.clock.advance(RASTER.duration)  # ... which only now comes
        reply = b""
        while not reply.endswith(b"\n") or len(reply) < RASTER.nx * RASTER.ny * 4:
            reply += waiting.recv(1 << 20)
    assert block_values(reply).size == RASTER.nx * RASTER.ny


def test_a_fetch_whose_client_hung_up_gives_up_without_leaving_an_error(rig) -> None:
    start_frame(rig)
    counter = rig["counter"]
    assert raw_query(counter.server.port, b"INIT;*OPC?") == b"1\n"
    with socket.create_connection(("127.0.0.1", counter.server.port), timeout=5) as waiting:
        waiting.sendall(b"FETC?\n")  # waits for a trigger that will not come
        deadline = time.monotonic() + 5
        while len(counter.server._clients) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert raw_query(counter.server.port, b"ABOR;SYST:ERR?") == b'0,"No error"\n'
    deadline = time.monotonic() + 5
    while len(counter.server._clients) > 0 and time.monotonic() < deadline:  # the waiting FETC? has given up
        time.sleep(0.01)
    assert counter.server._clients == set()
    assert raw_query(counter.server.port, b"SYST:ERR?") == b'0,"No error"\n'


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


def counting_bands(log: list[int], ends: tuple[int, ...]):
    """Bands that note each band as it is computed."""
    for band, end in enumerate(ends):
        log.append(band)
        yield end


def test_a_chunk_computes_each_band_once_in_order_when_its_values_are_read() -> None:
    log: list[int] = []
    chunk = Chunk(np.arange(10, dtype=np.uint64), 8, bands=counting_bands(log, (3, 20)))
    assert log == []  # nothing is computed before it is needed
    pieces = chunk.pieces()
    assert next(pieces).tolist() == [0, 1, 2] and log == [0]
    assert next(pieces).tolist() == [3, 4, 5, 6, 7] and log == [0, 1]  # never beyond its size
    assert list(pieces) == [] and chunk.final
    chunk.complete()
    assert log == [0, 1]


def test_an_abandoned_reader_leaves_the_rest_to_complete() -> None:
    log: list[int] = []
    chunk = Chunk(np.arange(8, dtype=np.uint64), 8, bands=counting_bands(log, (2, 4, 6, 8)))
    pieces = chunk.pieces()
    assert next(pieces)[0] == 0
    pieces.close()  # a client gone mid-reply
    assert not chunk.final
    chunk.complete()
    assert chunk.final and chunk.ready == 8 and log == [0, 1, 2, 3]


def test_two_readers_of_one_chunk_share_its_bands() -> None:
    log: list[int] = []
    chunk = Chunk(np.arange(600, dtype=np.uint64), 600, bands=counting_bands(log, tuple(range(10, 610, 10))))
    read: list[list[int]] = [[], []]
    readers = [threading.Thread(target=lambda got=got: got.extend(v for p in chunk.pieces() for v in p.tolist()))
               for got in read]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert read == [list(range(600)), list(range(600))] and log == list(range(60))


def test_a_failing_band_fails_the_reader_and_complete_reports_it(capsys) -> None:
    def bands():
        yield 2
        raise ValueError("a bug in band 2")

    chunk = Chunk(np.zeros(4, np.uint64), 4, bands=bands())
    pieces = chunk.pieces()
    assert next(pieces).size == 2
    with pytest.raises(RuntimeError, match="a bug in band 2"):
        next(pieces)
    chunk.complete()  # does not raise: a later trigger still gets its frame
    assert chunk.final and "a bug in band 2" in capsys.readouterr().err


def test_bands_that_end_early_or_are_missing_fail_instead_of_hanging() -> None:
    early = Chunk(np.zeros(4, np.uint64), 4, bands=iter([2]))
    with pytest.raises(RuntimeError, match="ended after 2 of 4"):
        list(early.pieces())
    with pytest.raises(RuntimeError, match="nothing computes the rest"):
        list(Chunk(np.zeros(4, np.uint64), 4, ready=1).pieces())


def test_streamed_replies_know_their_length_and_join_lazily() -> None:
    body = Streamed(6, iter([b"ab", np.frombuffer(b"cdef", np.uint16)]))
    block = definite_block(body)
    assert isinstance(block, Streamed) and len(block) == 9 and bytes(block) == b"#16abcdef"
    message = join_replies([b"1", definite_block(Streamed(2, iter([b"xy"]))), b"2"])
    assert isinstance(message, Streamed) and len(message) == len(b"1;#12xy;2\n") and bytes(message) == b"1;#12xy;2\n"
    assert join_replies([b"1", definite_block(b"xy")]) == b"1;#12xy\n"


def test_counts_saturate_at_the_largest_wire_integer() -> None:
    counts = np.array([0, 65_535, 65_536, 1 << 40], np.uint64)
    assert to_wire(counts, np.dtype("<u2")).tolist() == [0, 65_535, 65_535, 65_535]
    assert to_wire(counts, np.dtype("<u4")).tolist() == [0, 65_535, 65_536, (1 << 32) - 1]
    assert to_wire(counts[:0], np.dtype("<u4")).dtype == np.dtype("<u4")
