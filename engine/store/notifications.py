"""The notifications outbox: events written with the change that makes them; deliveries claimed, settled."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.catalog import NOTIFICATION_EVENTS
from engine.notify import EVENT_FIELDS, NotificationEvent
from engine.store.database import dialect_insert
from engine.store.records import now_text
from engine.store.schema import notification_deliveries, notification_events

# Set on a connection that wrote an event: Ledger.transaction wakes the sender once it commits.
WROTE_EVENT: Final = "dbvend_notification_written"


class Transactions(Protocol):
    """What the outbox needs of engine.store.ledger.Ledger (which imports this module)."""

    def transaction(self) -> AbstractContextManager[Connection]: ...

    def reading(self) -> AbstractContextManager[Connection]: ...


@dataclass(frozen=True)
class Delivery:
    """One event to one target: pending (next attempt at next_at), sent, or failed (given up)."""

    event_id: str
    target: str
    state: str
    attempts: int
    next_at: float
    last_error: str | None


def write_event(
    connection: Connection,
    event: str,
    request: Any,
    detail: str | None,
    link: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> str:
    """An event about `request` (a requests row or record: id, environment, identifier, status,
    change_link) in the caller's transaction; its id (X-Dbvend-Event-Id)."""
    if event not in NOTIFICATION_EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    event_id = uuid.uuid4().hex
    connection.execute(
        notification_events.insert().values(
            id=event_id,
            event=event,
            at=now_text(),
            request_id=request.id,
            environment=request.environment,
            identifier=request.identifier,
            status=request.status,
            detail=detail,
            link=link if link is not None else request.change_link,
            data=json.dumps(dict(data), sort_keys=True) if data else None,
            done=False,
        )
    )
    connection.info[WROTE_EVENT] = True
    return event_id


class NotificationOutbox:
    """What the sender (engine.notifier) reads and writes: each in a short transaction of its own,
    never one held across a POST."""

    def __init__(self, ledger: Transactions) -> None:
        self.ledger = ledger

    def unplanned(self, limit: int = 500) -> list[NotificationEvent]:
        """Events not yet done that have no delivery yet (new ones), oldest first."""
        has_delivery = sa.exists().where(notification_deliveries.c.event_id == notification_events.c.id)
        query = (
            sa.select(notification_events)
            .where(notification_events.c.done == sa.false(), ~has_delivery)
            .order_by(notification_events.c.at, notification_events.c.id)
            .limit(limit)
        )
        with self.ledger.reading() as conn:
            return [_event(row) for row in conn.execute(query)]

    def plan(self, targets: Mapping[str, Iterable[str]], now: float) -> None:
        """Each new event's deliveries, due now: one per target dbvend.yaml names for it
        (`targets`: event id -> target ids); an event no target wants is done at once."""
        with self.ledger.transaction() as conn:
            for event_id, wanted in targets.items():
                rows = [
                    {"event_id": event_id, "target": t, "state": "pending", "attempts": 0, "next_at": now}
                    for t in sorted(set(wanted))
                ]
                if rows:  # another sender may plan the same event at once: the first one's rows stay
                    conn.execute(_insert_new(conn), rows)
                elif not self._deliveries(conn, event_id):
                    conn.execute(
                        notification_events.update()
                        .where(notification_events.c.id == event_id)
                        .values(done=True)
                    )

    def due(self, now: float, limit: int = 500) -> list[tuple[Delivery, NotificationEvent]]:
        """Pending deliveries whose time has come, soonest first, with their events."""
        table = notification_deliveries.c
        query = (
            sa.select(notification_deliveries, notification_events)
            .join(notification_events, notification_events.c.id == table.event_id)
            .where(table.state == "pending", table.next_at <= now)
            .order_by(table.next_at)
            .limit(limit)
        )
        with self.ledger.reading() as conn:
            rows = conn.execute(query).all()
        return [(_delivery(row), _event(row)) for row in rows]

    def deliveries(self, event_id: str) -> list[Delivery]:
        with self.ledger.reading() as conn:
            return self._deliveries(conn, event_id)

    def claim(self, delivery: Delivery, lease_until: float) -> bool:
        """Take a due delivery until `lease_until`: False when another sender took it (or settled
        it) since it was read. A sender that dies holding it only delays it to the lease's end."""
        table = notification_deliveries.c
        with self.ledger.transaction() as conn:
            taken = conn.execute(
                notification_deliveries.update()
                .where(
                    table.event_id == delivery.event_id,
                    table.target == delivery.target,
                    table.state == "pending",
                    table.next_at == delivery.next_at,
                )
                .values(next_at=lease_until)
            )
            return taken.rowcount == 1

    def settle(self, delivery: Delivery, state: str, next_at: float, error: str | None) -> None:
        """One attempt's outcome: sent, failed (given up) or pending again at next_at; the event
        done when none of its deliveries is pending any more."""
        table = notification_deliveries.c
        with self.ledger.transaction() as conn:
            conn.execute(
                notification_deliveries.update()
                .where(table.event_id == delivery.event_id, table.target == delivery.target)
                .values(state=state, attempts=table.attempts + 1, next_at=next_at, last_error=error)
            )
            left = conn.execute(
                sa.select(sa.func.count())
                .select_from(notification_deliveries)
                .where(table.event_id == delivery.event_id, table.state == "pending")
            ).scalar_one()
            if not left:
                conn.execute(
                    notification_events.update()
                    .where(notification_events.c.id == delivery.event_id)
                    .values(done=True)
                )

    @staticmethod
    def _deliveries(conn: Connection, event_id: str) -> list[Delivery]:
        rows = conn.execute(
            sa.select(notification_deliveries).where(notification_deliveries.c.event_id == event_id)
        )
        return [_delivery(row) for row in rows]


def _insert_new(conn: Connection) -> Any:
    """An insert of deliveries that leaves the ones already there (INSERT ... ON CONFLICT DO NOTHING)."""
    return dialect_insert(conn, notification_deliveries).on_conflict_do_nothing()


def _event(row: Any) -> NotificationEvent:
    columns = {name: row._mapping[name] for name in EVENT_FIELDS}
    return NotificationEvent(**columns, data=json.loads(row.data) if row.data else {})


def _delivery(row: Any) -> Delivery:
    return Delivery(row.event_id, row.target, row.state, row.attempts, row.next_at, row.last_error)
