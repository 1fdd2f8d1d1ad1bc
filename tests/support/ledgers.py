"""The ledger as the tests open it, on SQLite and on a real PostgreSQL server, with requests to record
and a clock that moves only when told."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.store.ledger import Ledger
from engine.store.records import NewRequest
from engine.store.schema import audit_events

PAYLOAD = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = Ledger.connect(url)
    yield opened
    opened.engine.dispose()


def refusals(ledger: Ledger) -> int:
    """How many refused calls the audit trail holds (a server writing the same file counts too)."""
    refused = audit_events.c.outcome == "refused"
    with ledger.reading() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(audit_events).where(refused)).scalar_one()
        )


class Clock:
    """Starts at the real time (enqueue stamps messages with it), then moves only when told."""

    def __init__(self) -> None:
        self.now = time.time() + 1.0

    def __call__(self) -> float:
        return self.now


def new(n: int = 1, **changes: object) -> NewRequest:
    fields: dict[str, object] = {
        "id": f"req-{n}",
        "channel": "api",
        "requester": "key-a",
        "payload": {**PAYLOAD, "database_name": f"orders{n}"},
        "environment": "dev",
        "identifier": f"orders{n}",
        "database_name": f"orders{n}",
        **changes,
    }
    return NewRequest(**fields)  # type: ignore[arg-type]
