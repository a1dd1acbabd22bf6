"""Benchmark: one 512 x 512 frame through the whole driver path (PhotonCounter.acquire_frame with the galvo
scanner, pyvisa-py over TCP to the simulator subprocess) beside the World generating the same frame directly
in this process; and the round trip of one query for each driver and transport.

The simulator runs as connect_rig starts it (a subprocess, time scale from drivers/rigs/simulated.toml), so
the driver path includes the frame's simulated duration (512*512*dwell / time_scale) and the World's own
generation in the simulator. Prints medians and the ratio driver path / World alone.

Usage: python bench/rig_frame.py [--repeats 10] [--queries 200] [--dwell 1e-6]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as in bench/acquisition.py: threaded BLAS made World.frame slower and erratic

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from device_sim.world import Raster, World  # noqa: E402  (the baseline only; the drivers never import it)
from drivers.rig import connect_rig, default_rig_path  # noqa: E402

QUERIES = {  # role -> a cheap idempotent query and its transport
    "scanner": ("SCAN:STAT?", "VISA, pyvisa-py TCP socket"),
    "counter": ("ACQ:STAT?", "VISA, pyvisa-py TCP socket"),
    "excitation_laser": ("SYST:LOCK?", "serial pty, OBIS value + OK"),
    "stage": ("STATUS", "serial pty, ASI :A"),
    "shutter_wheel": ("stat?", "serial pty, firmware echo + prompt (C process)"),
}


def timed(call, repeats: int) -> list[float]:
    """Wall times of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def world_frame_times(simulation: dict, raster: Raster, repeats: int, power_fraction: float = 0.5) -> list[float]:
    """Times of the World generating `raster` directly, lit as the simulated rig's frames are."""
    world = World.from_config(simulation)  # the same sample and light as the simulated rig's frames
    world.shutter.open = True
    world.wheel.step = 0  # filter 1 in the beam, as the rig's frames have it (power-on: between filters, dark)
    excitation = world.lasers["excitation"]
    excitation.set_power(excitation.max_power * power_fraction)
    excitation.enable(True, world.clock.now() - 1e3)
    world.frame(raster)
    return timed(lambda: world.frame(raster), repeats)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dwell", type=float, default=1e-6, help="pixel dwell in s (sim time)")
    args = parser.parse_args()
    path = default_rig_path()
    with open(path, "rb") as stream:
        simulation = tomllib.load(stream)["simulation"]
    with connect_rig(path) as rig:
        scanner, counter = rig.by_role("scanner"), rig.by_role("counter")
        wheel, laser = rig.by_role("shutter_wheel"), rig.by_role("excitation_laser")
        wheel.open_shutter()
        wheel.select_filter(1)
        laser.parameters.set("power", laser.max_power() / 2)
        laser.states.set("emission", True)
        laser.wait_until_emitting()
        scanner.configure(512, 512, 50e-9, 50e-9, 0.0, 0.0, args.dwell)
        out = np.empty((512, 512), np.uint32)
        counter.acquire_frame(scanner, out)  # warm up
        driver = timed(lambda: counter.acquire_frame(scanner, out), args.repeats)
        frame_sim = 512 * 512 * args.dwell
        print(f"acquire_frame 512x512 (dwell {args.dwell:g} s, sim frame {frame_sim:g} s at time scale "
              f"{simulation['time_scale']:g} = {frame_sim / simulation['time_scale'] * 1e3:.2f} ms real): "
              f"median {statistics.median(driver) * 1e3:.2f} ms")
        for role, (query, transport) in QUERIES.items():
            device = rig.by_role(role)
            device.ask(query, idempotent=True)
            times = timed(lambda: device.ask(query, idempotent=True), args.queries)
            print(f"round trip {role:16s} {query:11s} {transport:45s} median {statistics.median(times) * 1e6:8.1f} us")
    direct = world_frame_times(simulation, Raster(512, 512, 50e-9, 50e-9, 0.0, 0.0, args.dwell), args.repeats)
    print(f"World.frame 512x512 directly: median {statistics.median(direct) * 1e3:.2f} ms")
    print(f"ratio driver path / World alone: {statistics.median(driver) / statistics.median(direct):.2f}")
    print(f"RATIO rig_frame:driver_path/world_alone {statistics.median(driver) / statistics.median(direct):.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
