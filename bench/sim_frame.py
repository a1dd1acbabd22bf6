"""Benchmark: a 512 x 512 simulated frame (separable Gaussians, banded matrix products) beside a
naive per-emitter numpy loop in the same run, and the query round trip of every transport.

Run: python bench/sim_frame.py  (prints medians and the ratio; not a test)
"""

from __future__ import annotations

import socket
import statistics
import time

import numpy as np
import pyvisa
import serial

from device_sim import Raster, Rig, Sample, World
from device_sim.optics import FWHM_PER_SIGMA


def naive_rate_image(world: World, xs: np.ndarray, ys: np.ndarray, p_sted: float) -> np.ndarray:
    """The baseline: one full-frame 2D Gaussian per emitter, summed in a Python loop."""
    s = world.optics.fwhm(p_sted) / FWHM_PER_SIGMA
    gx, gy = np.meshgrid(xs, ys)
    image = np.zeros(gx.shape)
    for (x, y, _), b, r in zip(world.sample.positions, world.sample.brightness, world.sample.radius):
        se2 = s**2 + r**2 / 5
        image += b * s**2 / se2 * np.exp(-((gx - x) ** 2 + (gy - y) ** 2) / (2 * se2))
    return image


def median_ms(fn, repeats: int) -> float:
    """Median wall time of fn() in milliseconds."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def frame_benchmark() -> None:
    """Print the frame time of World.frame and of the naive loop, and their ratio."""
    sample = Sample.random(np.random.default_rng(0), emitters=200, beads=20, extent=(20e-6, 20e-6, 0.0))
    world = World(sample, seed=0)
    world.shutter.open, world.wheel.step = True, 0
    world.clock.freeze()
    world.lasers["excitation"].set_power(1e-3)
    world.lasers["excitation"].enable(True, world.clock.now())
    world.clock.advance(10.0)
    raster = Raster(512, 512, 40e-9, 40e-9, dwell=10e-6)
    xs, ys = raster.axes()
    world.frame(raster)
    fast, slow = [], []
    for _ in range(3):  # interleaved blocks
        fast.append(median_ms(lambda: world.frame(raster), 10))
        slow.append(median_ms(lambda: world.detector.count(naive_rate_image(world, xs, ys, 0.0), 1e-5, world.rng), 1))
    f, s = statistics.median(fast), statistics.median(slow)
    print(f"512x512 frame, {len(sample)} emitters: World.frame {f:.2f} ms, naive loop {s:.1f} ms, "
          f"ratio {s / f:.0f}x")
    print(f"RATIO sim_frame:naive_loop/world_frame {s / f:.4g}")
    dense = Sample.random(np.random.default_rng(1), emitters=2000, beads=200, extent=(20e-6, 20e-6, 0.0))
    world.sample = dense
    print(f"512x512 frame, {len(dense)} emitters: World.frame {median_ms(lambda: world.frame(raster), 5):.2f} ms")


def round_trips(n: int = 500) -> None:
    """Print the median round trip per query on every transport of a running rig."""
    with Rig({"simulation": {"seed": 0}}) as rig:
        scanner = rig["scanner"].server.port
        with socket.create_connection(("127.0.0.1", scanner)) as sock:
            def raw() -> None:
                sock.sendall(b"SCAN:DWEL?\n")
                while not sock.recv(256).endswith(b"\n"):
                    pass
            print(f"SCPI raw TCP socket:      {median_ms(raw, n) * 1e3:.0f} us/query")
        manager = pyvisa.ResourceManager("@py")
        inst = manager.open_resource(rig["scanner"].address, read_termination="\n", write_termination="\n")
        print(f"SCPI pyvisa-py SOCKET:    {median_ms(lambda: inst.query('SCAN:DWEL?'), n) * 1e3:.0f} us/query")
        inst.close()
        manager.close()
        with serial.Serial(rig["sted_laser"].server.path, 115200, timeout=2) as laser:
            def obis() -> None:
                laser.write(b"SOUR:POW:LEV?\r\n")
                laser.readline()
                laser.readline()
            print(f"OBIS laser, pyserial pty: {median_ms(obis, n) * 1e3:.0f} us/query")
        with serial.Serial(rig["stage"].server.path, 9600, timeout=2) as stage:
            def asi() -> None:
                stage.write(b"W X\r")
                stage.readline()
            print(f"ASI stage, pyserial pty:  {median_ms(asi, n) * 1e3:.0f} us/query")
        with serial.Serial(rig["shutter_wheel"].path, 115200, timeout=2) as wheel:
            def firmware() -> None:
                wheel.write(b"pos?\r")
                wheel.read_until(b"> ")
            print(f"firmware (C) on pty:      {median_ms(firmware, n) * 1e3:.0f} us/query")


if __name__ == "__main__":
    frame_benchmark()
    round_trips()
