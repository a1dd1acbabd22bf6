"""Benchmark: .obf write and read of a 256 MiB uint16 stack, ours beside Imspector's SpecPy.

Both run in this one invocation on the same data (values 0..1023, seeded), raw and zlib. The
oracle runs in a subprocess (its import name collides with ours). Prints throughput and the
ratio ours/theirs for each of the four cases; for raw reads also the time until `data()` is
usable (memory-mapped, pages load when touched) beside a full pass over the data.

Usage: python bench/obf_io.py [--mib 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from specpy import File, Stack  # noqa: E402
from tests.oracle.harness import ensure_installed, oracle_dir  # noqa: E402


def best(seconds_of, repeats: int) -> float:
    return min(seconds_of() for _ in range(repeats))


def time_ours(stack: Stack, scratch: Path, repeats: int) -> dict[str, float]:
    results = {}
    for compression in (False, True):
        path = scratch / f"ours_{int(compression)}.obf"
        kind = "zlib" if compression else "raw"

        def write() -> float:
            start = time.perf_counter()
            with File(path, File.Write) as f:
                f.write(stack, compression)
            return time.perf_counter() - start

        def read(full_pass: bool) -> float:
            start = time.perf_counter()
            with File(path, File.Read) as f:
                values = f.read(0).data()
                if full_pass:
                    int(np.bitwise_or.reduce(values, axis=None))  # touches every page
                else:
                    int(values[::4096].sum())
            return time.perf_counter() - start

        results[f"{kind} write"] = best(write, repeats)
        results[f"{kind} read"] = best(lambda: read(False), repeats)
        results[f"{kind} read+pass"] = best(lambda: read(True), repeats)
    return results


def time_theirs(data_path: Path, scratch: Path, repeats: int) -> dict[str, float] | None:
    reason = ensure_installed()
    if reason:
        print(f"(the real SpecPy is unavailable: {reason})")
        return None
    environment = dict(os.environ, PYTHONPATH=str(oracle_dir()), PYTHONNOUSERSITE="1")
    script = REPO / "bench" / "oracle_obf_timing.py"
    output = subprocess.run([sys.executable, str(script), str(data_path), str(scratch), str(repeats)],
                            capture_output=True, text=True, env=environment, cwd=str(scratch), check=True)
    return json.loads(output.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(20261121)
    planes = args.mib * (1 << 20) // (2 * 1024 * 1024)
    data = rng.integers(0, 1024, (planes, 1024, 1024), dtype=np.uint16)
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        data_path = scratch / "data.npy"
        np.save(data_path, data, allow_pickle=False)
        theirs = time_theirs(data_path, scratch, args.repeats)
        ours = time_ours(Stack(data), scratch, args.repeats)
        zlib_size = (scratch / "ours_1.obf").stat().st_size
    mib = data.nbytes / (1 << 20)
    print(f"{mib:.0f} MiB uint16 stack (values 0..1023; compressed file {zlib_size / (1 << 20):.0f} MiB), "
          f"best of {args.repeats}, {os.cpu_count()} cores")
    print(f"{'case':<16}{'ours MiB/s':>12}{'theirs MiB/s':>14}{'ours/theirs':>13}")
    for case in ("raw write", "raw read", "raw read+pass", "zlib write", "zlib read", "zlib read+pass"):
        their_case = case.replace("+pass", "")
        mine = mib / ours[case]
        if theirs is None:
            print(f"{case:<16}{mine:>12.0f}{'-':>14}{'-':>13}")
            continue
        other = mib / theirs[their_case]
        print(f"{case:<16}{mine:>12.0f}{other:>14.0f}{mine / other:>12.2f}x")
        print(f"RATIO obf_io:{case.replace(' ', '_')}_ours/theirs {mine / other:.4g}")


if __name__ == "__main__":
    main()
