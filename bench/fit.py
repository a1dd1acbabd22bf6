"""Benchmark of the fit session against per-item loops run in the same process.

B1: 2D Gaussian spots (7x7 and 11x11 ROIs; 200/1000/5000 photons; background 10/px; sigma 1.3 px)
    - the session's batch fit on N items vs curve_fit, least_squares (Poisson deviance residuals)
    and, when installed, lmfit and iminuit loops on a subsample: fits/s and x0 RMSE / sqrt(CRLB).
B2: bead PSF QC, 64 beads of 15x15x41 voxels, 3D Gaussian (250 nm / 600 nm FWHM, 100 nm voxels,
    also an undersampled case): FWHM bias of the pixel-integrated and point-sampled models.
B3: FLIM per pixel, 128x128 x 256 bins over 12.5 ns, mono-exponential (2.5 ns) with a 200 ps IRF:
    pixels/s, tau bias and RMSE / sqrt(CRLB), chi2 with data variance as the biased baseline,
    and a global fit with the lifetime shared by all pixels.

Usage: python bench/fit.py [--quick] [--workers N] [--json out.json]
BLAS threads are pinned to 1 (the session threads over chunks itself). Timings are the best of
`--repeats` runs; the machine may be shared, so numbers vary between runs.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import OptimizeWarning, curve_fit, least_squares  # noqa: E402
from scipy.special import erf  # noqa: E402

from specpy.fit import FWHM_PER_SIGMA, Session, Status  # noqa: E402
from specpy.fit.components import Grid, make_component, moments  # noqa: E402

SIGMA = 1.3
BACKGROUND = 10.0


# --- B1: spots ---------------------------------------------------------------------------------


def simulate_spots(n: int, size: int, photons: float, seed: int):
    """Poisson windows of a point-sampled symmetric Gaussian + flat background, and the truth."""
    rng = np.random.default_rng(seed)
    c = (size - 1) / 2
    x0, y0 = c + rng.uniform(-0.5, 0.5, n), c + rng.uniform(-0.5, 0.5, n)
    yy, xx = np.mgrid[0:size, 0:size]
    mu = BACKGROUND + photons * np.exp(-((xx - x0[:, None, None]) ** 2 + (yy - y0[:, None, None]) ** 2) / (2 * SIGMA**2)) / (2 * math.pi * SIGMA**2)
    return rng.poisson(mu).astype(float), x0, y0


def crlb_x0(size: int, photons: float, x0: np.ndarray, y0: np.ndarray) -> np.ndarray:
    """Cramer-Rao bound on x0 (variance) per item, from the Poisson Fisher matrix of the 5-parameter model."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dx, dy = xx - x0[:, None, None], yy - y0[:, None, None]
    g = np.exp(-(dx**2 + dy**2) / (2 * SIGMA**2)) / (2 * math.pi * SIGMA**2)
    mu = BACKGROUND + photons * g
    jac = np.stack([g, photons * g * dx / SIGMA**2, photons * g * dy / SIGMA**2, photons * g * ((dx**2 + dy**2) / SIGMA**3 - 2 / SIGMA), np.ones_like(g)], 1)
    jac = jac.reshape(len(x0), 5, -1)
    fisher = np.einsum("npm,nqm->npq", jac / mu.reshape(len(x0), 1, -1), jac)
    return np.linalg.inv(fisher)[:, 1, 1]


def start_values(counts: np.ndarray) -> np.ndarray:
    """The same start for every method: moments and a low-percentile background (norm, x, y, sigma, bg)."""
    size = counts.shape[-1]
    axis = np.arange(size, dtype=float)[None, :]
    grid = Grid((axis, axis), (1.0, 1.0))
    total, centres, widths = moments(counts, grid, 2)
    bg = np.percentile(counts.reshape(len(counts), -1), 20, axis=1)
    return np.stack([np.maximum(total, 1.0), centres[0], centres[1], 0.5 * (widths[0] + widths[1]), bg], 1)


def gauss_model(xy, norm, x0, y0, sigma, bg):
    x, y = xy
    return bg + norm * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2)) / (2 * math.pi * sigma**2)


def session_spots(counts: np.ndarray, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The session's batch fit; returns fitted x0 and status."""
    s = Session(workers=workers)
    s.data(counts, batch_axes=0)
    s.com("gauss2d")
    s.com("const")
    s.par_couple(1, 1, "fwhm_y", 1, 1, "fwhm_x")
    r = s.fit(tol=1e-4)
    return r.values["s1.c1.x"], np.asarray(r.status)


def loop_curve_fit(counts, starts):
    size = counts.shape[-1]
    yy, xx = np.mgrid[0:size, 0:size]
    xy = (xx.ravel().astype(float), yy.ravel().astype(float))
    out = np.full(len(counts), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        for i, (data, p0) in enumerate(zip(counts, starts)):
            try:
                popt, _ = curve_fit(gauss_model, xy, data.ravel(), p0=p0)
                out[i] = popt[1]
            except RuntimeError:
                pass
    return out


def loop_least_squares(counts, starts):
    size = counts.shape[-1]
    yy, xx = np.mgrid[0:size, 0:size]
    xy = (xx.ravel().astype(float), yy.ravel().astype(float))
    out = np.full(len(counts), np.nan)
    for i, (data, p0) in enumerate(zip(counts, starts)):
        n = data.ravel()
        nlogn = np.where(n > 0, n * np.log(np.where(n > 0, n, 1.0)), 0.0)

        def deviance(p):
            mu = np.maximum(gauss_model(xy, *p), 1e-9)
            d = 2 * (mu - n + np.where(n > 0, nlogn - n * np.log(mu), 0.0))
            return np.sign(n - mu) * np.sqrt(np.maximum(d, 0.0))

        out[i] = least_squares(deviance, p0).x[1]
    return out


def loop_lmfit(counts, starts):
    import lmfit

    size = counts.shape[-1]
    yy, xx = np.mgrid[0:size, 0:size]
    xy = (xx.ravel().astype(float), yy.ravel().astype(float))
    model = lmfit.Model(gauss_model, independent_vars=["xy"])
    out = np.full(len(counts), np.nan)
    for i, (data, p0) in enumerate(zip(counts, starts)):
        params = model.make_params(norm=p0[0], x0=p0[1], y0=p0[2], sigma=p0[3], bg=p0[4])
        out[i] = model.fit(data.ravel(), params, xy=xy).params["x0"].value
    return out


def loop_iminuit(counts, starts):
    from iminuit import Minuit

    size = counts.shape[-1]
    yy, xx = np.mgrid[0:size, 0:size]
    xy = (xx.ravel().astype(float), yy.ravel().astype(float))
    out = np.full(len(counts), np.nan)
    for i, (data, p0) in enumerate(zip(counts, starts)):
        n = data.ravel()

        def nll(norm, x0, y0, sigma, bg):
            mu = np.maximum(gauss_model(xy, norm, x0, y0, sigma, bg), 1e-9)
            return float(np.sum(mu - n * np.log(mu)))

        m = Minuit(nll, *p0)
        m.errordef = Minuit.LIKELIHOOD
        m.migrad()
        out[i] = m.values["x0"]
    return out


def available(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def timed(repeats: int, function, *args):
    """Best wall time of `repeats` runs and the last result."""
    best, result = math.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - t)
    return best, result


def bench_spots(args) -> list[dict]:
    rows = []
    loops = [("curve_fit loop (LSQ)", loop_curve_fit), ("least_squares loop (deviance)", loop_least_squares)]
    loops += [("lmfit loop (LSQ)", loop_lmfit)] if available("lmfit") else []
    loops += [("iminuit loop (Poisson NLL)", loop_iminuit)] if available("iminuit") else []
    for size in (7, 11):
        for photons in (200.0, 1000.0, 5000.0):
            counts, x0, y0 = simulate_spots(args.n, size, photons, seed=int(size * 10000 + photons))
            crlb = np.sqrt(np.mean(crlb_x0(size, photons, x0, y0)))
            seconds, (fit_x, status) = timed(args.repeats, session_spots, counts, args.workers)
            failed = ((status != Status.CONVERGED) & (status != Status.AT_BOUND)) | (np.abs(fit_x - x0) > 2)
            good = ~failed
            cell = {"roi": size, "photons": photons, "crlb_x0": crlb}
            session_rate = args.n / seconds
            rows.append(dict(cell, method=f"session (N={args.n})", fits_per_s=session_rate,
                             rmse_over_crlb=float(np.sqrt(np.mean((fit_x[good] - x0[good]) ** 2)) / crlb),
                             bias=float(np.mean(fit_x[good] - x0[good])), failures=float(failed.mean())))
            m = args.loop_n
            starts = start_values(counts[:m])
            for name, loop in loops:
                t = time.perf_counter()
                lx = loop(counts[:m], starts)
                rate = m / (time.perf_counter() - t)
                bad = ~np.isfinite(lx) | (np.abs(lx - x0[:m]) > 2)
                rows.append(dict(cell, method=f"{name} (N={m})", fits_per_s=rate,
                                 rmse_over_crlb=float(np.sqrt(np.mean((lx[~bad] - x0[:m][~bad]) ** 2)) / np.sqrt(np.mean(crlb_x0(size, photons, x0[:m], y0[:m])))),
                                 bias=float(np.mean(lx[~bad] - x0[:m][~bad])), failures=float(bad.mean()), speedup=session_rate / rate))
            print_rows(rows[-1 - len(loops):], header=len(rows) == 1 + len(loops))
    return rows


# --- B2: beads ---------------------------------------------------------------------------------


def simulate_beads(n, shape_zyx, sigma_px, photons, background, seed):
    """Poisson voxels of a pixel-integrated 3D Gaussian; sigma_px per axis (x, y, z)."""
    rng = np.random.default_rng(seed)
    centre = [(s - 1) / 2 for s in shape_zyx[::-1]]
    pos = np.stack([c + rng.uniform(-0.5, 0.5, n) for c in centre], 1)
    factors = []
    for i, (length, sigma) in enumerate(zip(shape_zyx[::-1], sigma_px)):
        k = np.arange(length)[None, :]
        a = (k - 0.5 - pos[:, i : i + 1]) / (sigma * math.sqrt(2))
        b = (k + 0.5 - pos[:, i : i + 1]) / (sigma * math.sqrt(2))
        factors.append(0.5 * (erf(b) - erf(a)))
    mu = background + photons * factors[2][:, :, None, None] * factors[1][:, None, :, None] * factors[0][:, None, None, :]
    return rng.poisson(mu).astype(float)


def bench_beads(args) -> list[dict]:
    rows = []
    pixel = 100e-9
    cases = [("250/600 nm at 100 nm voxels", (250e-9, 250e-9, 600e-9)), ("undersampled, sigma 0.8 px", (0.8 * FWHM_PER_SIGMA * pixel,) * 2 + (600e-9,))]
    for label, fwhm in cases:
        sigma_px = [f / FWHM_PER_SIGMA / pixel for f in fwhm]
        counts = simulate_beads(64, (41, 15, 15), sigma_px, 5e4, 5.0, seed=7)
        for integrate in (True, False):
            def run():
                s = Session(workers=args.workers)
                s.data_array(counts, pixel=[pixel] * 3 + [1.0], offset=[0.0] * 3 + [-0.5], units=["m"] * 3 + [""], batch_axes=0)
                s.com("gauss3d", integrate=integrate)
                s.com("const")
                return s.fit()

            seconds, r = timed(args.repeats, run)
            bias = [float(np.mean(r.values[f"s1.c1.fwhm_{a}"]) / f - 1) for a, f in zip("xyz", fwhm)]
            spread = [float(np.std(r.values[f"s1.c1.fwhm_{a}"]) / f) for a, f in zip("xyz", fwhm)]
            rows.append({"case": label, "model": "pixel-integrated" if integrate else "point-sampled", "seconds_per_64_beads": seconds,
                         "fwhm_bias_x": bias[0], "fwhm_bias_y": bias[1], "fwhm_bias_z": bias[2], "fwhm_spread_x": spread[0],
                         "failures": float(np.mean(r.status != Status.CONVERGED))})
        # baseline: curve_fit loop of the point-sampled model on the same ROIs
        zz, yy, xx = np.mgrid[0:41, 0:15, 0:15].astype(float)

        def g3(xyz, norm, x0, y0, z0, sx, sy, sz, bg):
            x, y, z = xyz
            return bg + norm * np.exp(-((x - x0) ** 2 / (2 * sx**2) + (y - y0) ** 2 / (2 * sy**2) + (z - z0) ** 2 / (2 * sz**2))) / ((2 * math.pi) ** 1.5 * sx * sy * sz)

        t = time.perf_counter()
        fx = []
        xyz = (xx.ravel(), yy.ravel(), zz.ravel())
        for data in counts:
            p0 = [data.sum() - 5.0 * data.size, 7, 7, 20, 1.5, 1.5, 3, 5.0]
            fx.append(curve_fit(g3, xyz, data.ravel(), p0=p0)[0][4] * FWHM_PER_SIGMA * pixel)
        seconds = time.perf_counter() - t
        rows.append({"case": label, "model": "curve_fit loop, point-sampled", "seconds_per_64_beads": seconds,
                     "fwhm_bias_x": float(np.mean(fx) / fwhm[0] - 1), "fwhm_spread_x": float(np.std(fx) / fwhm[0])})
    print("\nB2 bead PSF QC (64 beads, 15x15x41 voxels, 5e4 photons, background 5/voxel)")
    print("| case | model | s / 64 beads | FWHM bias x | y | z | spread x | failures |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        yz = " | ".join(f"{r[k]:+.2%}" if k in r else "-" for k in ("fwhm_bias_y", "fwhm_bias_z"))
        failures = f"{r['failures']:.1%}" if "failures" in r else "-"
        print(f"| {r['case']} | {r['model']} | {r['seconds_per_64_beads']:.3f} | {r['fwhm_bias_x']:+.2%} | {yz} | {r['fwhm_spread_x']:.2%} | {failures} |")
    return rows


# --- B3: lifetimes -----------------------------------------------------------------------------


def bench_flim(args) -> list[dict]:
    rows = []
    side = args.flim_side
    bins, period = 256, 12.5e-9
    step = period / bins
    tau, t0, irf = 2.5e-9, 1.0e-9, 200e-12
    t = (np.arange(bins) + 0.5) * step
    decay = make_component("expdecay", {"period": period})
    grid = Grid((t[None, :],), (step,))
    truth = {"norm": np.array([1.0]), "tau": np.array([tau]), "t0": np.array([t0]), "irf_fwhm": np.array([irf])}
    shape, jac = decay.evaluate(grid, truth, frozenset({"norm", "tau"}))
    shape = shape[0]
    for photons in (500.0, 5000.0):
        rng = np.random.default_rng(int(photons))
        bg = 0.02 * photons / bins
        mu = photons * shape + bg
        counts = rng.poisson(np.broadcast_to(mu, (side, side, bins))).astype(float)
        # CRLB of tau for (norm, tau, bg) free
        J = np.stack([jac["norm"][0], photons * jac["tau"][0], np.ones(bins)])
        crlb_tau = math.sqrt(np.linalg.inv((J / mu) @ J.T)[1, 1])

        def run(stat="cstat", variance=None, shared=False):
            s = Session(workers=args.workers)
            s.data_array(counts, pixel=[step, 1.0, 1.0], offset=[0.0, -0.5, -0.5], units=["s", "pix", "pix"], batch_axes=(0, 1), stat=stat, variance=variance)
            s.com("expdecay", period=period)
            s.com("const")
            s.par(1, 1, "t0", t0, thawn=False)
            s.par(1, 1, "irf_fwhm", irf, thawn=False)
            if shared:
                s.par_share(1, 1, "tau")
            return s.fit(tol=1e-4)

        n = side * side
        for label, kwargs in (("session, C-stat", {}), ("session, chi2 data variance", {"stat": "chi2", "variance": "data"}), ("session, global tau (shared)", {"shared": True})):
            seconds, r = timed(args.repeats, lambda: run(**kwargs))
            est = r.values["s1.c1.tau"]
            row = {"photons": photons, "method": label, "pixels_per_s": n / seconds, "tau_bias": float(np.mean(est) / tau - 1),
                   "failures": float(np.mean((r.status != Status.CONVERGED) & (r.status != Status.AT_BOUND)))}
            if kwargs.get("shared"):  # one estimate: report its error against the bound and its distance from the truth
                row["error_over_crlb"] = float(r.errors["s1.c1.tau"][0] / (crlb_tau / math.sqrt(n)))
                row["z"] = float((est[0] - tau) / r.errors["s1.c1.tau"][0])
            else:
                row["rmse_over_crlb"] = float(np.sqrt(np.mean((est - tau) ** 2)) / crlb_tau)
            rows.append(row)
        m = min(args.loop_n, n)
        flat = counts.reshape(n, bins)[:m]

        def f(tt, norm, lifetime_ns, level):
            p = {"norm": np.array([norm]), "tau": np.array([lifetime_ns * 1e-9]), "t0": truth["t0"], "irf_fwhm": truth["irf_fwhm"]}
            values, _ = decay.evaluate(Grid((tt[None, :],), (step,)), p, frozenset())
            return values[0] + level

        start = time.perf_counter()
        est = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for data in flat:
                try:
                    est.append(curve_fit(f, t, data, p0=[data.sum(), 2.0, 1.0])[0][1] * 1e-9)
                except RuntimeError:
                    est.append(np.nan)
        rate = m / (time.perf_counter() - start)
        est = np.array(est)
        ok = np.isfinite(est)
        rows.append({"photons": photons, "method": f"curve_fit loop (N={m})", "pixels_per_s": rate, "tau_bias": float(np.mean(est[ok]) / tau - 1),
                     "rmse_over_crlb": float(np.sqrt(np.mean((est[ok] - tau) ** 2)) / crlb_tau), "failures": float(np.mean(~ok))})
    print(f"\nB3 FLIM ({side}x{side} pixels x {bins} bins over 12.5 ns, tau 2.5 ns, IRF 200 ps, background 2 %)")
    print("| photons/px | method | pixels/s | tau bias | tau RMSE/sqrt(CRLB) | failures |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        precision = f"{r['rmse_over_crlb']:.3f}" if "rmse_over_crlb" in r else f"error/sqrt(CRLB/N) {r['error_over_crlb']:.3f}, z {r['z']:+.1f}"
        print(f"| {r['photons']:.0f} | {r['method']} | {r['pixels_per_s']:,.0f} | {r['tau_bias']:+.2%} | {precision} | {r['failures']:.2%} |")
    print("(failures: neither converged nor converged on a bound; a global fit with per-pixel amplitudes and\n"
          " backgrounds carries a small-sample (Neyman-Scott) bias at low counts that does not shrink with N)")
    return rows


# --- output ------------------------------------------------------------------------------------


def print_rows(rows: list[dict], header: bool) -> None:
    if header:
        print("B1 2D Gaussian spots (sigma 1.3 px, background 10/px, 5 free parameters)")
        print("| ROI | photons | method | fits/s | session speed-up | x0 RMSE/sqrt(CRLB) | bias (px) | failures |")
        print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        speed = f"{r['speedup']:.0f}x" if "speedup" in r else "-"
        print(f"| {r['roi']}x{r['roi']} | {r['photons']:.0f} | {r['method']} | {r['fits_per_s']:,.0f} | {speed} | "
              f"{r['rmse_over_crlb']:.3f} | {r['bias']:+.4f} | {r['failures']:.2%} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--workers", type=int, default=None, help="session worker threads (default: all CPUs)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats for session runs (best is kept)")
    parser.add_argument("--json", help="also write all rows to this JSON file")
    parser.add_argument("--only", choices=["spots", "beads", "flim"], action="append", help="run only these parts")
    args = parser.parse_args()
    args.n, args.loop_n, args.flim_side = (5000, 200, 32) if args.quick else (100_000, 2000, 128)
    workers = args.workers or Session().workers
    print(f"# bench/fit.py: {workers} session worker thread(s), BLAS threads pinned to 1, numpy {np.__version__}\n")
    parts = args.only or ["spots", "beads", "flim"]
    out = {}
    if "spots" in parts:
        out["spots"] = bench_spots(args)
    if "beads" in parts:
        out["beads"] = bench_beads(args)
    if "flim" in parts:
        out["flim"] = bench_flim(args)
    for r in out.get("spots", []):  # machine-readable lines for bench/run_all.py
        if "speedup" in r:
            print(f"RATIO fit:session/{r['method'].split()[0]}_roi{r['roi']}_{r['photons']:.0f}ph {r['speedup']:.4g}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
