"""Soak: minutes of mixed load on a `specpy serve` subprocess, with an unplugged laser every 30 s.

Load: remote parameter reads (two threads), acquisitions (small measurements run back to back),
event fan-out (three subscribers counting step signals), and every `--unplug-every` seconds the
excitation laser is unplugged for `--unplug-for` seconds. Prints the request rate, the error rate
outside the injected windows (a window lasts until the first acquisition after the replug ends),
and the growth of the service's memory (RSS), file descriptors and threads after the warm-up,
sampled from /proc/<pid> every 0.5 s: the highest value in the `--window` seconds after the warm-up
against the highest in the last `--window` seconds, so that a measurement's engine thread or frame
buffer that happens to exist at one sampling instant does not count as growth.

Usage: python bench/soak.py [--seconds 300] [--warmup 30] [--window 30] [--unplug-every 30] [--unplug-for 1]
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from device_sim.control import request  # noqa: E402
from specpy.engine import MeasurementFault  # noqa: E402
from specpy.remote.client import RemoteImspector, connect  # noqa: E402

FIELD = {"scan": {"x": {"length": 1.6e-6, "pixel_size": 100e-9}, "y": {"length": 1.6e-6, "pixel_size": 100e-9},
                  "dwell_time": 20e-6}, "channels": {"excitation": {"power": 2e-3}}, "steps": {"time_points": 5}}


def proc_sample(pid: int) -> tuple[int, int, int]:
    """(RSS in kB, open file descriptors, threads) of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


def window_peak(samples: list[tuple[float, tuple[int, int, int]]], start: float, end: float) -> tuple[int, ...]:
    """The highest RSS, descriptors and threads among the samples taken from `start` to `end`."""
    inside = [sample for when, sample in samples if start <= when <= end]
    return tuple(max(values) for values in zip(*inside))


class Service:
    """`specpy serve` on a free port in its own session, stopped by PID."""

    def __init__(self, data: Path) -> None:
        env = dict(os.environ, SPECPY_DATA=str(data), PYTHONPATH=str(REPO))
        env.pop("SPECPY_RIG", None)
        self.process = subprocess.Popen([sys.executable, "-m", "specpy.cli", "serve", "--port", "0", "--heartbeat",
                                         "0.5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        env=env, start_new_session=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout], daemon=True).start()
        words = lines.get(timeout=120).split()
        self.port = int(words[words.index("port") + 1])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole session if it does not exit."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)


class Tally:
    """Requests and errors with their times; injected windows to exclude."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.errors: list[tuple[float, str]] = []
        self.windows: list[list[float]] = []  # [start, end]; end is inf until the fault has cleared

    def ok(self, count: int = 1) -> None:
        with self.lock:
            self.requests += count

    def error(self, what: str) -> None:
        with self.lock:
            self.requests += 1
            self.errors.append((time.monotonic(), what))

    def outside(self) -> list[str]:
        with self.lock:
            return [what for t, what in self.errors if not any(w[0] <= t <= w[1] for w in self.windows)]


def reader(app: RemoteImspector, tally: Tally, stop: threading.Event) -> None:
    """Remote parameter reads as fast as they come back."""
    paths = ["excitation_laser/power", "scanner", "stage", ""]
    turn = 0
    while not stop.is_set():
        try:
            app.parameters(paths[turn % len(paths)])
            tally.ok()
        except Exception as error:  # noqa: BLE001 - counted
            tally.error(f"read: {type(error).__name__}: {error}")
        turn += 1


def acquirer(app: RemoteImspector, tally: Tally, stop: threading.Event, runs: list[int]) -> None:
    """Small measurements back to back; a fault pauses one, which is resumed until it finishes."""
    while not stop.is_set():
        try:
            m = app.create_measurement()
            m.set_parameters("", FIELD)
            tally.ok(2)
            while not stop.is_set():
                try:
                    app.run(m)
                    tally.ok()
                    runs[0] += 1
                    break
                except MeasurementFault as fault:
                    tally.error(f"acquisition: {fault}")
                    time.sleep(0.2)
            app.close(m)
            tally.ok()
            with tally.lock:  # a window closes when an acquisition ends after its replug
                for window in tally.windows:
                    if window[1] == float("inf") and window[2:] == ["replugged"]:
                        window[1] = time.monotonic()
        except Exception as error:  # noqa: BLE001 - counted
            tally.error(f"acquisition: {type(error).__name__}: {error}")
            time.sleep(0.2)


def main() -> int:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the baseline window")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of samples compared (after the "
                        "warm-up, and at the end)")
    parser.add_argument("--unplug-every", type=float, default=30.0)
    parser.add_argument("--unplug-for", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="specpy-soak-") as data:
        service = Service(Path(data))
        clients: list[RemoteImspector] = []
        stop = threading.Event()
        threads: list[threading.Thread] = []
        try:
            address = f"127.0.0.1:{service.port}"
            clients = [connect(address, timeout=10) for _ in range(6)]
            control = clients[0].status()["simulator_control"]
            tally, runs, signals = Tally(), [0], [0, 0, 0]
            for index, subscriber in enumerate(clients[3:]):
                subscriber.connect_end(lambda i=index: signals.__setitem__(i, signals[i] + 1), 1)
            threads = [threading.Thread(target=reader, args=(clients[i], tally, stop)) for i in (0, 1)]
            threads.append(threading.Thread(target=acquirer, args=(clients[2], tally, stop, runs)))
            for thread in threads:
                thread.start()
            started = time.monotonic()
            requests_at_warmup = warm_at = None
            samples: list[tuple[float, tuple[int, int, int]]] = []
            next_unplug = started + args.unplug_every
            while (now := time.monotonic()) < started + args.seconds:
                if warm_at is None and now >= started + args.warmup:
                    requests_at_warmup, warm_at = tally.requests, now
                if now >= next_unplug:
                    with tally.lock:
                        window = [now, float("inf")]
                        tally.windows.append(window)
                    request(control, {"instrument": "excitation_laser", "fault": "unplug"})
                    time.sleep(args.unplug_for)
                    request(control, {"instrument": "excitation_laser", "fault": "replug"})
                    with tally.lock:
                        window.append("replugged")
                    next_unplug += args.unplug_every
                samples.append((now, proc_sample(service.process.pid)))
                time.sleep(0.5)
            end = time.monotonic()
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
            for app in clients:
                app.close_connection()
            service.stop()
    outside = tally.outside()
    print(f"soak: {args.seconds:g} s, warm-up {args.warmup:g} s, laser unplugged every {args.unplug_every:g} s "
          f"for {args.unplug_for:g} s ({len(tally.windows)} time(s))")
    if warm_at is None or end - warm_at < 2 * args.window:
        raise SystemExit(f"--seconds must cover the warm-up and two windows of {args.window:g} s")
    baseline = window_peak(samples, warm_at, warm_at + args.window)
    final = window_peak(samples, end - args.window, end)
    print(f"requests: {tally.requests} ({(tally.requests - requests_at_warmup) / (end - warm_at):.0f}/s after "
          "warm-up); "
          f"acquisitions finished: {runs[0]}; step signals per subscriber: {signals}")
    print(f"errors: {len(tally.errors)} in all, {len(outside)} outside the injected windows "
          f"({len(outside) / max(tally.requests, 1):.2%})")
    for what in outside[:5]:
        print(f"  {what[:200]}")
    for index, name in enumerate(("RSS (kB)", "file descriptors", "threads")):
        before, after = baseline[index], final[index]
        print(f"{name}: {before} after warm-up -> {after} at the end ({(after - before) / before:+.1%}); "
              f"peak {max(sample[index] for _, sample in samples)}")
    return 0 if not outside else 1


if __name__ == "__main__":
    sys.exit(main())
