"""The audit trail's rows: who (actor) did what (action) through which door, to which database, with
what outcome. Written append-only in the ledger (engine.store.audit), read by GET /v1/audit, the
portal's audit page and `dbvend audit export`."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

from engine.errors import FieldError, InvalidRequest
from engine.identity import Actor

# What is recorded: a request accepted (or rejected at the door), its change opened, merged,
# applied, an extension, a modification, a destroy asked for, a database destroyed, a sign-in or
# sign-out, a restore or clone asked for, and any action refused (outcome "refused").
ACTIONS: Final = (
    "request",
    "change_open",
    "plan",
    "merge",
    "close",
    "apply",
    "extend",
    "modify",
    "destroy",
    "destroyed",
    "clone",
    "signin",
    "signout",
    "view",
    "webhook",
)
OUTCOMES: Final = ("ok", "refused", "failed")
# A request's status move -> the action it records (engine.store.ledger.Ledger.transition); moves not
# here (processing, destroy_open) are recorded by the action that makes them, or are no action.
_MOVES: Final = {
    "change_open": ("change_open", "ok"),
    "planned": ("plan", "ok"),
    "merged": ("merge", "ok"),
    "closed": ("close", "ok"),
    "applied": ("apply", "ok"),
    "rejected": ("request", "refused"),
    "destroyed": ("destroyed", "ok"),
}
_FAILED_AT: Final = {"accepted": "change_open", "processing": "change_open", "destroy_open": "destroyed"}


def status_action(before: str, status: str) -> tuple[str, str] | None:
    """The (action, outcome) a request's move from `before` to `status` records, or None."""
    if status == "failed":
        return _FAILED_AT.get(before, "apply"), "failed"
    if status == "merged" and before == "destroy_open":  # its destroy change was closed unmerged
        return "close", "ok"
    return _MOVES.get(status)


@dataclass(frozen=True)
class AuditEvent:
    """One action: recorded as it happens, never changed afterwards."""

    actor: str  # github:<login>, key:<name>, dbvend (dbvend itself), or an unknown caller's address
    door: str  # engine.identity.DOORS
    action: str  # ACTIONS
    outcome: str = "ok"  # OUTCOMES
    environment: str | None = None
    identifier: str | None = None
    request_id: str | None = None
    detail: str | None = None  # why it was refused or failed, or what changed; never a secret

    @classmethod
    def by(cls, actor: Actor, action: str, outcome: str = "ok", **where: str | None) -> AuditEvent:
        """An event of `actor` through its own door."""
        return cls(actor.name, actor.door, action, outcome, **where)


# -- reading the trail: the filters, a row, the cursor ------------------------------------------

# What the filters may be, as the OpenAPI document states them (parse_audit_query keeps exactly
# these, so a value the document allows is never refused): a database's <environment>/<name> as
# its page's path spells it, an actor's name in visible ASCII, a cursor from a page.
DATABASE_PATTERN: Final = r"^[a-z][a-z0-9-]{0,19}/[A-Za-z][A-Za-z0-9-]{0,62}$"
ACTOR_PATTERN: Final = r"^[!-~]{1,200}$"
CURSOR_PATTERN: Final = r"^[0-9]{1,18}$"
# The ledger's `at` is UTC to the microsecond (engine.store.records.now_text): these texts sort
# as their times do, so a filter compares texts; a time beyond either end is clamped to it.
_EARLIEST: Final = "0001-01-01T00:00:00.000000Z"
_LATEST: Final = "9999-12-31T23:59:59.999999Z"
_TIME_RULE: Final = "must be an ISO 8601 time with its zone, such as 2026-05-01T09:30:00Z"


@dataclass(frozen=True)
class AuditQuery:
    """Which rows of the trail: each filter None for any; `since` inclusive, `until` exclusive,
    both as the ledger writes times."""

    environment: str | None = None
    identifier: str | None = None
    actor: str | None = None
    since: str | None = None
    until: str | None = None
    action: str | None = None
    outcome: str | None = None

    @property
    def database(self) -> str | None:
        return f"{self.environment}/{self.identifier}" if self.environment and self.identifier else None

    def as_params(self) -> dict[str, str]:
        """The filters as query parameters (a link to the next page keeps them)."""
        named = {"database": self.database, "actor": self.actor, "since": self.since, "until": self.until}
        named |= {"action": self.action, "outcome": self.outcome}
        return {name: value for name, value in named.items() if value is not None}


@dataclass(frozen=True)
class AuditRow:
    """One recorded event, as the ledger holds it."""

    id: int
    at: str
    actor: str
    door: str
    action: str
    outcome: str
    environment: str | None
    identifier: str | None
    request_id: str | None
    detail: str | None

    @property
    def database(self) -> str | None:
        return f"{self.environment}/{self.identifier}" if self.environment and self.identifier else None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_audit_query(
    database: str | None = None,
    actor: str | None = None,
    since: str | None = None,
    until: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
) -> AuditQuery:
    """The filters from text (None or empty: any); InvalidRequest naming every field that breaks
    its rule. A `since` after `until` is no error: it matches nothing."""
    errors: list[FieldError] = []
    environment = identifier = None
    if database:
        if re.fullmatch(DATABASE_PATTERN, database):
            environment, _, name = database.partition("/")
            identifier = name.lower()
        else:
            errors.append(FieldError("database", "must be <environment>/<name>, such as dev/orders"))
    if actor and not re.fullmatch(ACTOR_PATTERN, actor):
        errors.append(FieldError("actor", "must be an actor's name: 1-200 visible ASCII characters"))
    moments: dict[str, str | None] = {}
    for field, text in (("since", since), ("until", until)):
        moments[field] = at_text(text) if text else None
        if text and moments[field] is None:
            errors.append(FieldError(field, _TIME_RULE))
    for field, value, allowed in (("action", action, ACTIONS), ("outcome", outcome, OUTCOMES)):
        if value and value not in allowed:
            errors.append(FieldError(field, f"must be one of {', '.join(allowed)}"))
    if errors:
        raise InvalidRequest(errors, "invalid query")
    return AuditQuery(
        environment,
        identifier,
        actor or None,
        moments["since"],
        moments["until"],
        action or None,
        outcome or None,
    )


def at_text(text: str) -> str | None:
    """An ISO 8601 time with its zone as the ledger writes times (UTC, microseconds, Z); None when
    it is not one. RFC 3339's lower-case t and z are read too."""
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    offset = moment.utcoffset()
    if offset is None:
        return None
    try:
        utc = moment.replace(tzinfo=None) - offset
    except OverflowError:  # an offset carries it past year 1 or 9999
        return _EARLIEST if moment.year == 1 else _LATEST
    return utc.isoformat(timespec="microseconds") + "Z"


def encode_cursor(before: int) -> str:
    """The cursor of the page that starts below row `before` (newest first)."""
    return str(before)


def decode_cursor(cursor: str | None) -> int | None:
    """A page's cursor back to its row id (None: the first page); InvalidRequest naming `cursor`."""
    if cursor is None:
        return None
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise InvalidRequest([FieldError("cursor", "must be a next_cursor from a page")], "invalid query")
    return int(cursor)
