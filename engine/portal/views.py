"""What the portal's pages show, computed without I/O: form fields, status steps, the fleet."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlencode

from markupsafe import Markup

from engine.claim import Claim
from engine.cost import estimate_monthly_cost
from engine.forms import LABELS as ISSUE_FORM_LABELS
from engine.restore_from import parse_restore_option
from engine.roots import Root
from engine.spec import FIELDS
from engine.store.claim_queries import FleetQuery, GroupTotal, IndexedRow
from engine.store.records import RELEASING, Event, RequestRecord
from engine.ttl import describe_left, parse_time

# The web form's fields, in the order of the page: the issue form's (engine.forms), then more.
MORE_LABELS: Final = {
    "identifier": "Identifier",
    "engine_version": "Engine version",
    "storage_gb": "Storage (GB)",
    "readers": "Readers",
    "min_acu": "Minimum ACU",
    "max_acu": "Maximum ACU",
    "proxy": "RDS Proxy",
}
TEXT_FIELDS: Final = (*ISSUE_FORM_LABELS, "identifier", "engine_version")
INTEGER_FIELDS: Final = ("storage_gb", "readers")
NUMBER_FIELDS: Final = ("min_acu", "max_acu")
FLAG_FIELDS: Final = ("proxy",)
FORM_FIELDS: Final = TEXT_FIELDS + INTEGER_FIELDS + NUMBER_FIELDS + FLAG_FIELDS
LABELS: Final = {**ISSUE_FORM_LABELS, **MORE_LABELS}
# Under "More options", opened when one of them is refused.
MORE_OPTIONS: Final = (*MORE_LABELS, "restore_from")
_INTEGER = re.compile(r"[+-]?[0-9]{1,400}")
_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})")

# The steps a request's status page follows, and where each ledger status stands on it.
STEPS: Final = (
    ("accepted", "Accepted"),
    ("change_open", "Change open"),
    ("planned", "Planned"),
    ("applied", "Applied"),
)
_STEP_OF: Final = {
    "accepted": 0,
    "processing": 0,
    "change_open": 1,
    "planned": 2,
    "applied": 3,
    "merged": 3,
    "destroy_open": 3,
    "destroyed": 3,
}
FINAL: Final = RELEASING | {"applied", "merged"}
STATUS_WORDS: Final = {
    "accepted": "accepted, waiting for the worker",
    "processing": "being turned into a change",
    "change_open": "change open: review and merge it",
    "planned": "planned: apply it",
    "applied": "applied",
    "merged": "merged",
    "closed": "closed without merging",
    "rejected": "rejected",
    "failed": "failed",
    "destroy_open": "destroy change open",
    "destroyed": "destroyed",
}


def request_from_form(form: Mapping[str, str]) -> dict[str, object]:
    """The web form's fields as the API's JSON body: blanks left out, numbers as numbers.

    A number field that does not read as a number stays text, so the request's own rules name
    it with the API's words; an unknown field is passed on, and refused the same way.
    """
    raw: dict[str, object] = {}
    for name, value in form.items():
        if name in FLAG_FIELDS:
            raw[name] = value in ("on", "true", "1", "yes")
            continue
        text = value.strip()
        if not text:
            continue
        if name == "restore_from":  # written as on the command line: ENV/ID:SNAPSHOT or ENV/ID@TIME
            raw[name] = parse_restore_option(text)
        elif name in INTEGER_FIELDS and _INTEGER.fullmatch(text):
            raw[name] = int(text)
        elif name in NUMBER_FIELDS and _NUMBER.fullmatch(text):
            raw[name] = float(text)
        else:
            raw[name] = text if name in FIELDS else value
    return raw


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    state: str  # done | current | todo


def steps(status: str) -> list[Step]:
    """accepted -> change open -> planned -> applied, with where this request stands."""
    at = _STEP_OF.get(status, 0)
    reached_end = status in FINAL and status in _STEP_OF
    return [
        Step(name, label, "done" if i < at or (reached_end and i == at) else "current" if i == at else "todo")
        for i, (name, label) in enumerate(STEPS)
    ]


@dataclass(frozen=True)
class FleetRow:
    environment: str
    identifier: str
    engine: str
    owner: str
    team: str
    status: str
    monthly_usd: float | None
    expires_at: str | None
    left: str  # "2d 3h", "expired", "none"
    request_id: str | None
    database_name: str = ""
    final_snapshot: str | None = None  # destroyed: the snapshot its destroy kept (Restore from it)

    @property
    def key(self) -> str:
        return f"{self.environment}/{self.identifier}"


@dataclass(frozen=True)
class FleetFilter:
    environment: str | None = None
    engine: str | None = None
    status: str | None = None  # a ledger status, or None for every database that holds its name
    owner: str | None = None
    team: str | None = None

    @property
    def query(self) -> FleetQuery:
        """The same filter for the claims index (engine.store.claim_queries)."""
        return FleetQuery(self.environment, self.engine, self.owner, self.team, self.status)

    def link(self, after: str | None = None) -> str:
        """/fleet with this filter (and a page's cursor): the pager's links keep the filter."""
        fields = {name: value for name, value in asdict(self).items() if value is not None}
        return "/fleet?" + urlencode(fields | ({"after": after} if after is not None else {}))

    def keeps(self, row: FleetRow) -> bool:
        return all(
            wanted is None or wanted.casefold() == value.casefold()
            for wanted, value in (
                (self.environment, row.environment),
                (self.engine, row.engine),
                (self.status, row.status),
                (self.owner, row.owner),
                (self.team, row.team),
            )
        )


def fleet_rows(
    records: Iterable[RequestRecord], claims: Mapping[str, Claim], now: datetime, wanted: FleetFilter
) -> list[FleetRow]:
    """One row per database: the ledger's requests joined with the claims (by root), and the
    claims nobody asked through this ledger for; soonest expiry first, then by name."""
    rows: dict[str, FleetRow] = {}
    for record in records:
        root = Root(record.environment, record.identifier).path
        # newest first: a name asked for and destroyed twice shows its latest request
        rows.setdefault(root, _row(record.environment, record.identifier, claims.get(root), record, now))
    for root, claim in claims.items():
        rows.setdefault(root, _row(claim.environment, claim.identifier, claim, None, now))
    kept = [row for row in rows.values() if wanted.keeps(row)]
    return sorted(kept, key=lambda r: (r.expires_at is None, r.expires_at or "", r.key))


def _row(
    environment: str, identifier: str, claim: Claim | None, record: RequestRecord | None, now: datetime
) -> FleetRow:
    payload = record.payload if record is not None else {}
    request = claim.request if claim is not None else None
    expires_at = claim.expires_at if claim is not None else None
    return FleetRow(
        environment=environment,
        identifier=identifier,
        engine=request.database_engine if request else str(payload.get("database_engine") or ""),
        owner=(request.owner if request else None) or str(payload.get("owner") or ""),
        team=(request.team if request else None) or str(payload.get("team") or ""),
        status=record.status if record is not None else "merged",
        monthly_usd=estimate_monthly_cost(claim).monthly_usd if claim is not None else None,
        expires_at=expires_at,
        left=time_left(expires_at, now),
        request_id=record.id if record is not None else None,
        database_name=record.database_name
        if record is not None
        else request.database_name
        if request
        else "",
        final_snapshot=record.final_snapshot if record is not None else None,
    )


def indexed_row(row: IndexedRow, now: datetime) -> FleetRow:
    """A database of the claims index as a fleet row."""
    return FleetRow(
        environment=row.environment,
        identifier=row.identifier,
        engine=row.engine,
        owner=row.owner,
        team=row.team,
        status=row.status,
        monthly_usd=row.monthly_usd,
        expires_at=row.expires_at,
        left=time_left(row.expires_at, now),
        request_id=row.request_id,
    )


def time_left(expires_at: str | None, now: datetime) -> str:
    if expires_at is None:
        return "none"
    left = parse_time(expires_at) - now
    return "expired" if left.total_seconds() <= 0 else describe_left(left)


@dataclass(frozen=True)
class Total:
    name: str
    databases: int
    monthly_usd: float


def as_totals(groups: Iterable[GroupTotal]) -> list[Total]:
    """The index's totals (computed in the database) as the page's."""
    return [Total(group.name, group.databases, group.monthly_usd) for group in groups]


def totals(rows: Sequence[FleetRow], by: str) -> list[Total]:
    """Databases and monthly cost per environment or team (`by`), largest cost first."""
    groups: dict[str, tuple[int, float]] = {}
    for row in rows:
        name = getattr(row, by) or "(none)"
        count, cost = groups.get(name, (0, 0.0))
        groups[name] = (count + 1, cost + (row.monthly_usd or 0.0))
    found = [Total(name, count, round(cost, 2)) for name, (count, cost) in groups.items()]
    return sorted(found, key=lambda t: (-t.monthly_usd, t.name))


@dataclass(frozen=True)
class Bar:
    label: str
    y: int
    count: int
    count_width: int
    cost: float
    cost_width: int


CHART_WIDTH: Final = 240  # the longest bar, in SVG units
CHART_ROW: Final = 44


def chart(per_environment: Sequence[Total]) -> list[Bar]:
    """Two bars per environment (databases, monthly cost), each scaled to its own largest."""
    most = max((t.databases for t in per_environment), default=0) or 1
    dearest = max((t.monthly_usd for t in per_environment), default=0.0) or 1.0
    return [
        Bar(
            label=t.name,
            y=i * CHART_ROW,
            count=t.databases,
            count_width=max(1, round(CHART_WIDTH * t.databases / most)),
            cost=t.monthly_usd,
            cost_width=max(1, round(CHART_WIDTH * t.monthly_usd / dearest)) if t.monthly_usd else 0,
        )
        for i, t in enumerate(per_environment)
    ]


def visible(value: object) -> object:
    """What a page prints: text with every invisible or control character (a right-to-left
    override, a zero-width space, NUL) shown as U+FFFD, so nothing hides or reorders what a
    reader sees; escaping alone would not (a browser renders &#x202e; all the same)."""
    if not isinstance(value, str) or isinstance(value, Markup) or (value.isascii() and value.isprintable()):
        return value  # Markup: a macro's output, whose own values went through here already
    return "".join(
        char if char in "\n\t" or not unicodedata.category(char).startswith(_HIDDEN) else "\ufffd"
        for char in value
    )


_HIDDEN: Final = ("C", "Zl", "Zp")


def money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def latest_plan(history: Sequence[Event]) -> Event | None:
    """The last plan CI reported on the request (a /plan run, or `dbvend ci plan`), if any."""
    plans = [e for e in history if e.status == "planned" or (e.detail or "").startswith(PLAN_DETAILS)]
    return plans[-1] if plans else None


PLAN_DETAILS: Final = ("/plan ", "dbvend ci plan")
