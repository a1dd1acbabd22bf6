"""`specpy db`: create/migrate the analysis database, check products against rows, query them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .database import Database


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `specpy db` and its actions."""
    parser.add_argument("--url", help="database URL (default: $SPECPY_DATABASE_URL or the SQLite file in the data directory)")
    parser.add_argument("--root", help="product root (default: $SPECPY_PRODUCT_ROOT or products/ beside the database)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("upgrade", help="create the schema or migrate it to this version (the only command that changes it)")
    check = actions.add_parser("check", help="find orphan files, missing files and hash mismatches")
    check.add_argument("--repair", action="store_true", help="delete temporary files, quarantine orphans, un-complete runs with bad products")
    check.add_argument("--no-hash", action="store_true", help="compare sizes only (faster; misses same-size corruption)")
    query = actions.add_parser("query", help="list products or bead scans")
    query.add_argument("what", choices=("products", "beads"), help="products: FITS products; beads: per-stack bead FWHM summaries")
    query.add_argument("--sample", help="only this sample")
    query.add_argument("--instrument", help="only this instrument")
    query.add_argument("--since", help="acquired at or after this ISO date/time (UTC)")
    query.add_argument("--until", help="acquired before this ISO date/time (UTC)")
    query.add_argument("--fwhm-below", help="beads only: median FWHM below this length, e.g. '60 nm'")


def run(args: argparse.Namespace) -> int:
    """Run one `specpy db` action; 0 when the database is (or was made) consistent."""
    from .database import Database, database_url, upgrade_database

    if args.action == "upgrade":
        revision = upgrade_database(args.url)
        print(f"{database_url(args.url)}: schema at {revision}")
        return 0
    with Database(args.url, args.root) as database:
        if args.action == "check":
            return _check(database, args.repair, not args.no_hash)
        return _query(database, args)


def _check(database: Database, repair_: bool, verify_hash: bool) -> int:
    """Print the findings (and repairs); 0 if consistent, 1 if problems remain."""
    from .check import check, repair

    findings = check(database, verify_hash)
    for finding in findings:
        print(finding)
    if repair_ and findings:
        for action in repair(database, findings):
            print(f"repaired: {action}")
        findings = check(database, verify_hash)
    print(f"{database.safe_url}: {len(findings)} problem(s)" if findings else f"{database.safe_url}: consistent")
    return 1 if findings else 0


def _query(database: Database, args: argparse.Namespace) -> int:
    """Print matching products or bead scans, one per line."""
    from .queries import bead_scans, parse_length, parse_time, products

    where = {"sample": args.sample, "instrument": args.instrument,
             "since": parse_time(args.since), "until": parse_time(args.until)}
    if args.what == "products":
        rows = products(database, **where)
    else:
        rows = bead_scans(database, fwhm_below=parse_length(args.fwhm_below), **where)
    for row in rows:
        print("  ".join(f"{name}={value}" for name, value in row.items()))
    print(f"{len(rows)} {args.what}")
    return 0
