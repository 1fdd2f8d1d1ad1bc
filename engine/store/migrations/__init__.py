"""Alembic migrations of the ledger schema (run on start by engine.store.database.migrate)."""
