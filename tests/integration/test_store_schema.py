"""The store's migrations build exactly the tables the code declares, the queue's included (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import engine.queue.tables
from engine.store.database import create_ledger_engine, migrate
from engine.store.schema import metadata


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_migrations_make_the_declared_schema(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        if dialect == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    database = create_ledger_engine(url)
    try:
        migrate(database)
        with database.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        database.dispose()
    assert engine.queue.tables.queue_messages.metadata is metadata
    assert {"requests", "request_events", "queue_messages"} <= set(metadata.tables)
    assert differences == []
