"""The fleet read from the claims index (issue 24): a page at a time, soonest expiry first, with
totals computed in the database, and each database's status from the request holding its name."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from engine.access import Holder
from engine.store.base import Store
from engine.store.records import RequestRecord, record_of
from engine.store.schema import claim_index, requests

# A database on main that no request of this ledger holds (asked for elsewhere, or its request
# released) shows as merged: it is on the default branch.
ON_MAIN: Final = "merged"
_ROOT: Final = re.compile(r"terraform/[^/\x00-\x1f]{1,32}/[^/\x00-\x1f]{1,64}")
_HOLDS: Final = claim_index.c.environment + "/" + claim_index.c.identifier


@dataclass(frozen=True)
class FleetQuery:
    """What a fleet listing keeps: each given field equal (owner, team and engine in any case)."""

    environment: str | None = None
    engine: str | None = None
    owner: str | None = None
    team: str | None = None
    status: str | None = None  # the holding request's status (ON_MAIN when none holds it)


@dataclass(frozen=True)
class FleetCursor:
    """Where a page ended: the last row's expiry (None: among those without one) and root."""

    expires_at: str | None
    root: str


@dataclass(frozen=True)
class IndexedRow:
    """One database of the index with what the ledger says of it."""

    root: str
    environment: str
    identifier: str
    engine: str
    owner: str
    team: str
    expires_at: str | None
    monthly_usd: float | None
    status: str
    request_id: str | None
    requested_by: str | None

    @property
    def holder(self) -> Holder:
        """Who holds the database, for the access rules: its requester, the claim's owner and team."""
        return Holder(self.requested_by, self.owner or None, self.team or None, self.identifier)

    @property
    def cursor(self) -> FleetCursor:
        return FleetCursor(self.expires_at, self.root)


@dataclass(frozen=True)
class GroupTotal:
    name: str  # an environment or a team; "(none)" for databases without a team
    databases: int
    monthly_usd: float


@dataclass(frozen=True)
class FleetTotals:
    by_environment: list[GroupTotal]
    by_team: list[GroupTotal]

    @property
    def databases(self) -> int:
        return sum(t.databases for t in self.by_environment)

    @property
    def monthly_usd(self) -> float:
        return round(sum(t.monthly_usd for t in self.by_environment), 2)


@dataclass(frozen=True)
class FleetListing:
    rows: list[IndexedRow]
    next: FleetCursor | None  # None on the last page


Keep = Callable[[IndexedRow], bool]


class FleetQueries(Store):
    """The ledger's reads of the claims index for the fleet (the API's /v1/fleet, the portal)."""

    def fleet_page(self, query: FleetQuery, limit: int, after: FleetCursor | None = None) -> list[IndexedRow]:
        """Up to `limit` databases after `after`, soonest expiry first (those without one last),
        then by root. Two index walks, (expires_at, root) then the nulls by root, so a page costs
        the same at any depth (keyset, never OFFSET)."""
        found: list[Any] = []
        with self.reading() as conn:
            if after is None or after.expires_at is not None:
                dated = _selected(query).where(claim_index.c.expires_at.is_not(None))
                if after is not None:
                    dated = dated.where(
                        sa.tuple_(claim_index.c.expires_at, claim_index.c.root)
                        > sa.tuple_(sa.literal(after.expires_at), sa.literal(after.root))
                    )
                order = (claim_index.c.expires_at, claim_index.c.root)
                found = list(conn.execute(dated.order_by(*order).limit(limit)))
            if len(found) < limit:
                undated = _selected(query).where(claim_index.c.expires_at.is_(None))
                if after is not None and after.expires_at is None:
                    undated = undated.where(claim_index.c.root > after.root)
                found += conn.execute(undated.order_by(claim_index.c.root).limit(limit - len(found)))
        return [_indexed(row) for row in found]

    def fleet_listing(
        self, query: FleetQuery, limit: int, after: FleetCursor | None = None, keep: Keep | None = None
    ) -> FleetListing:
        """A page of `limit` databases that `keep` (the access rules, when they hide some) keeps,
        read in batches until the page is full, and where the next page starts."""
        rows: list[IndexedRow] = []
        while len(rows) <= limit:
            batch = self.fleet_page(query, limit + 1, after)
            rows += batch if keep is None else [row for row in batch if keep(row)]
            if len(batch) <= limit:
                break
            after = batch[-1].cursor
        page = rows[:limit]
        return FleetListing(page, page[-1].cursor if len(rows) > limit else None)

    def fleet_totals(self, query: FleetQuery, keep: Keep | None = None) -> FleetTotals:
        """Databases and monthly cost per environment and per team of every database the query
        keeps (not one page), largest cost first: GROUP BY in the database. With `keep` (the
        access rules ask per database) the rows' few columns are summed here instead."""
        if keep is not None:
            return _summed([row for row in self._every_row(query) if keep(row)])
        # One scan grouped by both: the claims' text sits in the rows, so walking an index and
        # reading each row it points to costs several times one pass over the table.
        team = sa.func.coalesce(claim_index.c.team, "")
        counted = sa.select(
            claim_index.c.environment, team, sa.func.count(), sa.func.sum(claim_index.c.monthly_usd)
        )
        grouped = _joined(query, counted.select_from(_source(query))).group_by(
            claim_index.c.environment, team
        )
        with self.reading() as conn:
            groups = list(conn.execute(grouped))
        by_environment: dict[str, tuple[int, float]] = {}
        by_team: dict[str, tuple[int, float]] = {}
        for environment, team_name, count, cost in groups:
            for totals, name in ((by_environment, environment), (by_team, team_name or "(none)")):
                had, spent = totals.get(name, (0, 0.0))
                totals[name] = (had + count, spent + (cost or 0.0))
        return FleetTotals(_ordered(by_environment), _ordered(by_team))

    def fleet_count(self, query: FleetQuery, keep: Keep | None = None) -> int:
        """How many databases the query keeps."""
        if keep is not None:
            return sum(1 for row in self._every_row(query) if keep(row))
        counted = _joined(query, sa.select(sa.func.count()).select_from(_source(query)))
        with self.reading() as conn:
            return int(conn.execute(counted).scalar_one())

    def pending_requests(self, query: FleetQuery, limit: int) -> list[RequestRecord]:
        """The newest `limit` requests that hold a name whose database is not on main yet (not in
        the index: accepted, being turned into a change, or its change open), with the query's
        environment, owner and status (engine and team live in their payloads: the caller checks)."""
        indexed = sa.select(claim_index.c.root).where(claim_index.c.root == "terraform/" + requests.c.holds)
        found = sa.select(requests).where(requests.c.holds.is_not(None), ~indexed.exists())
        if query.environment is not None:
            found = found.where(requests.c.environment.in_({query.environment, query.environment.lower()}))
        if query.owner is not None:
            found = found.where(_same(requests.c.owner, query.owner))
        if query.status is not None:
            found = found.where(requests.c.status == query.status)
        newest = found.order_by(requests.c.created_at.desc(), requests.c.id.desc()).limit(limit)
        with self.reading() as conn:
            return [record_of(row, []) for row in conn.execute(newest)]

    def _every_row(self, query: FleetQuery) -> list[IndexedRow]:
        with self.reading() as conn:
            return [_indexed(row) for row in conn.execute(_selected(query))]


# -- cursors ---------------------------------------------------------------------------------


def encode_cursor(cursor: FleetCursor) -> str:
    return base64.urlsafe_b64encode(json.dumps([cursor.expires_at, cursor.root]).encode()).decode()


def decode_cursor(text: str) -> FleetCursor:
    """A page's next cursor back; ValueError for anything encode_cursor did not make."""
    try:
        value = json.loads(base64.b64decode(text.encode("ascii"), altchars=b"-_", validate=True).decode())
    except (binascii.Error, UnicodeError, ValueError):
        raise ValueError("not a fleet cursor") from None
    match value:
        case [str() | None as expires_at, str() as root] if _ROOT.fullmatch(root) and (
            expires_at is None or 0 < len(expires_at) <= 32
        ):
            return FleetCursor(expires_at, root)
    raise ValueError("not a fleet cursor")


# -- inside --------------------------------------------------------------------------------


def _source(query: FleetQuery) -> Any:
    """The index, joined to the request holding each name when the query asks for a status."""
    if query.status is None:
        return claim_index
    return claim_index.outerjoin(requests, requests.c.holds == _HOLDS)


def _selected(query: FleetQuery) -> sa.Select[Any]:
    columns = (
        claim_index.c.root,
        claim_index.c.environment,
        claim_index.c.identifier,
        claim_index.c.engine,
        claim_index.c.owner,
        claim_index.c.team,
        claim_index.c.expires_at,
        claim_index.c.monthly_usd,
        requests.c.status,
        requests.c.id,
        requests.c.requester,
    )
    joined = claim_index.outerjoin(requests, requests.c.holds == _HOLDS)
    return _joined(query, sa.select(*columns).select_from(joined))


def _joined(query: FleetQuery, select: sa.Select[Any]) -> sa.Select[Any]:
    """`select` with the query's conditions."""
    if query.environment is not None:
        wanted = {query.environment, query.environment.lower()}  # an index lookup, in any case
        select = select.where(claim_index.c.environment.in_(wanted))
    for column, value in (
        (claim_index.c.engine, query.engine),
        (claim_index.c.owner, query.owner),
        (claim_index.c.team, query.team),
    ):
        if value is not None:
            select = select.where(_same(column, value))
    if query.status is not None:
        select = select.where(sa.func.coalesce(requests.c.status, ON_MAIN) == query.status)
    return select


def _same(column: Any, value: str) -> Any:
    """Equal, or equal in lower case (the database's lower(): ASCII letters at least)."""
    return sa.or_(column == value, sa.func.lower(column) == value.lower())


def _summed(rows: list[IndexedRow]) -> FleetTotals:
    by_environment: dict[str, tuple[int, float]] = {}
    by_team: dict[str, tuple[int, float]] = {}
    for row in rows:
        for groups, name in ((by_environment, row.environment), (by_team, row.team or "(none)")):
            count, cost = groups.get(name, (0, 0.0))
            groups[name] = (count + 1, cost + (row.monthly_usd or 0.0))
    return FleetTotals(_ordered(by_environment), _ordered(by_team))


def _ordered(groups: dict[str, tuple[int, float]]) -> list[GroupTotal]:
    found = [GroupTotal(name, count, round(cost, 2)) for name, (count, cost) in groups.items()]
    return sorted(found, key=lambda t: (-t.monthly_usd, t.name))


def _indexed(row: Any) -> IndexedRow:
    return IndexedRow(
        root=row.root,
        environment=row.environment,
        identifier=row.identifier,
        engine=row.engine or "",
        owner=row.owner or "",
        team=row.team or "",
        expires_at=row.expires_at,
        monthly_usd=row.monthly_usd,
        status=row.status or ON_MAIN,
        request_id=row.id,
        requested_by=row.requester,
    )
