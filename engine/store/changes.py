"""dbvend's changes on GitHub as the ledger records them: one row per pull request, written when dbvend
opens or settles one, when a pull_request webhook moves one, and by the reconcile pass."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.gitops import CHANGE_STATUSES, Change
from engine.roots import Root
from engine.store.database import dialect_insert
from engine.store.github_records import GitHubRecords
from engine.store.records import now_text
from engine.store.schema import change_records

# app_state's key for when the last reconcile started (engine.github.repository.reconcile_changes).
RECONCILED_KEY = "changes_reconciled_at"


class ChangeRecords(GitHubRecords):
    """dbvend's changes by pull request number (engine.store.ledger.Ledger)."""

    def record_change(self, change: Change, connection: Connection | None = None) -> None:
        """Insert or update a change by its id. A merged change stays merged: a reading taken
        before the merge and written after it does not make it open again."""
        if change.status not in CHANGE_STATUSES:
            raise ValueError(f"not a change status: {change.status!r}")
        with self._using(connection) as conn:
            conn.execute(_upsert(conn, change))

    def record_changes(self, changes: Iterable[Change]) -> None:
        """Several changes in one transaction (the reconcile pass)."""
        with self.transaction() as connection:
            for change in changes:
                self.record_change(change, connection)

    def recorded_changes(self, status: str | None = None) -> list[Change]:
        """The recorded changes, oldest (lowest number) first, optionally only those with `status`."""
        query = sa.select(change_records.c.data).order_by(change_records.c.id)
        if status is not None:
            query = query.where(change_records.c.status == status)
        with self.reading() as connection:
            return [Change.from_json(data) for data in connection.execute(query).scalars()]

    def open_changes_of(self, environment: str, identifier: str) -> list[Change]:
        """The open changes of one database (its request's and every later one), oldest first."""
        query = (
            sa.select(change_records.c.data)
            .where(
                change_records.c.environment == environment,
                change_records.c.identifier == identifier,
                change_records.c.status == "open",
            )
            .order_by(change_records.c.id)
        )
        with self.reading() as connection:
            return [Change.from_json(data) for data in connection.execute(query).scalars()]

    def recorded_change(self, change_id: int) -> Change | None:
        with self.reading() as connection:
            data = connection.execute(
                sa.select(change_records.c.data).where(change_records.c.id == change_id)
            ).scalar_one_or_none()
        return None if data is None else Change.from_json(data)

    def changes_reconciled_at(self) -> str | None:
        """When the last reconcile of the changes with GitHub started; None: never."""
        return self.app_state(RECONCILED_KEY)

    def mark_changes_reconciled(self, started_at: str) -> None:
        self.set_app_state(RECONCILED_KEY, started_at)


def _upsert(conn: Connection, change: Change) -> Any:
    """INSERT ... ON CONFLICT (id) DO UPDATE, leaving a merged row as it is."""
    root = Root.parse(change.root) if change.root else None
    values = {
        "id": change.id,
        "branch": change.branch,
        "change_key": change.request_id,
        "environment": root.environment if root else "",
        "identifier": root.identifier if root else "",
        "status": change.status,
        "data": change.to_json(),
        "updated_at": now_text(),
    }
    insert = dialect_insert(conn, change_records)
    excluded = insert.excluded
    return insert.values(**values).on_conflict_do_update(
        index_elements=[change_records.c.id],
        set_={name: excluded[name] for name in values if name != "id"},
        where=sa.or_(change_records.c.status != "merged", excluded.status == "merged"),
    )
