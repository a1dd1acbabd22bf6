"""Physics of the World checked against its own ground truth: counts, STED law, dead time,
noise statistics, light path, stage and laser kinematics, the clock, seeding."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.optimize import curve_fit

from device_sim import Clock, DeviceError, Raster, Sample, World
from device_sim.optics import FWHM_PER_SIGMA

from tests.sim.conftest import bead_world


def switch_on(world: World, laser: str, power: float) -> None:
    """Set a laser's power, enable it and let simulated time pass its warm-up."""
    world.clock.freeze()
    world.lasers[laser].set_power(power)
    world.lasers[laser].enable(True, world.clock.now())
    world.clock.advance(world.lasers[laser].warmup + 1.0)


def expected_mean(world: World, overlap_rate: float, excitation: float, gate: float) -> float:
    """(brightness x overlap + background) x excitation (x filter), plus dark counts, through
    the dead time, over one gate."""
    t = world.truth()
    light = (overlap_rate + t["background_rate"]) * excitation + t["dark_rate"]
    return light / (1 + light * t["dead_time"]) * gate


@pytest.mark.parametrize("offset", [0.0, 60e-9, 120e-9, 200e-9])
def test_point_emitter_counts_match_brightness_dwell_and_psf_overlap(offset: float) -> None:
    world = bead_world()
    switch_on(world, "excitation", world.optics.p_ref)
    truth = world.truth()
    sigma = truth["d0"] / FWHM_PER_SIGMA
    world.beam = (offset, 0.0)
    gate, n = 1e-3, 4000
    counts = world.point_counts(n, gate)
    overlap = np.exp(-0.5 * (offset / sigma) ** 2)
    mu = expected_mean(world, truth["brightness"][0] * overlap, 1.0, gate)
    assert abs(counts.mean() - mu) < 4 * np.sqrt(mu / n)


def test_bead_counts_include_the_bead_psf_overlap() -> None:
    world = bead_world()
    switch_on(world, "excitation", 0.5 * world.optics.p_ref)
    truth = world.truth()
    x, y, _ = truth["positions"][1]
    world.beam = (x, y)
    s = truth["d0"] / FWHM_PER_SIGMA
    sz = truth["d0_axial"] / FWHM_PER_SIGMA
    b2 = truth["radius"][1] ** 2 / 5
    overlap = s**2 / (s**2 + b2) * np.sqrt(sz**2 / (sz**2 + b2))
    gate, n = 1e-3, 4000
    counts = world.point_counts(n, gate)
    mu = expected_mean(world, truth["brightness"][1] * overlap, 0.5, gate)
    assert abs(counts.mean() - mu) < 4 * np.sqrt(mu / n)


def gaussian2d(xy, amplitude, x0, y0, sigma, background):
    x, y = xy
    return amplitude * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2)) + background


@pytest.mark.parametrize("ratio", [0.0, 1.0, 3.0, 8.0, 24.0])
def test_imaged_bead_fwhm_follows_the_sted_law(ratio: float) -> None:
    radius = 20e-9
    world = World(Sample([[0.0, 0.0, 0.0]], [1e6], [radius]), seed=3)
    world.shutter.open, world.wheel.step = True, 0
    switch_on(world, "excitation", world.optics.p_ref)
    switch_on(world, "sted", ratio * world.optics.psat)
    raster = Raster(nx=128, ny=128, pixel_x=8e-9, pixel_y=8e-9, dwell=1e-3)
    image = world.frame(raster).astype(float)
    xs, ys = raster.axes()
    grid = np.meshgrid(xs, ys)
    start = (image.max(), 0.0, 0.0, 80e-9, 0.0)
    (_, _, _, sigma, _), _ = curve_fit(gaussian2d, (grid[0].ravel(), grid[1].ravel()),
                                       image.ravel(), p0=start)
    d = world.truth()["d0"] / np.sqrt(1 + ratio)  # the STED law
    expected = np.hypot(d, FWHM_PER_SIGMA * radius / np.sqrt(5))  # bead size adds in quadrature
    assert abs(FWHM_PER_SIGMA * abs(sigma) / expected - 1) < 0.03


def test_effective_fwhm_is_exactly_the_sted_law() -> None:
    world = World(Sample(), seed=0)
    for p in [0.0, 1e-3, 5e-3, 0.2]:
        assert world.optics.fwhm(p) == pytest.approx(world.optics.d0 / np.sqrt(1 + p / world.optics.psat), rel=1e-12)


def test_dead_time_saturates_the_count_rate() -> None:
    rates = []
    for brightness in [1e6, 1e8, 1e9, 1e10]:
        world = World(Sample([[0, 0, 0]], [brightness], [0.0]), seed=1)
        world.shutter.open, world.wheel.step = True, 0
        switch_on(world, "excitation", world.optics.p_ref)
        rates.append(world.point_counts(200, 1e-4).mean() / 1e-4)
    tau = world.truth()["dead_time"]
    assert all(a < b for a, b in zip(rates, rates[1:]))
    assert rates[-1] < 1 / tau and rates[-1] > 0.99 / tau
    assert rates[2] == pytest.approx(1e9 / (1 + 1e9 * tau), rel=0.01)


def test_counts_are_poisson_and_seeded() -> None:
    world = World(Sample(), seed=11)
    world.shutter.open, world.wheel.step = True, 0
    switch_on(world, "excitation", world.optics.p_ref)
    raster = Raster(nx=512, ny=512, dwell=0.02)
    frame = world.frame(raster)
    assert frame.var() / frame.mean() == pytest.approx(1.0, abs=0.02)
    again = World(Sample(), seed=11)
    again.shutter.open, again.wheel.step = True, 0
    switch_on(again, "excitation", again.optics.p_ref)
    assert np.array_equal(again.frame(raster), frame)
    other = World(Sample(), seed=12)
    other.shutter.open, other.wheel.step = True, 0
    switch_on(other, "excitation", other.optics.p_ref)
    assert not np.array_equal(other.frame(raster), frame)


def test_random_samples_are_seeded() -> None:
    a = Sample.random(np.random.default_rng(5), emitters=50, beads=5)
    b = Sample.random(np.random.default_rng(5), emitters=50, beads=5)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.brightness, b.brightness)
    assert len(a) == 55 and (a.radius > 0).sum() == 5


def test_shutter_and_filter_scale_the_light_but_not_dark_counts() -> None:
    world = bead_world()
    switch_on(world, "excitation", world.optics.p_ref)
    truth = world.truth()
    gate, n = 1e-3, 3000
    open_filter = world.point_counts(n, gate).mean()
    world.wheel.step = world.wheel.steps_per_position  # filter 2: transmission 0.5
    half = world.point_counts(n, gate).mean()
    # the filter scales signal and background alike, as the excitation power does
    mu_half = expected_mean(world, truth["brightness"][0], truth["transmissions"][1], gate)
    assert half < open_filter
    assert abs(half - mu_half) < 4 * np.sqrt(mu_half / n)
    world.wheel.step = 3  # between filters: the frame blocks the light
    world.shutter.open = True
    between = world.point_counts(n, gate).mean()
    world.wheel.step = 0
    world.shutter.open = False
    closed = world.point_counts(n, gate).mean()
    dark = truth["dark_rate"] * gate
    for mean in (between, closed):
        assert abs(mean - dark) < 4 * np.sqrt(dark / n)


def test_stage_moves_at_finite_speed_within_limits_and_homes() -> None:
    world = World(Sample(), seed=0)
    world.clock.freeze()
    x = world.stage.axes["x"]
    x.move_to(1e-3, world.clock.now())
    world.clock.advance(0.5 * 1e-3 / x.speed)
    assert x.position(world.clock.now()) == pytest.approx(0.5e-3)
    assert world.stage.moving(world.clock.now())
    world.clock.advance(1.0)
    assert x.position(world.clock.now()) == 1e-3 and not world.stage.moving(world.clock.now())
    with pytest.raises(ValueError):
        x.move_to(x.high + 1e-6, world.clock.now())
    x.trip_limit(world.clock.now())
    with pytest.raises(DeviceError):
        x.move_to(0.0, world.clock.now())
    x.home(world.clock.now())
    assert not x.homed(world.clock.now())
    world.clock.advance(1.0)
    assert not x.moving(world.clock.now()) and x.homed(world.clock.now()) and x.position(world.clock.now()) == 0.0


def test_laser_warm_up_interlock_and_limits() -> None:
    world = World(Sample(), seed=0)
    world.clock.freeze()
    laser = world.lasers["sted"]
    with pytest.raises(ValueError):
        laser.set_power(laser.max_power * 1.01)
    laser.set_power(0.3)
    laser.enable(True, world.clock.now())
    assert laser.output(world.clock.now()) == 0.0 and laser.warming_up(world.clock.now())
    world.clock.advance(laser.warmup)
    assert laser.output(world.clock.now()) == 0.3
    laser.set_interlock(closed=False)
    assert laser.output(world.clock.now()) == 0.0 and not laser.enabled
    with pytest.raises(DeviceError):
        laser.enable(True, world.clock.now())


def test_clock_freezes_advances_and_wakes_waiters() -> None:
    clock = Clock(time_scale=10.0)
    clock.freeze()
    t0 = clock.now()
    woke = threading.Event()
    waiter = threading.Thread(target=lambda: clock.wait_until(t0 + 5.0) and woke.set())
    waiter.start()
    assert not woke.wait(0.05) and clock.now() == t0
    clock.advance(5.0)
    waiter.join(timeout=2.0)
    assert woke.is_set() and clock.now() == t0 + 5.0
    assert clock.wait_until(t0 + 100.0, timeout=0.01) is False
    clock.resume()
    assert clock.sleep(0.01)


def test_world_from_config_and_unknown_keys() -> None:
    world = World.from_config({
        "seed": 4, "time_scale": 50.0,
        "optics": {"d0": 240e-9, "psat": 2e-3},
        "sample": {"emitter": [{"x": 1e-6, "y": 0.0, "brightness": 3e5}]},
        "lasers": {"sted": {"max_power": 0.5}},
        "stage": {"x": {"speed": 1e-3}},
        "filter_wheel": {"transmissions": [1.0, 0.3]},
    })
    truth = world.truth()
    assert truth["d0"] == 240e-9 and truth["psat"] == 2e-3
    assert truth["positions"].tolist() == [[1e-6, 0.0, 0.0]] and world.clock.time_scale == 50.0
    assert world.lasers["sted"].max_power == 0.5 and world.stage.axes["x"].speed == 1e-3
    with pytest.raises(ValueError, match="psatt"):
        World.from_config({"optics": {"psatt": 1.0}})
    with pytest.raises(ValueError, match="emiters"):
        World.from_config({"sample": {"emiters": 3}})
