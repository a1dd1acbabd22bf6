"""Benchmark: 512 x 512 frames per second through the whole acquisition path, beside the simulator alone.

The whole path: a measurement of N time points run by the engine on the default simulated rig
(engine thread, drivers, pyvisa-py and pty transports, the simulator subprocess, autosave to .obf).
By default N = 100, an ordinary time series: what every run pays once (settings, the shutter's
real-time settling) weighs on it as in a lab; both parts are also printed on their own.
The baseline: the simulator's World generating the same frames directly in this process. Also the
cost of one step callback (the engine's dispatch of a begin/end signal to a no-op callable).

BLAS threads are pinned to 1 in this process and so in the simulator it starts (the environment is
inherited): a frame's small matrix products gain nothing from a second thread, and on a shared 2-core
machine threaded BLAS made World.frame both slower (~6 vs ~4.5 ms) and erratic.

Usage: python bench/acquisition.py [--frames 100] [--dwell 1e-6]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from device_sim.world import Raster  # noqa: E402  (the baseline only)
from drivers.rig import connect_rig, default_rig_path  # noqa: E402
from rig_frame import world_frame_times  # noqa: E402
from specpy.application import Imspector  # noqa: E402
from specpy.engine import BEGIN, STEP, Signals  # noqa: E402

PIXEL = 50e-9


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


def engine_run_times(frames: int, dwell: float, rig: Path) -> tuple[float, float]:
    """Seconds for one measurement of `frames` 512 x 512 time points, start to end, and for one of a single
    time point (what every run pays once: first-step settings, shutter opening and settling, make-safe)."""
    app = Imspector(connect_rig(rig))
    try:
        measurement = app.create_measurement()
        measurement.set_parameters("", {
            "scan": {"x": {"length": 512 * PIXEL, "pixel_size": PIXEL}, "y": {"length": 512 * PIXEL, "pixel_size": PIXEL},
                     "dwell_time": dwell},
            "channels": {"excitation": {"power": 0.05}}, "steps": {"time_points": 1}})
        app.run(measurement)  # warm-up: first connections and settings (every run still ends made safe)
        times = []
        for points in (frames, 1):
            measurement.set_parameters("steps/time_points", points)
            start = time.perf_counter()
            app.run(measurement)
            times.append(time.perf_counter() - start)
        return times[0], times[1]
    finally:
        app.shutdown()


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
    parser.add_argument("--dwell", type=float, default=1e-6, help="pixel dwell in s (simulated time)")
    parser.add_argument("--time-scale", type=float, default=1e6,
                        help="simulated seconds per real second in the rig (default: %(default)g)")
    args = parser.parse_args()
    os.environ["SPECPY_DATA"] = tempfile.mkdtemp(prefix="specpy-bench-")
    with open(default_rig_path(), "rb") as stream:
        simulation = tomllib.load(stream)["simulation"]
    raster = Raster(512, 512, PIXEL, PIXEL, 0.0, 0.0, args.dwell)
    # The baseline is timed before and after the whole path, so that a change in the machine's load during
    # the run weighs on both alike.
    world = world_frame_times(simulation, raster, args.frames, 0.5)
    whole, single = engine_run_times(args.frames, args.dwell, fast_clock_rig(args.time_scale))
    world += world_frame_times(simulation, raster, args.frames, 0.5)
    engine_fps = args.frames / whole
    per_frame = (whole - single) / (args.frames - 1) if args.frames > 1 else whole
    world_fps = 1.0 / statistics.median(world)
    print(f"512 x 512 frames, dwell {args.dwell:g} s (simulated, clock x{args.time_scale:g}), {args.frames} frames, "
          f"{os.cpu_count()} cores")
    print(f"whole path (engine, drivers, transports, simulator, autosave): {engine_fps:7.1f} frames/s")
    print(f"simulator World alone, same frames:                             {world_fps:7.1f} frames/s")
    print(f"ratio whole path / simulator alone: {engine_fps / world_fps:.2f}")
    print(f"  informational: each run pays {(single - per_frame) * 1e3:.1f} ms once (first-step settings, shutter "
          f"open/settle/close in the firmware's real time); beyond it a frame takes {per_frame * 1e3:.2f} ms "
          f"({1 / per_frame / world_fps:.2f} x the simulator alone)")
    print(f"RATIO acquisition:whole_path/simulator_alone {engine_fps / world_fps:.4g}")
    print(f"step callback dispatch: {callback_cost() * 1e6:.2f} us per callback")
    return 0


if __name__ == "__main__":
    sys.exit(main())
