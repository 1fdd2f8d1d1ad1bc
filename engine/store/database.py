"""The store's database: its SQLAlchemy engine (SQLite or PostgreSQL), schema revision and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

# The execution option Ledger.reading sets: its transactions begin deferred on SQLite.
READING: Final = "dbvend_reading"


def create_ledger_engine(url: str) -> Engine:
    """An engine for the ledger URL; SQLite gets WAL and transactions that take the write lock first."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE: a writer waits for the lock up front instead of failing half-way. Readers
        # (Ledger.reading) begin deferred: under WAL they never wait for a writer.
        reading = connection.get_execution_options().get(READING, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


# The newest revision in engine/store/migrations/versions (a test keeps the two in step). A ledger
# already there is opened without importing Alembic: ~90 ms of every Lambda cold start.
SCHEMA_HEAD: Final = "0010"


def schema_version(engine: Engine) -> str | None:
    """The ledger's Alembic revision; None for a new database."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        value = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creates it on a new database)."""
    if schema_version(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def dialect_insert(connection: Connection, table: sa.Table) -> Any:
    """An INSERT of the connection's dialect, which can say ON CONFLICT (SQLite and PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
