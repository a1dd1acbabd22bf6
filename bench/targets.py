"""Benchmark: analysis products written per second, ours beside bare writes of the same data.

Ours: the full write protocol per product (FITS with provenance and checksums to a temporary
file, fsync, rename, directory fsync; then run, lineage, product and result rows in one
SQLite transaction with synchronous=FULL). Bare: astropy `writeto` of the same arrays and tables
(checksums on), plus a stdlib sqlite3 insert of the same rows in one transaction (SQLite
defaults). Both run here, on the same data, alternating in rounds. Prints products/s and the
ratio ours/bare (goal >= 0.8).

Like for like: both sides write the same five float32 images and the same results table with
CHECKSUM/DATASUM, and both commit their rows durably (ours: WAL + synchronous=FULL; bare: the
rollback journal with SQLite's default synchronous=FULL). Ours does more: provenance cards, the
PARAMETERS and INPUTS tables, the SHA-256, rename + directory fsync, lineage rows. Bare does not
fsync the FITS file; `bare + fsync` does, and is the comparison with the same fsync policy. Ours
renders the FITS bytes itself (specpy.targets.fitsstream), bare builds astropy HDU objects.

Usage: python bench/targets.py [--products 60] [--size 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from astropy.io import fits  # noqa: E402

from specpy.targets import Database, upgrade_database  # noqa: E402
from specpy.targets.pipeline import poisson_ivar, write_outputs  # noqa: E402
from tests.targets.helpers import bead_stack, fake_analysis, fake_pipeline  # noqa: E402

BARE_SCHEMA = """
CREATE TABLE product (id INTEGER PRIMARY KEY, path TEXT UNIQUE, size INTEGER);
CREATE TABLE bead_summary (id INTEGER PRIMARY KEY, product_id INTEGER, spots INTEGER, fwhm_median REAL);
CREATE TABLE spot_fit (id INTEGER PRIMARY KEY, product_id INTEGER, spot INTEGER, x REAL, y REAL, norm REAL,
                       fwhm_x REAL, fwhm_y REAL, bg REAL, status INTEGER, cstat REAL);
"""


def workload(count: int, size: int, first: int) -> list[tuple]:
    """Distinct stacks (distinct task keys) with their fit-free analyses, made before any timing."""
    items = []
    for seed in range(first, first + count):
        stack = bead_stack(seed, size=size, beads=5)
        items.append((stack, fake_analysis(stack, {})))
    return items


def ours(database: Database, items: list[tuple]) -> float:
    """Seconds to write every product with the full protocol."""
    pipeline = fake_pipeline(database)
    start = time.perf_counter()
    for stack, analysis in items:
        write_outputs(database, pipeline.task_for(stack), stack, analysis)
    return time.perf_counter() - start


def bare(directory: Path, connection: sqlite3.Connection, items: list[tuple], tag: str, fsync: bool) -> float:
    """Seconds to writeto the same HDUs and insert the same rows with sqlite3 (and, if asked, fsync the file)."""
    start = time.perf_counter()
    for index, (stack, analysis) in enumerate(items):
        flux = stack.data()
        hdus = fits.HDUList([fits.PrimaryHDU()] + [
            fits.ImageHDU(np.asarray(array, np.float32), name=name) for name, array in (
                ("FLUX", flux), ("FLUX_IVAR", poisson_ivar(flux)), ("BACKGROUND", analysis.background),
                ("MODEL", analysis.model), ("MODEL_IVAR", poisson_ivar(analysis.model)))]
            + [fits.table_to_hdu(analysis.spots)])
        path = directory / f"bare-{tag}-{index}.fits"
        hdus.writeto(path, checksum=True)
        if fsync:
            descriptor = os.open(path, os.O_RDONLY)
            os.fsync(descriptor)
            os.close(descriptor)
        with connection:
            product = connection.execute("INSERT INTO product (path, size) VALUES (?, ?)", (str(path), path.stat().st_size)).lastrowid
            summary = analysis.summary_row(0, "image")
            connection.execute("INSERT INTO bead_summary (product_id, spots, fwhm_median) VALUES (?, ?, ?)",
                               (product, summary["spots"], summary["fwhm_median"]))
            connection.executemany(
                "INSERT INTO spot_fit (product_id, spot, x, y, norm, fwhm_x, fwhm_y, bg, status, cstat) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(product, row["spot"], row["x"], row["y"], row["norm"], row["fwhm_x"], row["fwhm_y"], row["bg"], row["status"], row["cstat"])
                 for row in analysis.spot_rows(0, "image")])
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=60, help="products per round and side (default %(default)s)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each side counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=REPO / "bench") as scratch:
        directory = Path(scratch)
        url = f"sqlite:///{directory / 'specpy.db'}"
        upgrade_database(url)
        database = Database(url, directory / "products")
        connection = sqlite3.connect(directory / "bare.db")
        connection.executescript(BARE_SCHEMA)
        best_ours = best_bare = best_synced = float("inf")
        for round_ in range(args.rounds):
            items = workload(args.products, args.size, 1 + round_ * args.products)
            best_bare = min(best_bare, bare(directory, connection, items, f"{round_}", fsync=False))
            best_synced = min(best_synced, bare(directory, connection, items, f"{round_}s", fsync=True))
            best_ours = min(best_ours, ours(database, items))
        size = sum(path.stat().st_size for path in (directory / "products").rglob("*.fits")) / (args.rounds * args.products)
        database.close()
        connection.close()
    rate_ours, rate_bare, rate_synced = (args.products / best for best in (best_ours, best_bare, best_synced))
    print(f"{args.products} products of {args.size}x{args.size} px ({size / 1e6:.2f} MB FITS each), best of {args.rounds} rounds")
    print(f"  ours (FITS + provenance, fsync, rename, dir fsync, rows in one FULL-sync transaction): {rate_ours:7.1f} products/s")
    print(f"  bare (astropy writeto + sqlite3 insert of the same data):                         {rate_bare:7.1f} products/s")
    print(f"  bare + fsync of each FITS file (same durability for the file as ours):            {rate_synced:7.1f} products/s")
    print(f"  ratio ours/bare: {rate_ours / rate_bare:.2f}x (goal >= 0.8x); ours/(bare + fsync): {rate_ours / rate_synced:.2f}x")
    print(f"RATIO targets:ours/bare {rate_ours / rate_bare:.4g} >=0.8\nRATIO targets:ours/bare+fsync {rate_ours / rate_synced:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
