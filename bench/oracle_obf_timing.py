"""Times Imspector's own SpecPy (the oracle) on one stack; run by bench/obf_io.py in a subprocess.

Usage: oracle_obf_timing.py DATA.npy SCRATCH_DIR REPEATS; prints one JSON line of best seconds.
"""

import json
import sys
import time

import numpy as np
import specpy  # the oracle's (its directory is first on sys.path)


def best(seconds_of, repeats):
    return min(seconds_of() for _ in range(repeats))


def main():
    data = np.load(sys.argv[1], allow_pickle=False)
    scratch, repeats = sys.argv[2], int(sys.argv[3])
    stack = specpy.Stack(data)
    results = {}
    for compression in (False, True):
        path = f"{scratch}/oracle_{int(compression)}.obf"

        def write():
            start = time.perf_counter()
            f = specpy.File(path, specpy.File.Write)
            f.write(stack, compression)
            del f
            return time.perf_counter() - start

        def read():
            start = time.perf_counter()
            f = specpy.File(path, specpy.File.Read)
            values = f.read(0).data()
            int(values[::4096].sum())  # their data() is materialised; a light touch for symmetry
            del f
            return time.perf_counter() - start

        kind = "zlib" if compression else "raw"
        results[f"{kind} write"] = best(write, repeats)
        results[f"{kind} read"] = best(read, repeats)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
