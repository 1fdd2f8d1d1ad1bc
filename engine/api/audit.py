"""GET /v1/audit: the audit trail, newest first, a page at a time, filtered by database, actor,
time, action and outcome."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from engine.api.deps import KeyDep
from engine.api.openapi import KEYED, answer
from engine.audit import (
    ACTIONS,
    ACTOR_PATTERN,
    CURSOR_PATTERN,
    DATABASE_PATTERN,
    OUTCOMES,
    decode_cursor,
    encode_cursor,
    parse_audit_query,
)
from engine.guard import enforce
from engine.identity import DOORS
from engine.web import ServicesDep

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=KEYED)


Door = Annotated[str, WithJsonSchema({"type": "string", "enum": list(DOORS)})]
Action = Annotated[str, WithJsonSchema({"type": "string", "enum": list(ACTIONS)})]
Outcome = Annotated[str, WithJsonSchema({"type": "string", "enum": list(OUTCOMES)})]


class AuditEventAnswer(BaseModel):
    """One recorded action: who, through which door, what, to which database, with what outcome."""

    model_config = ConfigDict(extra="forbid")

    id: int
    at: str = Field(description="When, in UTC: 2026-05-01T09:30:00.123456Z.")
    actor: str = Field(description="github:<login>, key:<name>, dbvend (itself), or a caller's address.")
    door: Door
    action: Action
    outcome: Outcome
    environment: str | None
    identifier: str | None
    request_id: str | None
    detail: str | None = Field(description="Why it was refused or failed, or what changed.")


class AuditPage(BaseModel):
    """A page of the audit trail, newest first."""

    model_config = ConfigDict(extra="forbid")

    items: list[AuditEventAnswer]
    next_cursor: str | None = Field(
        description="Pass it back as `cursor` for the next page; null on the last."
    )


# Each filter's rule is in the document (a value it allows is never refused) and checked by
# engine.audit.parse_audit_query, whose 422 names the field.
Database = Annotated[
    str | None,
    Query(
        min_length=3,
        max_length=84,
        description="<environment>/<name>, as the database's path spells it.",
        json_schema_extra={"pattern": DATABASE_PATTERN},
    ),
]
ActorName = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="An actor, exactly.",
        json_schema_extra={"pattern": ACTOR_PATTERN},
    ),
]


def _moment(description: str) -> Any:
    return Query(
        min_length=1, max_length=40, description=description, json_schema_extra={"format": "date-time"}
    )


Since = Annotated[
    str | None, _moment("From this time on: ISO 8601 with its zone, such as 2026-05-01T00:00:00Z.")
]
Until = Annotated[str | None, _moment("Before this time: ISO 8601 with its zone.")]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=18,
        description="A page's next_cursor.",
        json_schema_extra={"pattern": CURSOR_PATTERN},
    ),
]
LIMIT: Final = 50


@router.get("", responses={200: answer(AuditPage, "A page of the audit trail, newest first.")})
def list_audit_events(
    services: ServicesDep,
    caller: KeyDep,
    database: Database = None,
    actor: ActorName = None,
    since: Since = None,
    until: Until = None,
    action: Annotated[str | None, Query(json_schema_extra={"enum": list(ACTIONS)})] = None,
    outcome: Annotated[str | None, Query(json_schema_extra={"enum": list(OUTCOMES)})] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Who did what, through which door, to which database, with what outcome: newest first; pass
    `next_cursor` back as `cursor` for the next page. dbvend.yaml's access.audit says who may read it."""
    enforce(services.access_rules(), caller, "audit", "", ledger=services.ledger)
    query = parse_audit_query(database, actor, since, until, action, outcome)
    rows, before = services.ledger.audit_page(query, limit, decode_cursor(cursor))
    return {
        "items": [row.as_json() for row in rows],
        "next_cursor": None if before is None else encode_cursor(before),
    }
