"""Fixtures for the target tests: a migrated store on a real SQLite file (and PostgreSQL where one is reachable)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from specpy.targets import Database, upgrade_database
from specpy.targets.models import Base

POSTGRES_ENV = "SPECPY_TEST_POSTGRES_URL"


def sqlite_url(directory) -> str:
    """The URL of a SQLite file in `directory`."""
    return f"sqlite:///{directory / 'specpy.db'}"


def _fresh_postgres(url: str) -> None:
    """Empty the PostgreSQL test database so that every test starts from `specpy db upgrade`."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A migrated database URL: a SQLite file, or the PostgreSQL server named by $SPECPY_TEST_POSTGRES_URL."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = os.environ.get(POSTGRES_ENV, "")
        if not url:
            pytest.skip(f"PostgreSQL variant skipped: set {POSTGRES_ENV} (e.g. postgresql+psycopg://user@host/testdb) to a disposable database")
        _fresh_postgres(url)
    upgrade_database(url)
    return url


@pytest.fixture
def store(store_url: str, tmp_path) -> Database:
    """An open Database on the migrated URL with products under tmp_path/products; closed afterwards."""
    database = Database(store_url, tmp_path / "products")
    yield database
    database.close()


@pytest.fixture
def sqlite_store(tmp_path) -> Database:
    """An open Database on a migrated SQLite file only (for tests about SQLite itself)."""
    url = sqlite_url(tmp_path)
    upgrade_database(url)
    database = Database(url, tmp_path / "products")
    yield database
    database.close()
