"""`python -m device_sim [rig.toml] [--json]`: run the simulated rig until SIGINT/SIGTERM and
print each instrument's address; `python -m device_sim fault ENDPOINT NAME KIND [VALUE]`
injects a fault into a running rig through its control channel."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from device_sim.control import ControlServer, request
from device_sim.rig import Rig


def run(argv: list[str]) -> int:
    """Start the rig, print the addresses, wait for a signal, stop cleanly."""
    parser = argparse.ArgumentParser(prog="python -m device_sim", description=__doc__)
    parser.add_argument("rig", nargs="?", help="rig TOML (its [simulation] table is read)")
    parser.add_argument("--json", action="store_true", help="print the addresses as one JSON object")
    parser.add_argument("--run-dir", help="where the serial symlinks go (default: a temp dir)")
    parser.add_argument("--control-port", type=int, default=0, help="control channel port (0: any)")
    parser.add_argument("--no-firmware", action="store_true", help="leave out the shutter/wheel controller")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Rig(args.rig, run_dir=args.run_dir, firmware=not args.no_firmware) as rig:
        control = ControlServer(rig, args.control_port)
        control.server.start()
        try:
            addresses = rig.addresses()
            if args.json:
                print(json.dumps({"instruments": addresses, "control": control.endpoint}), flush=True)
            else:
                for name, entry in addresses.items():
                    print(f"{name} {entry['resource']}")
                print(f"control {control.endpoint}", flush=True)
            parent = os.getppid()
            while not stop.wait(0.5):
                if os.getppid() != parent:  # the process that started us died (even by kill -9): stop too
                    break
        finally:
            control.server.stop()
    return 0


def fault(argv: list[str]) -> int:
    """Send one fault to a running rig; prints the reply, exit status 1 on error."""
    parser = argparse.ArgumentParser(prog="python -m device_sim fault")
    parser.add_argument("control", help="the control endpoint the rig printed (host:port)")
    parser.add_argument("instrument", help="e.g. stage, sted_laser, scanner")
    parser.add_argument("kind", help="latency|drop|garble|drop_rate|garble_rate|clear|unplug|replug|"
                                     "interlock|limit|stuck_shutter|jam_wheel|error")
    parser.add_argument("value", nargs="?", help="seconds, a count, a rate, an axis, open/closed")
    args = parser.parse_args(argv)
    value: object = args.value
    try:
        value = float(args.value)
    except (TypeError, ValueError):
        pass
    reply = request(args.control, {"instrument": args.instrument, "fault": args.kind, "value": value})
    print(json.dumps(reply))
    return 1 if "error" in reply else 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch to `fault` or run the rig."""
    argv = sys.argv[1:] if argv is None else argv
    return fault(argv[1:]) if argv[:1] == ["fault"] else run(argv)


if __name__ == "__main__":
    sys.exit(main())
