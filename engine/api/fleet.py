"""GET /v1/fleet: the databases on main a page at a time from the claims index, soonest expiry
first, with the totals per environment and per team of every database the filters keep."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from engine.api.deps import KeyDep
from engine.api.openapi import KEYED, answer
from engine.errors import FieldError, InvalidRequest
from engine.guard import rows_shown_to
from engine.store.claim_queries import FleetQuery, GroupTotal, IndexedRow, decode_cursor, encode_cursor
from engine.web import ServicesDep

router = APIRouter(prefix="/v1/fleet", tags=["databases"], responses=KEYED)
LIMIT: Final = 50
log = logging.getLogger(__name__)


class FleetItem(BaseModel):
    """A database on main, with the status of the request holding its name."""

    model_config = ConfigDict(extra="forbid")

    environment: str
    identifier: str
    engine: str
    owner: str
    team: str
    expires_at: str | None = Field(description="When its time-to-live ends (UTC); null: never.")
    monthly_usd: float | None = Field(description="Its monthly cost estimate in USD; null: not priced.")
    status: str = Field(description="The holding request's status; merged when no request holds it.")
    request_id: str | None


class FleetGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description='An environment or a team ("(none)": databases without a team).')
    databases: int
    monthly_usd: float


class FleetTotalsAnswer(BaseModel):
    """Every database the filters keep (not only this page), largest cost first."""

    model_config = ConfigDict(extra="forbid")

    by_environment: list[FleetGroup]
    by_team: list[FleetGroup]


class FleetPage(BaseModel):
    """A page of the fleet, soonest expiry first (those without one last), and its totals."""

    model_config = ConfigDict(extra="forbid")

    items: list[FleetItem]
    totals: FleetTotalsAnswer
    next_cursor: str | None = Field(
        description="Pass it back as `cursor` for the next page; null on the last."
    )


def _filter(longest: int, what: str) -> Any:
    return Query(min_length=1, max_length=longest, description=f"Only databases of this {what}.")


@router.get("", responses={200: answer(FleetPage, "A page of the fleet, soonest expiry first.")})
def list_fleet(
    services: ServicesDep,
    caller: KeyDep,
    environment: Annotated[str | None, _filter(32, "environment")] = None,
    team: Annotated[str | None, _filter(100, "team (in any case)")] = None,
    owner: Annotated[str | None, _filter(200, "owner (in any case)")] = None,
    engine: Annotated[str | None, _filter(32, "engine")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = LIMIT,
    cursor: Annotated[str | None, Query(max_length=400, description="A page's next_cursor.")] = None,
) -> dict[str, Any]:
    """The databases on the default branch (the claims index), soonest expiry first, each with the
    status of the request holding its name; totals per environment and team of all the filters
    keep. Pass `next_cursor` back as `cursor` for the next page. With dbvend.yaml's access.fleet
    own, only the caller's own and their teams' databases, counted alike."""
    try:
        after = decode_cursor(cursor) if cursor is not None else None
    except ValueError:
        raise InvalidRequest(
            [FieldError("cursor", "must be a next_cursor from this listing")], "invalid query"
        ) from None
    services.index_for_reading()
    rules = services.access_rules()
    keep = rows_shown_to(rules, caller)
    query = FleetQuery(environment, engine, owner, team)
    listing = services.ledger.fleet_listing(query, limit, after, keep)
    totals = services.ledger.fleet_totals(query, keep)
    return {
        "items": [_item(row) for row in listing.rows],
        "totals": {"by_environment": _groups(totals.by_environment), "by_team": _groups(totals.by_team)},
        "next_cursor": encode_cursor(listing.next) if listing.next is not None else None,
    }


def _item(row: IndexedRow) -> dict[str, Any]:
    return {
        "environment": row.environment,
        "identifier": row.identifier,
        "engine": row.engine,
        "owner": row.owner,
        "team": row.team,
        "expires_at": row.expires_at,
        "monthly_usd": row.monthly_usd,
        "status": row.status,
        "request_id": row.request_id,
    }


def _groups(groups: list[GroupTotal]) -> list[dict[str, Any]]:
    return [{"name": g.name, "databases": g.databases, "monthly_usd": g.monthly_usd} for g in groups]
