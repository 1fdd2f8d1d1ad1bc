"""Alembic environment: migrations run on the connection engine.store.database.migrate hands in."""

from __future__ import annotations

from alembic import context

from engine.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through engine.store.database.migrate(), which passes a connection")
# The whole schema: the queue's table joins this MetaData once engine.queue.tables is imported
# (import it before autogenerating a revision; upgrades only run the scripts in versions/).
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
