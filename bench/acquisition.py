"""Benchmark: 512 x 512 frames per second through the whole acquisition path, beside the simulator alone.

The whole path: a measurement of N time points run by the engine on the default simulated rig
(engine thread, drivers, pyvisa-py and pty transports, the simulator subprocess, autosave to .obf).
By default N = 100, an ordinary time series: what every run pays once (settings, the shutter's
real-time settling) weighs on it as in a lab; both parts are also printed on their own.
The baseline: the simulator's World generating the same frames directly in this process. Also the
cost of one step callback (the engine's dispatch of a begin/end signal to a no-op callable), and, for
information, the bare protocol: the same frames from the same simulator over raw sockets (arm and
confirm, fetch, start and confirm, the block into one reused buffer; no engine, drivers, pyvisa or
autosave), which is what the simulator and its transports leave for every layer above them.

BLAS threads are pinned to 1 in this process and so in the simulator it starts (the environment is
inherited): a frame's small matrix products gain nothing from a second thread, and on a shared 2-core
machine threaded BLAS made World.frame both slower (~6 vs ~4.5 ms) and erratic.

Usage: python bench/acquisition.py [--frames 100] [--rounds 3] [--dwell 1e-6]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402

from device_sim.world import Raster  # noqa: E402  (the baseline only)
from drivers.rig import ConnectedRig, connect_rig, default_rig_path  # noqa: E402
from rig_frame import world_frame_times  # noqa: E402
from specpy.application import Imspector  # noqa: E402
from specpy.engine import BEGIN, STEP, Signals  # noqa: E402

PIXEL = 50e-9
EXCITATION = 0.05  # W: half the simulated laser's maximum, as the World baseline is lit (power fraction 0.5)


def fast_clock_rig(time_scale: float) -> Path:
    """The default simulated rig with its simulated clock sped up, so that a frame's simulated scan
    time does not pace the whole path (the World-alone baseline has no such pacing either)."""
    text = default_rig_path().read_text()
    sped_up = re.sub(r"(?m)^time_scale\s*=.*$", f"time_scale = {time_scale!r}", text)
    if sped_up == text:
        raise SystemExit("the default rig file has no time_scale line to change")
    path = Path(tempfile.mkdtemp(prefix="specpy-bench-rig-")) / "rig.toml"
    path.write_text(sped_up)
    return path


def engine_run_times(app: Imspector, frames: int, dwell: float) -> tuple[float, float]:
    """Seconds for one measurement of `frames` 512 x 512 time points, start to end, and for one of a single
    time point (what every run pays once: first-step settings, shutter opening and settling, make-safe).

    A new measurement each time, closed afterwards: freeing the last run's stack and autosave (about 25 ms for
    100 MB) is paid in the untimed close, not by whichever run came next."""
    measurement = app.create_measurement()
    try:
        measurement.set_parameters("", {
            "scan": {"x": {"length": 512 * PIXEL, "pixel_size": PIXEL}, "y": {"length": 512 * PIXEL, "pixel_size": PIXEL},
                     "dwell_time": dwell},
            "channels": {"excitation": {"power": EXCITATION}}, "steps": {"time_points": 1}})
        times = []
        for points in (1, frames):
            measurement.set_parameters("steps/time_points", points)
            start = time.perf_counter()
            app.run(measurement)
            times.append(time.perf_counter() - start)
        return times[1], times[0]
    finally:
        app.close(measurement)


def _raw_connection(resource: str) -> socket.socket:
    """A plain TCP connection to a 'TCPIP::host::port::SOCKET' resource, Nagle off as the drivers have it (a
    reply that does not come within 10 s ends the benchmark rather than hanging it)."""
    _, host, port, _ = resource.split("::")
    connection = socket.create_connection((host, int(port)), timeout=10.0)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _fill(connection: socket.socket, view: memoryview) -> None:
    """Receive exactly len(view) bytes into view."""
    done = 0
    while done < len(view):
        got = connection.recv_into(view[done:], len(view) - done)
        if not got:
            raise SystemExit("the simulator closed the connection")
        done += got


def _confirmed(connection: socket.socket, commands: bytes) -> None:
    """Send commands ending in SYST:ERR? and require its reply to say no error."""
    connection.sendall(commands)
    reply = b""
    while not reply.endswith(b"\n"):
        reply += connection.recv(256)
    if not reply.startswith(b"0,"):
        raise SystemExit(f"the simulator refused {commands!r}: {reply!r}")


def _block_into(connection: socket.socket, buffer: np.ndarray) -> None:
    """Read one definite-length block of exactly buffer's size into it, and its newline."""
    head = bytearray(2)
    _fill(connection, memoryview(head))
    digits = bytearray(int(head[1:2]))
    _fill(connection, memoryview(digits))
    view = memoryview(buffer).cast("B")
    if int(digits) != len(view):
        raise SystemExit(f"block of {int(digits)} bytes, expected {len(view)}")
    _fill(connection, view)
    _fill(connection, memoryview(bytearray(1)))


def protocol_floor_time(rig: ConnectedRig, frames: int, dwell: float) -> float:
    """Seconds per 512 x 512 frame of the bare protocol against the rig's simulator (see the module docstring);
    the light is switched on through the drivers first and made safe after, as a run does."""
    scanner, counter = rig.by_role("scanner"), rig.by_role("counter")
    laser, wheel = rig.by_role("excitation_laser"), rig.by_role("shutter_wheel")
    scanner.configure(512, 512, PIXEL, PIXEL, 0.0, 0.0, dwell)
    counter.parameters.set("", {"samples": 512 * 512, "format": "uint32", "trigger_source": "external"})
    laser.parameters.set("power", EXCITATION)
    laser.states.set("emission", True)
    laser.wait_until_emitting()
    wheel.open_shutter()
    buffer = np.empty(512 * 512, np.uint32)
    counts, starts = _raw_connection(counter.transport.resource), _raw_connection(scanner.transport.resource)
    try:
        start = time.perf_counter()
        for _ in range(frames):
            _confirmed(counts, b"INIT\nSYST:ERR?\n")
            counts.sendall(b"FETC?\n")
            _confirmed(starts, b"INIT\nSYST:ERR?\n")
            _block_into(counts, buffer)
        return (time.perf_counter() - start) / frames
    finally:
        counts.close()
        starts.close()
        laser.states.set("emission", False)
        wheel.close_shutter()


def callback_cost(calls: int = 200_000) -> float:
    """Seconds per step callback dispatched by the engine's signals (a no-op callable)."""
    signals = Signals()
    signals.connect(BEGIN, lambda: None, STEP)
    start = time.perf_counter()
    for _ in range(calls):
        signals.emit(BEGIN, STEP)
    return (time.perf_counter() - start) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="time points of the measurement (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of (simulator alone, whole path, simulator alone); the median ratio is the result")
    parser.add_argument("--dwell", type=float, default=1e-6, help="pixel dwell in s (simulated time)")
    parser.add_argument("--time-scale", type=float, default=1e6,
                        help="simulated seconds per real second in the rig (default: %(default)g)")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="specpy-bench-")
    os.environ["SPECPY_DATA"] = data
    with open(default_rig_path(), "rb") as stream:
        simulation = tomllib.load(stream)["simulation"]
    raster = Raster(512, 512, PIXEL, PIXEL, 0.0, 0.0, args.dwell)
    rig = fast_clock_rig(args.time_scale)
    devices = connect_rig(rig)
    app = Imspector(devices)
    print(f"512 x 512 frames, dwell {args.dwell:g} s (simulated, clock x{args.time_scale:g}), {args.frames} frames, "
          f"{args.rounds} rounds, {os.cpu_count()} cores")
    ratios, steady, floors = [], [], []
    try:
        engine_run_times(app, 1, args.dwell)  # warm-up: first connections and settings (every run ends made safe)
        for round_ in range(1, args.rounds + 1):
            # The baseline is timed before and after the whole path, so that a change in the machine's load during
            # the round weighs on both alike.
            world = world_frame_times(simulation, raster, args.frames, 0.5)
            whole, single = engine_run_times(app, args.frames, args.dwell)
            floor = protocol_floor_time(devices, args.frames, args.dwell)
            world += world_frame_times(simulation, raster, args.frames, 0.5)
            world_fps = 1.0 / statistics.median(world)
            engine_fps = args.frames / whole
            per_frame = (whole - single) / (args.frames - 1) if args.frames > 1 else whole
            ratios.append(engine_fps / world_fps)
            steady.append(1 / per_frame / world_fps)
            floors.append(1 / floor / world_fps)
            print(f"round {round_}: whole path (engine, drivers, transports, simulator, autosave) {engine_fps:6.1f} "
                  f"frames/s, simulator World alone {world_fps:6.1f} frames/s: ratio {ratios[-1]:.2f}")
            print(f"  informational: each run pays {(single - per_frame) * 1e3:.1f} ms once (first-step settings, "
                  f"shutter open/settle/close in the firmware's real time); beyond it a frame takes "
                  f"{per_frame * 1e3:.2f} ms ({steady[-1]:.2f} x the simulator alone); the bare protocol takes "
                  f"{floor * 1e3:.2f} ms a frame ({floors[-1]:.2f} x)")
    finally:
        app.shutdown()
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(rig.parent, ignore_errors=True)
    print(f"ratio whole path / simulator alone, median of {args.rounds}: {statistics.median(ratios):.2f} "
          f"(steady state beyond the per-run cost: {statistics.median(steady):.2f})")
    print(f"RATIO acquisition:whole_path/simulator_alone {statistics.median(ratios):.4g} >=0.8")
    print(f"RATIO acquisition:bare_protocol/simulator_alone {statistics.median(floors):.4g}")
    print(f"step callback dispatch: {callback_cost() * 1e6:.2f} us per callback")
    return 0


if __name__ == "__main__":
    sys.exit(main())
