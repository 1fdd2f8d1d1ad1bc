"""What the store holds, as values: a request's record and events, its statuses and where each may go."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

CHANNELS: Final = ("api", "portal", "issue", "comment", "cli")
STATUSES: Final = (
    "accepted",
    "processing",
    "change_open",
    "planned",
    "applied",
    "merged",
    "closed",
    "rejected",
    "failed",
    "destroy_open",
    "destroyed",
)
# A request holds its database's name from acceptance until it is refused, fails, is closed or
# its database is destroyed.
RELEASING: Final = frozenset({"rejected", "failed", "closed", "destroyed"})
# Where a status may go; a redelivered message never moves a request backwards.
NEXT: Final[Mapping[str, frozenset[str]]] = {
    "accepted": frozenset({"processing", "change_open", "rejected", "failed"}),
    "processing": frozenset({"processing", "change_open", "rejected", "failed"}),
    "change_open": frozenset({"planned", "applied", "merged", "closed"}),
    "planned": frozenset({"planned", "applied", "merged", "closed"}),
    "applied": frozenset({"merged", "closed", "destroy_open", "destroyed"}),  # from the PR, or on merge
    "merged": frozenset({"applied", "destroy_open", "destroyed"}),  # applied on merge
    # A destroy change (the time-to-live ran out, or someone asked): destroyed once applied; back
    # to merged when the destroy change is closed without being applied.
    "destroy_open": frozenset({"destroyed", "merged"}),
    "destroyed": frozenset(),
    "closed": frozenset(),
    "rejected": frozenset(),
    "failed": frozenset(),
}


@dataclass(frozen=True)
class Event:
    status: str
    at: str
    detail: str | None = None


@dataclass(frozen=True)
class RequestFields:
    """What names a request: its id, the door and person it came by, what it asked for, and for which
    database."""

    id: str
    channel: str
    requester: str
    payload: Mapping[str, Any]
    environment: str
    identifier: str
    database_name: str


@dataclass(frozen=True)
class RequestRecord(RequestFields):
    """A request as the ledger knows it."""

    owner: str | None
    status: str
    change_id: int | None
    change_link: str | None
    errors: list[Any]
    created_at: str
    updated_at: str
    history: list[Event] = field(default_factory=list)
    policy: dict[str, Any] | None = None
    change_head: str | None = None
    merge_commit: str | None = None
    connection: dict[str, Any] | None = None  # how to reach the database once applied, no secret
    final_snapshot: str | None = None  # the snapshot its destroy kept (restore_from "final")

    @property
    def live_connection(self) -> dict[str, Any] | None:
        """The connection details while the database exists: none once it is destroyed."""
        return None if self.status == "destroyed" else self.connection

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.id,
            "channel": self.channel,
            "requester": self.requester,
            "request": self.payload,
            "environment": self.environment,
            "identifier": self.identifier,
            "database_name": self.database_name,
            "owner": self.owner,
            "status": self.status,
            "change_id": self.change_id,
            "change_link": self.change_link,
            "errors": self.errors,
            "policy": self.policy,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "history": [{"status": e.status, "at": e.at, "detail": e.detail} for e in self.history],
        }


@dataclass(frozen=True)
class CommentSlot:
    """Ledger.claim_comment's answer: the comment to edit, or whether this caller makes it."""

    comment_id: int | None
    mine: bool


@dataclass(frozen=True)
class NewRequest(RequestFields):
    """What the front door knows when it accepts a request."""

    owner: str | None = None
    idempotency_key: str | None = None


def issue_key(repository: str, number: int) -> str:
    """The idempotency key of the request an issue makes: one request per issue."""
    return f"issue:{repository}#{number}"


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def record_of(row: Any, history: list[Event]) -> RequestRecord:
    """A row of `requests` as a record, with the history given (the ledger's reads, the fleet's)."""
    return RequestRecord(
        id=row.id,
        channel=row.channel,
        requester=row.requester,
        payload=json.loads(row.payload),
        environment=row.environment,
        identifier=row.identifier,
        database_name=row.database_name,
        owner=row.owner,
        status=row.status,
        change_id=row.change_id,
        change_link=row.change_link,
        errors=json.loads(row.errors) if row.errors else [],
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=history,
        policy=json.loads(row.policy) if row.policy else None,
        change_head=row.change_head,
        merge_commit=row.merge_commit,
        connection=json.loads(row.connection) if row.connection else None,
        final_snapshot=row.final_snapshot,
    )
