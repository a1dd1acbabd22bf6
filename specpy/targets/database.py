"""Database: the engine, session and transaction rules of the analysis database.

Default: a SQLite file `specpy.db` in the data directory ($SPECPY_DATA, else
$XDG_DATA_HOME/specpy, else ~/.local/share/specpy) with WAL, busy_timeout 30 s, foreign keys
on, synchronous=FULL, and BEGIN IMMEDIATE for write transactions. PostgreSQL (or any URL) by
argument or $SPECPY_DATABASE_URL, with the same code. Products live under a data root
($SPECPY_PRODUCT_ROOT, else `products/` beside a SQLite file or in the data directory).

A Database refuses a schema that is not at the migration head this code ships: the schema is
changed only by `specpy db upgrade` (`upgrade_database`), never by a worker on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from ..paths import data_directory
from . import schema
from .errors import DatabaseLocationError, SchemaError

BUSY_TIMEOUT_MS = 30_000
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs", "fuse.sshfs", "davfs"}
UPGRADE_HINT = "run `specpy db upgrade` (with the same URL) to create or migrate it"


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else $SPECPY_DATABASE_URL, else the default SQLite file."""
    if url:
        return url
    return os.environ.get("SPECPY_DATABASE_URL") or f"sqlite:///{data_directory() / 'specpy.db'}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases); refuses in-memory SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseLocationError(f"{url!r} is not a database URL; use e.g. sqlite:////path/specpy.db or postgresql://host/db") from None
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise DatabaseLocationError(f"{url!r}: an in-memory SQLite database cannot be shared between processes; give a file")
    return Path(parsed.database).expanduser().resolve()


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding `path` (from /proc/mounts; '' where that is unavailable)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    best, kind = "", ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = str(path) == point or str(path).startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def make_engine(url: str) -> Engine:
    """An engine with our connection rules; SQLite files must be on a local filesystem."""
    path = sqlite_path(url)
    if path is None:
        return create_engine(url, pool_pre_ping=True)
    kind = filesystem_type(path.parent)
    if kind in NETWORK_FILESYSTEMS:
        raise DatabaseLocationError(
            f"{path} is on a {kind} filesystem: SQLite's WAL locking does not work there; "
            "use a local disk or a PostgreSQL URL"
        )
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite settings; the driver's own implicit BEGIN is switched off."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = FULL")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Start SQLite transactions ourselves: BEGIN IMMEDIATE for writers, so a lock upgrade cannot fail."""
    connection.exec_driver_sql(connection.get_execution_options().get("specpy_begin", "BEGIN"))


def upgrade_database(url: str | None = None, revision: str = "head") -> str:
    """Create or migrate the schema (what `specpy db upgrade` runs); return the revision reached."""
    resolved = database_url(url)
    path = sqlite_path(resolved)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(resolved)
    try:
        return schema.upgrade(engine, revision)
    finally:
        engine.dispose()


class Database:
    """The analysis database and the product root; refuses a schema that is not at the migration head."""

    def __init__(self, url: str | None = None, root: str | os.PathLike | None = None) -> None:
        self.url = database_url(url)
        path = sqlite_path(self.url)
        if path is not None and not path.exists():
            raise SchemaError(f"there is no database at {path}; {UPGRADE_HINT}")
        self.root = Path(root or os.environ.get("SPECPY_PRODUCT_ROOT") or (path.parent if path else data_directory()) / "products").resolve()
        self.engine = make_engine(self.url)
        self._writer = self.engine.execution_options(specpy_begin="BEGIN IMMEDIATE")
        try:
            self._check_schema()
        except BaseException:
            self.engine.dispose()
            raise

    def _check_schema(self) -> None:
        """Raise SchemaError unless the database is at the head revision."""
        head = schema.head_revision()
        with self.engine.connect() as connection:
            current = schema.current_revision(connection)
        if current is None:
            raise SchemaError(f"the database {self.safe_url} has no specpy schema; {UPGRADE_HINT}")
        if current != head:
            raise SchemaError(f"the database {self.safe_url} is at schema {current}, this code needs {head}; {UPGRADE_HINT}")

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session (deferred transaction, rolled back at the end: reading never writes).

        Loaded objects are detached with their values, so they stay readable after the block.
        """
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.expunge_all()
                session.rollback()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction (BEGIN IMMEDIATE on SQLite): committed on success, rolled back on error."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        """Close every pooled connection of this process."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<specpy.targets.Database {self.safe_url} root={self.root}>"
