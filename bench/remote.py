"""Remote benchmark: the broker + service path against raw pyzmq baselines run in the same process.

1. A parameter read round trip (`app.parameters(...)` through broker and service) vs a raw pyzmq
   REQ/REP echo of 64 bytes: p50 and p99.
2. A 64 MiB `stack.data()` vs a raw zero-copy PUSH/PULL of the same bytes: MB/s.
3. CURVE on vs off: the same parameter read against a CURVE service.

Servers run in subprocesses (no shared GIL); candidate and baseline alternate in blocks.

    python bench/remote.py [--reads 2000] [--blocks 4] [--transfers 4]

Goals: round trip p50 <= 2.0x and p99 <= 2.5x raw REQ/REP; stack transfer >= 0.9x raw; CURVE <= 1.3x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import zmq  # noqa: E402

from specpy.remote.client import connect  # noqa: E402
from tests.remote.harness import Service  # noqa: E402

MIB64 = 64 << 20
RAW_SERVER = """
import sys, zmq
context = zmq.Context()
rep = context.socket(zmq.REP); rep_port = rep.bind_to_random_port("tcp://127.0.0.1")
pull = context.socket(zmq.PULL); pull_port = pull.bind_to_random_port("tcp://127.0.0.1")
push = context.socket(zmq.PUSH); push_port = push.bind_to_random_port("tcp://127.0.0.1")
print(rep_port, pull_port, push_port, flush=True)
payload = bytearray(64 << 20)
poller = zmq.Poller(); poller.register(rep, zmq.POLLIN); poller.register(pull, zmq.POLLIN)
while True:
    ready = dict(poller.poll())
    if rep in ready:
        rep.send(rep.recv())
    if pull in ready:
        if pull.recv() == b"stop":
            break
        push.send(payload, copy=False)
"""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) in microseconds of values in seconds."""
    return float(np.percentile(np.asarray(values), q) * 1e6)


def timed(call, count: int) -> list[float]:
    """Latencies of `count` calls."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--transfers", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="specpy-bench-remote-"))
    keys = work / "keys"
    from specpy.remote.auth import allow_key, new_keys

    new_keys("client", keys)
    os.environ["SPECPY_KEYS"] = str(keys)
    raw = subprocess.Popen([sys.executable, "-c", RAW_SERVER], stdout=subprocess.PIPE, text=True)
    plain = Service(["--port", "0"], work / "plain")
    secure = Service(["--port", "0", "--curve", "--keys", str(keys)], work / "secure", env={"SPECPY_KEYS": str(keys)})
    context = zmq.Context()
    try:
        rep_port, pull_port, push_port = (int(p) for p in raw.stdout.readline().split())
        req = context.socket(zmq.REQ)
        req.connect(f"tcp://127.0.0.1:{rep_port}")
        command = context.socket(zmq.PUSH)
        command.connect(f"tcp://127.0.0.1:{pull_port}")
        data_in = context.socket(zmq.PULL)
        data_in.connect(f"tcp://127.0.0.1:{push_port}")
        app = connect(f"127.0.0.1:{plain.ready()}")
        secure_port = secure.ready()
        allow_key(keys / "client.key", keys)
        curve_app = connect(f"127.0.0.1:{secure_port}", client_key=keys / "client.key_secret",
                            server_key=keys / "server.key")
        path = "excitation_laser/power"
        message = b"x" * 64

        def raw_rt() -> None:
            req.send(message)
            req.recv()

        lat = {"service": [], "raw": [], "curve": []}
        for call in (lambda: app.parameters(path), raw_rt, lambda: curve_app.parameters(path)):
            timed(call, 200)  # warm up
        for _ in range(args.blocks):
            lat["service"] += timed(lambda: app.parameters(path), args.reads // args.blocks)
            lat["raw"] += timed(raw_rt, args.reads // args.blocks)
            lat["curve"] += timed(lambda: curve_app.parameters(path), args.reads // args.blocks)

        m = app.create_measurement()
        stack = m.create_stack(np.float32, [2048, 2048, 4, 1])  # 64 MiB
        assert stack.data().nbytes == MIB64

        def raw_transfer() -> None:
            command.send(b"go")
            frame = data_in.recv(copy=False)
            assert len(frame) == MIB64

        speed = {"service": [], "raw": []}
        for _ in range(args.transfers):
            speed["service"] += [MIB64 / t / 1e6 for t in timed(stack.data, 1)]
            speed["raw"] += [MIB64 / t / 1e6 for t in timed(raw_transfer, 1)]
        app.close(m)

        print(f"parameter read round trip ({args.reads} each, {args.blocks} interleaved blocks), microseconds:")
        for name in lat:
            print(f"  {name:8s} p50 {percentile(lat[name], 50):8.1f}  p99 {percentile(lat[name], 99):8.1f}")
        p50 = percentile(lat["service"], 50) / percentile(lat["raw"], 50)
        p99 = percentile(lat["service"], 99) / percentile(lat["raw"], 99)
        print(f"  ratio service/raw: p50 {p50:.2f}x (goal <= 2.0), p99 {p99:.2f}x (goal <= 2.5)")
        print(f"RATIO remote:read_p50_service/raw {p50:.4g} <=2.0\nRATIO remote:read_p99_service/raw {p99:.4g} <=2.5")
        c50 = percentile(lat["curve"], 50) / percentile(lat["service"], 50)
        c99 = percentile(lat["curve"], 99) / percentile(lat["service"], 99)
        print(f"  ratio CURVE/plain: p50 {c50:.2f}x, p99 {c99:.2f}x (goal <= 1.3)")
        print(f"RATIO remote:read_p50_curve/plain {c50:.4g} <=1.3\nRATIO remote:read_p99_curve/plain {c99:.4g} <=1.3")
        service_mb, raw_mb = statistics.median(speed["service"]), statistics.median(speed["raw"])
        print(f"64 MiB transfer ({args.transfers} each, alternating), median MB/s: stack.data() {service_mb:.0f}, "
              f"raw PUSH/PULL zero-copy {raw_mb:.0f}")
        print(f"  ratio stack.data()/raw: {service_mb / raw_mb:.2f}x (goal >= 0.9)")
        print(f"RATIO remote:stack_data/raw_transfer {service_mb / raw_mb:.4g} >=0.9")
        app.close_connection()
        curve_app.close_connection()
        command.send(b"stop")
        for sock in (req, command, data_in):
            sock.close(0)
    finally:
        context.term()
        plain.stop()
        secure.stop()
        try:
            raw.wait(10)
        except subprocess.TimeoutExpired:
            raw.kill()


if __name__ == "__main__":
    main()
