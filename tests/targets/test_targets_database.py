"""The database: pragmas, explicit migrations only, refusal of missing/old schemas, read-only exists()."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, inspect

from specpy.targets import Database, schema, DatabaseTarget, SchemaError, Task, upgrade_database
from specpy.paths import data_directory
from specpy.targets.database import DatabaseLocationError, database_url, sqlite_path
from specpy.targets.models import Base, BeadSummary, SpotFit

from .conftest import sqlite_url
from .helpers import bead_stack, fake_pipeline


def test_missing_database_is_refused_and_not_created(tmp_path) -> None:
    url = sqlite_url(tmp_path)
    with pytest.raises(SchemaError, match="specpy db upgrade"):
        Database(url)
    assert not (tmp_path / "specpy.db").exists()


def test_unmigrated_and_outdated_schemas_are_refused(tmp_path) -> None:
    url = sqlite_url(tmp_path)
    sqlite3.connect(tmp_path / "specpy.db").close()  # an empty database file: no schema
    with pytest.raises(SchemaError, match="has no specpy schema.*specpy db upgrade"):
        Database(url)
    assert upgrade_database(url) == "0001"
    connection = sqlite3.connect(tmp_path / "specpy.db")
    connection.execute("UPDATE alembic_version SET version_num = '0000'")
    connection.commit()
    connection.close()
    with pytest.raises(SchemaError, match="at schema 0000, this code needs 0001.*specpy db upgrade"):
        Database(url)


def test_opening_a_database_issues_no_ddl(sqlite_store: Database) -> None:
    statements: list[str] = []
    database = Database(sqlite_store.url, sqlite_store.root)
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    database._check_schema()
    DatabaseTarget(SpotFit, Task("fit"), database).exists()
    database.close()
    assert statements and not [s for s in statements if s.split()[0].upper() in ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE")]


def test_sqlite_connections_use_the_safe_settings(sqlite_store: Database) -> None:
    with sqlite_store.engine.connect() as connection:
        pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                  for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
    assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 30000}


def test_writes_begin_immediate_and_reads_deferred(sqlite_store: Database) -> None:
    begins: list[str] = []
    event.listen(sqlite_store.engine, "before_cursor_execute",
                 lambda *args: begins.append(args[2]) if args[2].startswith("BEGIN") else None)
    with sqlite_store.transaction() as session:
        session.get(SpotFit, 1)
    with sqlite_store.session() as session:
        session.get(SpotFit, 1)
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]


def test_migrations_match_the_models_and_round_trip(sqlite_store: Database) -> None:
    with sqlite_store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata) == []
    with sqlite_store.engine.begin() as connection:
        command.downgrade(schema.alembic_config(connection), "base")
    assert set(inspect(sqlite_store.engine).get_table_names()) == {"alembic_version"}
    assert upgrade_database(sqlite_store.url) == "0001"
    assert set(Base.metadata.tables) <= set(inspect(sqlite_store.engine).get_table_names())


def test_exists_writes_nothing(sqlite_store: Database) -> None:
    pipeline = fake_pipeline(sqlite_store)
    pipeline.run([bead_stack(seed) for seed in range(3)])
    with sqlite_store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [sqlite_store.root.parent / name for name in ("specpy.db", "specpy.db-wal")]

    def fingerprint() -> list[tuple[str, int]]:
        return [(hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) for path in files]

    before = fingerprint()
    statements: list[str] = []
    event.listen(sqlite_store.engine, "before_cursor_execute", lambda *args: statements.append(args[2].split()[0].upper()))
    known = [pipeline.task_for(bead_stack(seed)) for seed in range(3)]
    unknown = [Task("bead_fwhm", {"roi": seed}) for seed in range(200)]
    for task in known + unknown:
        for model in (SpotFit, BeadSummary):
            DatabaseTarget(model, task, sqlite_store).exists()
    assert [DatabaseTarget(SpotFit, task, sqlite_store).exists() for task in known] == [True] * 3
    assert fingerprint() == before
    assert set(statements) <= {"BEGIN", "SELECT", "ROLLBACK"}


def test_url_and_location_rules(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECPY_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("SPECPY_DATABASE_URL", raising=False)
    assert data_directory() == tmp_path / "data"
    assert database_url() == f"sqlite:///{tmp_path / 'data' / 'specpy.db'}"
    monkeypatch.setenv("SPECPY_DATABASE_URL", "postgresql://lab/specpy")
    assert database_url() == "postgresql://lab/specpy"
    assert sqlite_path("postgresql://lab/specpy") is None
    with pytest.raises(DatabaseLocationError, match="in-memory"):
        sqlite_path("sqlite://")
    with pytest.raises(DatabaseLocationError, match="not a database URL"):
        sqlite_path("no url at all")


def test_sqlite_on_a_network_filesystem_is_refused(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import specpy.targets.database as database_module

    monkeypatch.setattr(database_module, "filesystem_type", lambda path: "nfs4")
    with pytest.raises(DatabaseLocationError, match="nfs4 filesystem.*PostgreSQL"):
        upgrade_database(sqlite_url(tmp_path))
