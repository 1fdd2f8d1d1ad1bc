"""Alembic environment: migrations run on the connection engine.ledger.migrate hands in."""

from __future__ import annotations

from alembic import context

from engine.ledger import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through engine.ledger.migrate(), which passes a connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
