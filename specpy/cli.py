"""The `specpy` command line: one sub-command per job, each with its own --help."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

# Each entry: name -> (help text, function adding the arguments, function running the command).
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="specpy-demo", metavar="DIR",
                        help="directory for the .obf files, the database, the products and the report (default: %(default)s)")
    parser.add_argument("--local", action="store_true",
                        help="run the job in this process's own application instead of through a `specpy serve` "
                             "service that the demo starts (and stops) on a free loopback port")
    parser.add_argument("--seed", type=int, default=1, help="seed of the bead sample and the photon noise (default: %(default)s)")


def _demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .demo import DemoOptions, run_demo

    return run_demo(DemoOptions(out=Path(args.out), local=args.local, seed=args.seed))


def _info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="an .obf or .msr file")


def _info(args: argparse.Namespace) -> int:
    from .info import print_file_summary

    return print_file_summary(args.file)


def _convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="an .obf/.msr, FITS (.fits/.fit/.fts) or TIFF/OME-TIFF (.tif/.tiff) file")
    parser.add_argument("destination", help="the file to write; its suffix says the kind (.fits, .ome.tif, .obf, ...)")
    parser.add_argument("--force", action="store_true", help="replace the destination if it exists")


def _convert(args: argparse.Namespace) -> int:
    from .convert import convert

    stacks = convert(args.source, args.destination, overwrite=args.force)
    for index, stack in enumerate(stacks):
        print(f"[{index}] {stack.name() or '(unnamed)'}: {stack.data().dtype} {stack.shape()}")
    print(f"wrote {len(stacks)} stack(s) to {args.destination}")
    return 0


def _fit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="an .obf/.msr, FITS or (OME-)TIFF file of bead images")
    parser.add_argument("--out", metavar="DIR", help="where to save <stem>_spots.ecsv/.fits (default: next to FILE)")
    parser.add_argument("--roi", type=int, help="fit window in pixels, odd (default: about two 250 nm FWHMs, else 7)")
    parser.add_argument("--threshold", type=float, default=5.0,
                        help="spot finder threshold in noise units (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=40, help="spots to print (default: %(default)s; all are saved)")


def _fit(args: argparse.Namespace) -> int:
    from .convert import read_stacks
    from .fit_file import fit_stacks, print_table, save_table

    table, notes = fit_stacks(read_stacks(args.file), args.roi, args.threshold)
    for note in notes:
        print(note, file=sys.stderr)
    print_table(table, sys.stdout, args.rows)
    paths = save_table(table, args.file, args.out)
    print(f"saved {len(table)} spot(s): {', '.join(str(path) for path in paths)}")
    return 0


def _db_arguments(parser: argparse.ArgumentParser) -> None:
    from .targets.cli import add_arguments

    add_arguments(parser)


def _db(args: argparse.Namespace) -> int:
    from .targets.cli import run

    return run(args)


def _drivers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rig", metavar="FILE", help="also check a rig configuration (TOML) and list its devices")


def _drivers(args: argparse.Namespace) -> int:
    from drivers.registry import format_listing, installed_drivers

    print(format_listing(*installed_drivers()))
    if args.rig:
        from drivers.rigconfig import load_rig

        rig = load_rig(args.rig)
        print(f"\nrig {rig.name!r}: {len(rig.devices)} device(s), all checked")
        for device in rig.devices.values():
            print(f"  {device.name}: {device.driver.__name__} at {device.resource}")
    return 0


def _sim_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arguments", nargs=argparse.REMAINDER,
                        help="passed to `python -m device_sim`: [rig.toml] [--json] ..., or `fault ...`")


def _sim(args: argparse.Namespace) -> int:
    # The simulator replaces this process (so signals reach it): it and specpy meet only at the wire.
    import os

    os.execv(sys.executable, [sys.executable, "-m", "device_sim", *args.arguments])


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    from .service import add_serve_arguments

    add_serve_arguments(parser)


def _serve(args: argparse.Namespace) -> int:
    from .service import serve

    return serve(args)


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    from .service import add_status_arguments

    add_status_arguments(parser)


def _status(args: argparse.Namespace) -> int:
    from .service import status

    return status(args)


def _keys_arguments(parser: argparse.ArgumentParser) -> None:
    from .service import add_keys_arguments

    add_keys_arguments(parser)


def _keys(args: argparse.Namespace) -> int:
    from .service import keys

    return keys(args)


COMMANDS: dict[str, Command] = {
    "demo": ("the main job on the simulated rig: STED beads acquired, fitted, recorded; resolution curve PNG",
             _demo_arguments, _demo),
    "drivers": ("list the installed instrument drivers; --rig checks a rig file", _drivers_arguments, _drivers),
    "info": ("summarise an .obf/.msr file: stacks, sizes, types, units, metadata", _info_arguments, _info),
    "convert": ("convert stacks between .obf/.msr, FITS and OME-TIFF (dtype, shape, pixel sizes, units and names kept)",
                _convert_arguments, _convert),
    "fit": ("find and fit every bead in a file (2D Gaussians, plane by plane); print and save the table",
            _fit_arguments, _fit),
    "sim": ("run the simulated rig and print each instrument's address (python -m device_sim)", _sim_arguments, _sim),
    "db": ("analysis database: upgrade the schema, check products against rows, query", _db_arguments, _db),
    "serve": ("run the application headless behind a ZeroMQ broker (simulated rig by default)", _serve_arguments,
              _serve),
    "status": ("show what a specpy service is doing: HOST[:PORT][/SERVICE]", _status_arguments, _status),
    "keys": ("CURVE keys: `keys new NAME`, `keys allow CLIENT.key`, `keys list`", _keys_arguments, _keys),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specpy", description="SpecPy-compatible microscope stack")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, passed_on = parser.parse_known_args(argv)
    if args.command == "sim":
        args.arguments = [*passed_on, *args.arguments]  # options for the simulator, as they came
    elif passed_on:
        parser.error(f"unrecognized arguments: {' '.join(passed_on)}")
    try:
        return COMMANDS[args.command][2](args)
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM during the demo): whatever the command started is stopped
        print(f"specpy {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - a CLI reports, it does not dump a traceback
        from .errors import Error

        if not isinstance(error, (Error, OSError)):
            raise
        print(f"specpy {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
