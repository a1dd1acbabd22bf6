"""`specpy serve`: the application, headless, behind a broker; `specpy status`: what a service does.

The service runs the rig (the simulated one unless a rig file is given), starts a broker in the
same process (or registers with a running one, --broker), and serves every Imspector,
Measurement, Configuration and Stack call. SIGINT/SIGTERM stop it cleanly: a running
measurement pauses at its next step boundary (the step in flight completes and is saved), every
measurement is closed (its autosave file complete), and the worker says goodbye to the broker.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from .paths import data_directory
from .remote.auth import Allowlist, KeyPair, check_bind, keys_directory, load_keys, make_client, server_keys, \
    start_authenticator
from .remote.broker import Broker
from .remote.connection import DEFAULT_PORT, DEFAULT_SERVICE, Connection

log = logging.getLogger("specpy.service")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `specpy serve`."""
    parser.add_argument("rig", nargs="?", help="a rig file (TOML); default: the simulated rig")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=None,
                        help=f"client port; 0 lets the OS choose (default: $SPEC_SERVER_PORT or {DEFAULT_PORT})")
    parser.add_argument("--service", default=DEFAULT_SERVICE, help="service name (default: %(default)s)")
    parser.add_argument("--broker", metavar="HOST:PORT", help="register with a running broker instead of starting one")
    parser.add_argument("--broker-key", metavar="FILE", help="that broker's public key file (with --curve)")
    parser.add_argument("--broker-only", action="store_true", help="run only a broker (no rig, no service)")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="heartbeat interval in s (default: %(default)s)")
    parser.add_argument("--curve", action="store_true",
                        help="CURVE encryption; only clients whose keys were allowed (`specpy keys allow`) get in")
    parser.add_argument("--keys", metavar="DIR", help="key directory (default: $SPECPY_KEYS or ~/.config/specpy/keys)")
    parser.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without --curve")
    parser.add_argument("--database", metavar="URL",
                        help="record each measurement run ('started', then 'complete') and its bead analysis in this "
                             "database (`specpy db upgrade` creates it); a killed service leaves its run 'started'")
    parser.add_argument("--log", metavar="FILE", help="log file (default: <data directory>/logs/specpy-serve.log)")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started this one dies (for services a program starts)")


def _logging(path: str | None) -> Path:
    file = Path(path) if path else data_directory() / "logs" / "specpy-serve.log"
    file.parent.mkdir(parents=True, exist_ok=True)
    form = logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(file)):
        handler.setFormatter(form)
        root.addHandler(handler)
    return file


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(number: int, _frame: Any) -> None:
        log.info("%s: stopping", signal.Signals(number).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _stop_when_orphaned(stop: threading.Event) -> None:
    """Set `stop` once this process's parent has died (it is then reparented), checked twice a second."""
    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent:
                log.info("the parent process %d is gone: stopping", parent)
                stop.set()

    threading.Thread(target=watch, name="specpy-parent-watch", daemon=True).start()


def serve(args: argparse.Namespace) -> int:
    """Run the service (or only a broker) until SIGINT/SIGTERM."""
    port = args.port if args.port is not None else int(os.environ.get("SPEC_SERVER_PORT", DEFAULT_PORT))
    if args.broker is not None:
        from .remote.connection import parse_address

        port = parse_address(args.broker)[1]
    check_bind(args.host, args.curve, args.insecure)
    log_file = _logging(args.log)
    stop = _stop_on_signals()
    if args.exit_with_parent:
        _stop_when_orphaned(stop)
    directory = Path(args.keys) if args.keys else keys_directory()
    keys = server_keys(directory) if args.curve else None
    context = zmq.Context()
    authenticator = start_authenticator(context, Allowlist(directory / "allowed")) if keys else None
    broker = None
    if args.broker is None:
        broker = Broker(args.host, port, args.heartbeat, keys=keys, context=context, inproc=not args.broker_only).start()
        port = broker.port
    try:
        if args.broker_only:
            assert broker is not None
            _ready(f"broker {broker.instance} port {port}", log_file)
            stop.wait()
            return 0
        return _serve_application(args, context, broker, keys, port, stop, log_file)
    finally:
        if broker is not None:
            broker.stop()
        if authenticator is not None:
            authenticator.stop()
        context.term()
        log.info("stopped")


def _ready(line: str, log_file: Path) -> None:
    log.info("%s (log: %s)", line, log_file)
    print(f"ready {line}", flush=True)  # one line on stdout: scripts and tests wait for it


def _serve_application(args: argparse.Namespace, context: zmq.Context, broker: Broker | None, keys: KeyPair | None,
                       port: int, stop: threading.Event, log_file: Path) -> int:
    from drivers.rig import connect_rig, default_rig_path

    from .application import Imspector
    from .remote.dispatch import Dispatcher
    from .remote.worker import Worker

    app = Imspector(connect_rig(args.rig or default_rig_path()))
    database = _record_runs(app, args.database) if args.database else None
    dispatcher = Dispatcher(app, args.service)
    locator = None
    if broker is not None:
        def locate() -> tuple[str, str]:
            return broker.inproc_workers, broker.inproc_events
        secure = None
    else:
        locator, locate, secure = _external_broker(args, keys)
    worker = Worker(args.service, locate, dispatcher.handle, context, heartbeat=args.heartbeat, secure=secure)
    dispatcher.attach(worker)
    if broker is not None:  # quick requests are answered on the broker's thread, without the hop to the worker's
        broker.serve_inline(worker.instance, worker.serve_inline)
    worker.start()
    try:
        worker.connected.wait(30)
        _ready(f"service {args.service} port {port} pid {os.getpid()}", log_file)
        stop.wait()
        _pause_running(app)
    finally:
        if broker is not None:
            broker.serve_inline(worker.instance, None)
        worker.stop()
        dispatcher.close()
        app.shutdown()
        if locator is not None:
            locator.close()
        if database is not None:
            database.close()
    return 0


def _record_runs(app: Any, url: str) -> Any:
    """Attach the bead pipeline and the run log of the database at `url` to the application."""
    from .targets import Database, Pipeline, RunLog

    database = Database(url)
    Pipeline(database).attach(app)  # the end callbacks run in this order: analysis, then 'complete'
    RunLog(database).attach(app)
    log.info("recording measurement runs in %s", database.safe_url)
    return database


def _external_broker(args: argparse.Namespace, keys: KeyPair | None) -> tuple[Connection, Any, Any]:
    """How a worker finds a broker in another process: ask it (service 'mmi') for its ports."""
    from .remote.connection import parse_address

    host, port, _ = parse_address(args.broker)
    broker_key = load_keys(args.broker_key).public if keys and args.broker_key else None
    if keys is not None and broker_key is None:
        from .errors import Error

        raise Error("--curve with --broker needs --broker-key: the broker's public key file")
    locator = Connection(host, port, "mmi", timeout=max(args.heartbeat, 0.5), retries=0, keys=keys,
                         server_key=broker_key)

    def locate() -> tuple[str, str]:
        ports = locator.call("endpoints", service="mmi")
        return locator.endpoint(ports["workers"]), locator.endpoint(ports["events_in"])

    def secure(sock: zmq.Socket) -> None:
        if keys is not None and broker_key is not None:
            make_client(sock, keys, broker_key)

    return locator, locate, secure


def _pause_running(app: Any, timeout: float = 60.0) -> None:
    """Pause every running measurement at its next step boundary and wait (bounded) until it has."""
    running = [app.measurement(name) for name in app.measurement_names()]
    running = [m for m in running if m.status() == "running"]
    for measurement in running:
        log.info("pausing %r after the step in flight", measurement.name())
        app.pause(measurement)
    deadline = time.monotonic() + timeout
    for measurement in running:
        while measurement.status() == "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        log.info("%r: %s; its file %s keeps every completed step", measurement.name(), measurement.status(),
                 measurement.path())


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `specpy status`."""
    parser.add_argument("host", nargs="?", default="localhost",
                        help="HOST[:PORT][/SERVICE] (default: localhost, port $SPEC_SERVER_PORT or 12345)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the service")


def status(args: argparse.Namespace) -> int:
    """Print what a service is doing."""
    from .remote.client import connect

    remote = connect(args.host, timeout=args.timeout)
    try:
        report = remote.status()  # type: ignore[attr-defined]
        services = remote._connection.call("services", service="mmi")
    finally:
        remote.close_connection()
    print(f"service {report['service']!r} at {args.host}: specpy {report['version']}, pid {report['pid']}, "
          f"up {report['uptime']:.0f} s, rig {report['rig']!r}{' (simulated)' if report['simulated'] else ''}")
    print(f"  devices: {', '.join(f'{k} ({v})' for k, v in report['devices'].items())}")
    print(f"  requests served: {report['served']}, remote objects: {report['objects']}, "
          f"malformed messages: {report['malformed']}, hook timeouts: {report['hook_timeouts']}")
    for m in report["measurements"]:
        print(f"  measurement {m['name']!r}: {m['status']}{' - ' + m['message'] if m['message'] else ''}")
    if not report["measurements"]:
        print("  no open measurements")
    print(f"  broker services: {', '.join(f'{k} ({v} worker(s))' for k, v in services.items())}")
    return 0


def add_keys_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `specpy keys`."""
    sub = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    new = sub.add_parser("new", help="create a key pair NAME.key (public) and NAME.key_secret")
    new.add_argument("name")
    allow = sub.add_parser("allow", help="allow a client's public key file on this machine's service")
    allow.add_argument("public_key")
    sub.add_parser("list", help="list the allowed client key files")
    for action in (new, allow):
        action.add_argument("--dir", help="key directory (default: $SPECPY_KEYS or ~/.config/specpy/keys)")


def keys(args: argparse.Namespace) -> int:
    """Create or allow CURVE keys (file names are printed, never the keys)."""
    from .remote.auth import allow_key, new_keys

    directory = Path(args.dir) if getattr(args, "dir", None) else keys_directory()
    if args.keys_command == "new":
        public, secret = new_keys(args.name, directory)
        print(f"public key (share it): {public}\nsecret key (keep it):  {secret}")
    elif args.keys_command == "allow":
        print(f"allowed: {allow_key(args.public_key, directory)}")
    else:
        allowed = sorted((directory / "allowed").glob("*.key")) if (directory / "allowed").is_dir() else []
        print("\n".join(str(p) for p in allowed) or f"no allowed keys in {directory / 'allowed'}")
    return 0
