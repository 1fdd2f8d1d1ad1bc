"""The store: the request ledger, its tables and their migrations (SQLite or PostgreSQL)."""
