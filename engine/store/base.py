"""The store's database and its transactions: what the ledger's parts share."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Self

from sqlalchemy.engine import Connection, Engine

from engine.store.database import READING, create_ledger_engine, migrate
from engine.store.notifications import WROTE_EVENT


class Store:
    """One ledger database (SQLite or PostgreSQL), migrated, with writing and reading connections."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time and every writing transaction takes its lock up front. Its
        # busy handler polls with growing sleeps, so threads of one process queueing there see
        # long tails; they queue on a lock of ours instead (other processes still meet the
        # busy timeout). PostgreSQL needs no such thing.
        sqlite = engine.dialect.name == "sqlite"
        self._serial: AbstractContextManager[Any] = threading.Lock() if sqlite else nullcontext()
        # Set when a transaction that wrote a notification event has committed (engine.notifier).
        self.notified = threading.Event()

    @classmethod
    def connect(cls, url: str) -> Self:
        engine = create_ledger_engine(url)
        migrate(engine)
        return cls(engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A writing transaction: committed at the end, rolled back on an exception."""
        with self._serial, self.engine.begin() as connection:
            yield connection
            wrote = connection.info.pop(WROTE_EVENT, False)
        if wrote:
            self.notified.set()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads only; it never waits for a writer."""
        with self.engine.connect() as connection:
            yield connection.execution_options(**{READING: True})

    @contextmanager
    def _using(self, connection: Connection | None) -> Iterator[Connection]:
        if connection is not None:
            yield connection
        else:
            with self.transaction() as conn:
                yield conn
