"""Driver I/O benchmark: a driver parameter read through VisaTransport against a local SCPI server, beside a
raw socket loop and a bare pyvisa query loop; validated tree get/set beside plain attribute access.

Every baseline runs in the same process, interleaved with the candidate in blocks; the ratios printed are
medians over the blocks. The SCPI server runs in a subprocess so it does not share our GIL.

    python bench/driver_io.py [--queries 2000] [--blocks 6]

Goals: driver read >= 0.9x bare pyvisa and >= 0.55x raw socket; validated set <= 20x a plain attribute set.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from drivers import Control, Driver  # noqa: E402
from specpy.tree import Float, Tree  # noqa: E402

SERVER = os.path.join(ROOT, "tests", "drivers", "loopback.py")
QUERY = "SOUR:POW?"


class BenchLaser(Driver):
    """One laser power setting, as the loopback SCPI server implements it."""

    PARAMETERS = {"power": Control(Float(unit="W", min=0.0, max=1.0), get=QUERY, set="SOUR:POW {}")}


def rate(loop: Callable[[int], None], count: int) -> float:
    """Operations per second of `loop(count)`."""
    start = time.perf_counter()
    loop(count)
    return count / (time.perf_counter() - start)


def io_loops(port: int) -> tuple[dict[str, Callable[[int], None]], Callable[[], None]]:
    """The three query loops against the server on `port`, and a function closing what they opened."""
    import pyvisa

    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = raw.makefile("rb")
    command = (QUERY + "\n").encode()

    def raw_loop(count: int) -> None:
        for _ in range(count):
            raw.sendall(command)
            float(reader.readline())

    manager = pyvisa.ResourceManager("@py")
    resource = f"TCPIP::127.0.0.1::{port}::SOCKET"
    inst = manager.open_resource(resource, read_termination="\n", write_termination="\n", timeout=2000)

    def pyvisa_loop(count: int) -> None:
        for _ in range(count):
            float(inst.query(QUERY))

    laser = BenchLaser(resource, timeout=2.0).connect()
    read = laser.parameters.read

    def driver_loop(count: int) -> None:
        for _ in range(count):
            read("power")

    def close() -> None:
        laser.close()
        inst.close()
        manager.close()
        reader.close()
        raw.close()

    return {"raw socket": raw_loop, "bare pyvisa": pyvisa_loop, "driver read": driver_loop}, close


def tree_loops() -> dict[str, Callable[[int], None]]:
    """Plain attribute set/get beside validated tree set/get of the same float."""

    class Plain:
        power = 0.0

    plain = Plain()
    tree = Tree({"laser": {"power": Float(unit="W", min=0.0, max=0.5, default=0.0)}})
    tree_set, tree_get = tree.set, tree.get

    def attribute_set(count: int) -> None:
        for _ in range(count):
            plain.power = 0.25

    def attribute_get(count: int) -> None:
        for _ in range(count):
            plain.power

    def validated_set(count: int) -> None:
        for _ in range(count):
            tree_set("laser/power", 0.25)

    def validated_get(count: int) -> None:
        for _ in range(count):
            tree_get("laser/power")

    return {"attribute set": attribute_set, "attribute get": attribute_get,
            "tree set": validated_set, "tree get": validated_get}


def interleave(loops: dict[str, Callable[[int], None]], count: int, blocks: int) -> dict[str, list[float]]:
    """Run every loop once per block, in turn, after one warm-up round; the rates per block."""
    for loop in loops.values():
        loop(max(count // 10, 1))
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(blocks):
        for name, loop in loops.items():
            rates[name].append(rate(loop, count))
    return rates


def ratio(rates: dict[str, list[float]], top: str, bottom: str) -> float:
    """Median over blocks of rate(top) / rate(bottom)."""
    return statistics.median(a / b for a, b in zip(rates[top], rates[bottom]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000, help="queries per loop per block")
    parser.add_argument("--blocks", type=int, default=6, help="interleaved blocks")
    args = parser.parse_args(argv)

    server = subprocess.Popen([sys.executable, SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        loops, close = io_loops(port)
        try:
            io = interleave(loops, args.queries, args.blocks)
        finally:
            close()
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=10)
    tree = interleave(tree_loops(), args.queries * 50, args.blocks)

    print(f"queries/s (median of {args.blocks} blocks of {args.queries}):")
    for name, values in io.items():
        print(f"  {name:12s} {statistics.median(values):10.0f}")
    print(f"  driver read / bare pyvisa = {ratio(io, 'driver read', 'bare pyvisa'):.2f}x   (goal >= 0.90x)")
    print(f"  driver read / raw socket  = {ratio(io, 'driver read', 'raw socket'):.2f}x   (goal >= 0.55x)")
    print(f"  bare pyvisa / raw socket  = {ratio(io, 'bare pyvisa', 'raw socket'):.2f}x   (for reference)")
    print(f"RATIO driver_io:driver_read/bare_pyvisa {ratio(io, 'driver read', 'bare pyvisa'):.4g} >=0.90")
    print(f"RATIO driver_io:driver_read/raw_socket {ratio(io, 'driver read', 'raw socket'):.4g} >=0.55")
    print(f"RATIO driver_io:bare_pyvisa/raw_socket {ratio(io, 'bare pyvisa', 'raw socket'):.4g}")
    print(f"tree (median of {args.blocks} blocks of {args.queries * 50}):")
    for name, values in tree.items():
        print(f"  {name:13s} {1e9 / statistics.median(values):8.0f} ns/op")
    print(f"  validated set / attribute set = {ratio(tree, 'attribute set', 'tree set'):.1f}x slower   (goal <= 20x)")
    print(f"  validated get / attribute get = {ratio(tree, 'attribute get', 'tree get'):.1f}x slower")
    print(f"RATIO driver_io:validated_set_slowdown {ratio(tree, 'attribute set', 'tree set'):.4g} <=20")
    print(f"RATIO driver_io:validated_get_slowdown {ratio(tree, 'attribute get', 'tree get'):.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
