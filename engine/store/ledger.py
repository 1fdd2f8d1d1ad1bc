"""The request ledger: every request, its status history and its change (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.audit import AuditEvent, status_action
from engine.connection import parse_connection
from engine.errors import Conflict, DbvendError, IdempotencyMismatch
from engine.identity import Actor, system
from engine.notify import NOTIFIED_STATUSES
from engine.store.audit import AuditLog
from engine.store.changes import ChangeRecords
from engine.store.claim_queries import FleetQueries
from engine.store.claims import ClaimIndex
from engine.store.github_records import GitHubRecords
from engine.store.notifications import write_event
from engine.store.records import (
    NEXT,
    RELEASING,
    STATUSES,
    Event,
    NewRequest,
    RequestRecord,
    issue_key,
    now_text,
    record_of,
)
from engine.store.schema import (
    request_events,
    requests,
)
from engine.store.sessions import SignIns


class Ledger(ChangeRecords, GitHubRecords, SignIns, AuditLog, FleetQueries, ClaimIndex):
    """Requests, their history and notification events; webhook deliveries and the GitHub App's
    replies, runs and state come with GitHubRecords (engine.store.github_records)."""

    # -- writing -------------------------------------------------------------------------

    def record_accepted(self, connection: Connection, new: NewRequest) -> str:
        """Insert an accepted request and its first event in the caller's transaction (intake
        queues its message in the same one); returns the time recorded. IntegrityError when the
        database or the idempotency key is held: see `refusal`."""
        at = now_text()
        connection.execute(
            requests.insert().values(
                id=new.id,
                channel=new.channel,
                requester=new.requester,
                payload=json.dumps(dict(new.payload), sort_keys=True),
                environment=new.environment,
                identifier=new.identifier,
                database_name=new.database_name,
                owner=new.owner,
                holds=f"{new.environment}/{new.identifier}",
                status="accepted",
                idempotency_key=new.idempotency_key,
                created_at=at,
                updated_at=at,
            )
        )
        connection.execute(request_events.insert().values(request_id=new.id, status="accepted", at=at))
        write_event(connection, "accepted", _Told(new.id, new.environment, new.identifier, "accepted"), None)
        return at

    def earlier(self, new: NewRequest) -> RequestRecord | None:
        """The request accepted before under the same requester and idempotency key, if any;
        IdempotencyMismatch when that key came with a different request."""
        if new.idempotency_key is None:
            return None
        earlier = self._by_idempotency_key(new.requester, new.idempotency_key)
        if earlier is not None and earlier.payload != json.loads(
            json.dumps(dict(new.payload), sort_keys=True)
        ):
            raise IdempotencyMismatch("Idempotency-Key was used before for a different request")
        return earlier

    def refusal(self, new: NewRequest) -> Conflict | None:
        """Why recording `new` broke a uniqueness rule: another request holds its database."""
        holder = self.holder(new.environment, new.identifier)
        if holder is None:
            return None
        holds = f"{new.environment}/{new.identifier}"
        return Conflict(f"database {holds} is already requested (request {holder.id}, {holder.status})")

    def transition(
        self,
        request_id: str,
        status: str,
        detail: str | None = None,
        *,
        change_id: int | None = None,
        change_link: str | None = None,
        errors: list[Any] | None = None,
        policy: Mapping[str, Any] | None = None,
        change_head: str | None = None,
        merge_commit: str | None = None,
        final_snapshot: str | None = None,
        expected: str | None = None,
        connection: Connection | None = None,
        actor: Actor | None = None,
    ) -> bool:
        """Move a request to `status` (recorded with a time, and in the audit trail as the action of
        `actor`, dbvend itself unless said); False when that would go backwards, when the request
        is not in status `expected` (if given), or when another transaction moved it meanwhile
        (the update is conditional on the status read)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._using(connection) as conn:
            row = conn.execute(sa.select(requests).where(requests.c.id == request_id)).one_or_none()
            if row is None:
                raise DbvendError(f"no request {request_id} in the ledger")
            if status not in NEXT[row.status] or expected not in (None, row.status):
                return False
            at = now_text()
            values: dict[str, Any] = {"status": status, "updated_at": at}
            if status in RELEASING:
                values["holds"] = None
            if change_id is not None:
                values["change_id"] = change_id
            if change_link is not None:
                values["change_link"] = change_link
            if errors is not None:
                values["errors"] = json.dumps(errors)
            if policy is not None:
                values["policy"] = json.dumps(policy)
            if change_head is not None:
                values["change_head"] = change_head
            if merge_commit is not None:
                values["merge_commit"] = merge_commit
            if final_snapshot is not None:
                values["final_snapshot"] = final_snapshot
            moved = conn.execute(
                requests.update()
                .where(requests.c.id == request_id, requests.c.status == row.status)
                .values(**values)
            )
            if moved.rowcount != 1:  # PostgreSQL: a concurrent transition committed first
                return False
            conn.execute(
                request_events.insert().values(request_id=request_id, status=status, at=at, detail=detail)
            )
            audited = status_action(row.status, status)
            if audited is not None:
                by, (action, outcome) = actor or system("dbvend"), audited
                event = AuditEvent.by(by, action, outcome, detail=detail, request_id=request_id)
                self.audit(replace(event, environment=row.environment, identifier=row.identifier), conn)
            if status in NOTIFIED_STATUSES:
                link = values.get("change_link", row.change_link)
                told = _Told(request_id, row.environment, row.identifier, status, link)
                connected = json.loads(row.connection) if status == "applied" and row.connection else None
                write_event(conn, status, told, detail, data={"connection": connected} if connected else None)
            return True

    def note(self, request_id: str, detail: str, connection: Connection | None = None) -> None:
        """An event in a request's history that does not change its status (a CI run, say)."""
        with self._using(connection) as conn:
            row = conn.execute(sa.select(requests.c.status).where(requests.c.id == request_id)).one()
            conn.execute(
                request_events.insert().values(
                    request_id=request_id, status=row.status, at=now_text(), detail=detail
                )
            )

    def record_connection(
        self, request_id: str, details: Mapping[str, Any], connection: Connection | None = None
    ) -> None:
        """How to reach a request's database once applied (engine.connection's fields, JSON), in the
        caller's transaction when given: before its move to applied, which tells the details on.
        ValueError for details that are not connection details or name a secret."""
        checked = parse_connection(details).as_dict()
        with self._using(connection) as conn:
            updated = conn.execute(
                requests.update().where(requests.c.id == request_id).values(connection=json.dumps(checked))
            )
            if updated.rowcount != 1:
                raise DbvendError(f"no request {request_id} in the ledger")

    def notify(
        self,
        event: str,
        request_id: str,
        detail: str | None = None,
        link: str | None = None,
        data: Mapping[str, Any] | None = None,
        connection: Connection | None = None,
    ) -> str:
        """A notification event that is no status change (modify_open, expiring, drift), in the
        caller's transaction when given; `link` defaults to the request's change. Its event id."""
        with self._using(connection) as conn:
            row = conn.execute(sa.select(requests).where(requests.c.id == request_id)).one_or_none()
            if row is None:
                raise DbvendError(f"no request {request_id} in the ledger")
            return write_event(conn, event, row, detail, link, data)

    # -- reading -------------------------------------------------------------------------

    def get(self, request_id: str) -> RequestRecord | None:
        with self.reading() as conn:
            row = conn.execute(sa.select(requests).where(requests.c.id == request_id)).one_or_none()
            if row is None:
                return None
            events = conn.execute(
                sa.select(request_events)
                .where(request_events.c.request_id == request_id)
                .order_by(request_events.c.id)
            ).all()
        return record_of(row, [Event(e.status, e.at, e.detail) for e in events])

    def holder(self, environment: str, identifier: str) -> RequestRecord | None:
        """The request that holds a database's name now, if any."""
        return self._first(sa.select(requests).where(requests.c.holds == f"{environment}/{identifier}"))

    def of_database(self, environment: str, identifier: str) -> RequestRecord | None:
        """The request a database's page is about: the one holding its name, else its newest."""
        return self.holder(environment, identifier) or self.latest(environment, identifier)

    def latest(self, environment: str, identifier: str, status: str | None = None) -> RequestRecord | None:
        """The newest request for a database, whatever became of it (or the newest in `status`)."""
        query = sa.select(requests).where(
            requests.c.environment == environment, requests.c.identifier == identifier
        )
        if status is not None:
            query = query.where(requests.c.status == status)
        return self._first(query.order_by(requests.c.created_at.desc(), requests.c.id.desc()))

    def by_issue(self, repository: str, number: int) -> RequestRecord | None:
        """The request an issue made (the issue form's idempotency key), if any."""
        return self._first(
            sa.select(requests)
            .where(requests.c.channel == "issue", requests.c.idempotency_key == issue_key(repository, number))
            .order_by(requests.c.created_at.desc())
        )

    def final_snapshot(self, environment: str, identifier: str) -> str | None:
        """The final snapshot the last destroy of <environment>/<identifier> kept, if one did."""
        with self.reading() as conn:
            name = conn.execute(
                sa.select(requests.c.final_snapshot)
                .where(
                    requests.c.environment == environment,
                    requests.c.identifier == identifier,
                    requests.c.status == "destroyed",
                    requests.c.final_snapshot.is_not(None),
                )
                .order_by(requests.c.updated_at.desc(), requests.c.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        return None if name is None else str(name)

    def by_merge_commit(self, sha: str) -> RequestRecord | None:
        """The request whose change was merged as commit `sha`."""
        if not sha:
            return None
        return self._first(sa.select(requests).where(requests.c.merge_commit == sha))

    def by_change(self, change_id: int) -> RequestRecord | None:
        """The request whose change is `change_id`, if any."""
        return self._first(sa.select(requests).where(requests.c.change_id == change_id))

    def _first(self, query: sa.Select[Any]) -> RequestRecord | None:
        """The first request a query finds (without its events), or None."""
        with self.reading() as conn:
            row = conn.execute(query.limit(1)).first()
        return None if row is None else record_of(row, [])

    def list_requests(
        self,
        environment: str | None = None,
        owner: str | None = None,
        status: str | None = None,
        limit: int = 50,
        after: tuple[str, str] | None = None,
    ) -> list[RequestRecord]:
        """Newest first; `after` is the (created_at, id) of the last row of the previous page."""
        query = sa.select(requests)
        if environment is not None:
            query = query.where(requests.c.environment == environment)
        if owner is not None:
            query = query.where(requests.c.owner == owner)
        if status is not None:
            query = query.where(requests.c.status == status)
        if after is not None:
            created, last_id = after
            query = query.where(
                sa.or_(
                    requests.c.created_at < created,
                    sa.and_(requests.c.created_at == created, requests.c.id < last_id),
                )
            )
        query = query.order_by(requests.c.created_at.desc(), requests.c.id.desc()).limit(limit)
        with self.reading() as conn:
            return [record_of(row, []) for row in conn.execute(query)]

    def holding(self, environment: str | None = None) -> list[RequestRecord]:
        """Every request that holds its database's name now (from acceptance until released)."""
        query = sa.select(requests).where(requests.c.holds.is_not(None))
        if environment is not None:
            query = query.where(requests.c.environment == environment)
        with self.reading() as conn:
            return [record_of(row, []) for row in conn.execute(query.order_by(requests.c.holds))]

    def ping(self) -> bool:
        try:
            with self.reading() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def count(self) -> int:
        with self.reading() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one())

    # -- inside --------------------------------------------------------------------------

    def _by_idempotency_key(self, requester: str, key: str) -> RequestRecord | None:
        with self.reading() as conn:
            row = conn.execute(
                sa.select(requests).where(
                    requests.c.requester == requester, requests.c.idempotency_key == key
                )
            ).one_or_none()
        return None if row is None else record_of(row, [])


@dataclass(frozen=True)
class _Told:
    """The request fields a notification event carries."""

    id: str
    environment: str
    identifier: str
    status: str
    change_link: str | None = None
