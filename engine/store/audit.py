"""The audit trail in the ledger: rows appended (the table refuses UPDATE and DELETE), read a page
at a time newest first, or all of them oldest first for an export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.audit import ACTIONS, OUTCOMES, AuditEvent, AuditQuery, AuditRow
from engine.identity import DOORS
from engine.store.base import Store
from engine.store.records import now_text
from engine.store.schema import audit_events

__all__ = ["AuditLog", "AuditQuery", "AuditRow"]

MOST_DETAIL: Final = 2000  # characters of a detail kept: a sentence or a list of fields, not a log
EXPORT_CHUNK: Final = 1000  # rows read at a time by audit_rows
SPARSE: Final = 2000  # rows in a time range that SQLite sorts by id rather than scan the ids for
_COLUMNS: Final = audit_events.c


class AuditLog(Store):
    """Append and read the audit trail (engine.audit); a part of engine.store.ledger.Ledger."""

    def audit(self, event: AuditEvent, connection: Connection | None = None) -> None:
        """Append one event, in the caller's transaction when given (so it is recorded only if
        what it records is). Text too long for its column is cut, never refused; an action,
        outcome or door dbvend does not know is a bug: ValueError."""
        for value, known in ((event.action, ACTIONS), (event.outcome, OUTCOMES), (event.door, DOORS)):
            if value not in known:
                raise ValueError(f"unknown audit value {value!r}: one of {', '.join(known)}")
        row = {
            "actor": _fit(event.actor, 200),
            "door": event.door,
            "action": event.action,
            "outcome": event.outcome,
            "environment": _fit(event.environment, 32),
            "identifier": _fit(event.identifier, 64),
            "request_id": _fit(event.request_id, 64),
            "detail": _fit(event.detail, MOST_DETAIL),
        }
        with self._using(connection) as conn:  # the time taken under SQLite's write lock: in id order
            conn.execute(audit_events.insert().values(at=now_text(), **row))

    def audit_page(
        self, query: AuditQuery, limit: int, before: int | None
    ) -> tuple[list[AuditRow], int | None]:
        """Up to `limit` rows matching `query`, newest first, below row `before` when given; and
        the `before` of the next page (None on the last)."""
        with self.reading() as conn:
            select = _newest_first(conn, query, before).limit(limit + 1)
            rows = [_row(found) for found in conn.execute(select)]
        page = rows[:limit]
        return page, (page[-1].id if len(rows) > limit else None)

    def audit_rows(self, query: AuditQuery, chunk: int = EXPORT_CHUNK) -> Iterator[AuditRow]:
        """Every row matching `query`, oldest first, read `chunk` rows at a time (each its own
        short read: no transaction stays open while the caller writes them out)."""
        after = 0
        while True:
            select = (
                _matching(query, _COLUMNS.at).where(_COLUMNS.id > after).order_by(_COLUMNS.id).limit(chunk)
            )
            with self.reading() as conn:
                rows = [_row(found) for found in conn.execute(select)]
            yield from rows
            if len(rows) < chunk:
                return
            after = rows[-1].id


def _matching(query: AuditQuery, at: sa.ColumnElement[str]) -> sa.Select[Any]:
    """The rows a query asks for, its times compared with `at`. A database or an actor is found
    through its index, (environment, identifier, id) or (actor, id), in id order."""
    select = sa.select(audit_events)
    if query.environment is not None and query.identifier is not None:
        select = select.where(
            _COLUMNS.environment == query.environment, _COLUMNS.identifier == query.identifier
        )
    if query.actor is not None:
        select = select.where(_COLUMNS.actor == query.actor)
    if query.since is not None:
        select = select.where(at >= query.since)
    if query.until is not None:
        select = select.where(at < query.until)
    if query.action is not None:
        select = select.where(_COLUMNS.action == query.action)
    if query.outcome is not None:
        select = select.where(_COLUMNS.outcome == query.outcome)
    return select


def _newest_first(conn: Connection, query: AuditQuery, before: int | None) -> sa.Select[Any]:
    """A page's query. With a time filter SQLite is shown the way: its planner has no statistics,
    and takes ix_audit_events_at for a range closed on both sides however wide (sorting all of it
    for every page), or another index for an open one however narrow (reading every row of it).
    So: few rows in the time range (read in that index alone), those rows by id; many, and no
    database or actor, down the ids from the cursor, which meets a page at once (ids follow times)."""
    select = _matching(query, _COLUMNS.at)
    if conn.dialect.name == "sqlite" and (query.since is not None or query.until is not None):
        in_time = _ids_in_time(conn, query, before)
        if in_time is not None:
            select = select.where(_COLUMNS.id.in_(in_time))
        elif query.identifier is None and query.actor is None:
            select = _matching(query, _COLUMNS.at.concat(""))  # an expression: out of the time index
    select = select.order_by(_COLUMNS.id.desc())
    return select if before is None else select.where(_COLUMNS.id < before)


def _ids_in_time(conn: Connection, query: AuditQuery, before: int | None) -> list[int] | None:
    """The ids of the rows in the query's time range below `before`, when there are at most SPARSE."""
    in_range = sa.select(_COLUMNS.id).where(*_in_time(query)).limit(SPARSE + 1)
    if before is not None:
        in_range = in_range.where(_COLUMNS.id < before)
    ids = [int(found) for found in conn.execute(in_range).scalars()]
    return ids if len(ids) <= SPARSE else None


def _in_time(query: AuditQuery) -> list[sa.ColumnElement[bool]]:
    since = [] if query.since is None else [_COLUMNS.at >= query.since]
    return since + ([] if query.until is None else [_COLUMNS.at < query.until])


def _fit(text: str | None, most: int) -> str | None:
    """Text as a column takes it: at most `most` characters (the cut marked with …), and no NUL,
    which PostgreSQL refuses in text."""
    if text is None:
        return None
    text = text.replace("\x00", "\ufffd")
    return text if len(text) <= most else text[: most - 1] + "\u2026"


def _row(found: Any) -> AuditRow:
    return AuditRow(
        id=int(found.id),
        at=found.at,
        actor=found.actor,
        door=found.door,
        action=found.action,
        outcome=found.outcome,
        environment=found.environment,
        identifier=found.identifier,
        request_id=found.request_id,
        detail=found.detail,
    )
