"""The PostgreSQL server the fixtures start: reachable, configured, one isolated database per test."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from tests.support import postgres_server as module
from tests.support.postgres_server import PostgresServer


def psycopg_url(url: str) -> str:
    """SQLAlchemy's postgresql+psycopg:// URL as a libpq URI for psycopg.connect()."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_round_trip_through_psycopg(postgres_url: str, postgres_server: PostgresServer) -> None:
    assert postgres_url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/")
    with psycopg.connect(psycopg_url(postgres_url)) as conn:
        conn.execute("CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO item VALUES (%s, %s), (%s, %s)", (1, "one", 2, "two"))
        conn.commit()
        rows = conn.execute("SELECT id, name FROM item ORDER BY id").fetchall()
        assert rows == [(1, "one"), (2, "two")]
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('listen_addresses', 'fsync', 'synchronous_commit', 'full_page_writes', 'max_connections')"
            ).fetchall()
        )
    assert settings == {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }


def test_databases_are_isolated(postgres_url: str, postgres_server: PostgresServer) -> None:
    name = postgres_url.rsplit("/", 1)[-1]
    with postgres_server.temporary_database() as other_url:
        other_name = other_url.rsplit("/", 1)[-1]
        assert other_name != name
        first, second = sa.create_engine(postgres_url), sa.create_engine(other_url)
        try:
            with first.begin() as conn:
                conn.execute(sa.text("CREATE TABLE secret (value text)"))
                conn.execute(sa.text("INSERT INTO secret VALUES ('first only')"))
            with second.connect() as conn:
                assert conn.execute(sa.text("SELECT to_regclass('secret')")).scalar() is None
                assert conn.execute(sa.text("SELECT current_database()")).scalar() == other_name
            with first.connect() as conn:
                assert conn.execute(sa.text("SELECT value FROM secret")).scalar() == "first only"
        finally:
            first.dispose()
            second.dispose()
    # Leaving the block dropped the second database; the fixture's stays until the test ends.
    with psycopg.connect(postgres_server.conninfo()) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database").fetchall()}
    assert other_name not in names
    assert name in names


def test_missing_binaries_fail_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "find_bindir", lambda: None)
    with pytest.raises(RuntimeError, match="apt-get update && apt-get install -y postgresql"):
        PostgresServer().start()
