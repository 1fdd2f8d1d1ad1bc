"""The portal's database pages: the fleet, one database, and its Extend, Change and destroy buttons."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engine.access import Holder, decide
from engine.catalog import Catalog
from engine.claim import Claim, claim_from_raw, parse_claim
from engine.connection import (
    IAM_GRANT,
    connection_facts,
    connection_or_none,
    connection_string,
    iam_commands,
    secret_commands,
)
from engine.errors import (
    CheckFailed,
    Conflict,
    DbvendError,
    GitOpsError,
    InvalidRequest,
    NotAllowed,
    NotFound,
)
from engine.gitops import Change, branch_name
from engine.guard import enforce, rows_shown_to, shown_to
from engine.lifecycle import describe_database, extend_database, modify_database, request_destroy
from engine.modify import fields_from_text
from engine.portal import views
from engine.portal.pages import FormDep, PortalError, page, router
from engine.portal.signin import Visitor, VisitorDep, checked_fields
from engine.roots import Root
from engine.services import Services
from engine.spec import ENGINES, SIZES
from engine.store.claim_queries import decode_cursor, encode_cursor
from engine.store.records import RELEASING, STATUSES, RequestRecord
from engine.ttl import parse_time
from engine.web import Environment, Identifier, ServicesDep

# -- the fleet ------------------------------------------------------------------------------

Choice = Annotated[str | None, Query(max_length=64)]
PAGE: Final = 100  # databases per page
PENDING: Final = 100  # the newest requests not on main yet, under the page
RELEASED: Final = 1000  # with a status no database on main has (failed, destroyed...): the newest
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetView:
    """What the fleet page shows: a page of rows, the requests not on main yet, the totals of every
    database the filter keeps, and the next page's cursor."""

    rows: list[views.FleetRow]
    pending: list[views.FleetRow]
    per_environment: list[views.Total]
    per_team: list[views.Total]
    after: str | None


@router.get("/fleet")
def fleet_page(
    services: ServicesDep,
    me: VisitorDep,
    environment: Choice = None,
    engine: Choice = None,
    status: Choice = None,
    owner: Choice = None,
    team: Choice = None,
    after: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    """The databases on main a page at a time, soonest expiry first (read from the claims index),
    with the totals and chart of all the filter keeps; under them, the requests not merged yet."""
    wanted = views.FleetFilter(*(_choice(v) for v in (environment, engine, status, owner, team)))
    if wanted.status is not None and wanted.status not in STATUSES:
        raise PortalError(422, f"There is no status {wanted.status!r}.")
    catalog = services.catalog_for_reading()  # on GitHub each reading of dbvend.yaml is a call
    now = datetime.now(UTC)
    if wanted.status in RELEASING:  # no longer holding a name: only the ledger knows them
        shown = _released(services, catalog, me, wanted, after, now)
    else:
        services.index_for_reading()
        shown = _indexed(services, catalog, me, wanted, after, now)
    return page(
        "fleet.html",
        me=me,
        rows=shown.rows,
        pending=shown.pending,
        wanted=wanted,
        per_environment=shown.per_environment,
        per_team=shown.per_team,
        bars=views.chart(shown.per_environment),
        chart_height=max(1, len(shown.per_environment)) * views.CHART_ROW,
        count=sum(t.databases for t in shown.per_environment),
        total=round(sum(t.monthly_usd for t in shown.per_environment), 2),
        next_link=wanted.link(shown.after) if shown.after is not None else None,
        first_link=wanted.link() if after else None,
        page_size=PAGE,
        pending_max=PENDING,
        released=RELEASING,
        released_max=RELEASED,
        environments=sorted(catalog.environments),
        engines=ENGINES,
        statuses=STATUSES,
    )


def _choice(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _indexed(
    services: Services,
    catalog: Catalog,
    me: Visitor,
    wanted: views.FleetFilter,
    after: str | None,
    now: datetime,
) -> FleetView:
    """A page of the claims index joined with the requests holding each name; the access rules
    (access.fleet own) applied to each database's holder."""
    try:
        cursor = decode_cursor(after) if after else None
    except ValueError:
        raise PortalError(422, "That page of the fleet does not exist: start from the first.") from None
    rules, actor = catalog.access, me.actor
    keep = rows_shown_to(rules, actor)
    ledger = services.ledger
    listing = ledger.fleet_listing(wanted.query, PAGE, cursor, keep)
    totals = ledger.fleet_totals(wanted.query, keep)
    records = ledger.pending_requests(wanted.query, PENDING)
    shown = shown_to(rules, actor)
    records = records if shown is None else [record for record in records if shown(record)]
    return FleetView(
        rows=[views.indexed_row(row, now) for row in listing.rows],
        pending=views.fleet_rows(records, _asked_claims(catalog, records), now, wanted),
        per_environment=views.as_totals(totals.by_environment),
        per_team=views.as_totals(totals.by_team),
        after=encode_cursor(listing.next) if listing.next is not None else None,
    )


def _released(
    services: Services,
    catalog: Catalog,
    me: Visitor,
    wanted: views.FleetFilter,
    after: str | None,
    now: datetime,
) -> FleetView:
    """Requests that no longer hold a name (failed, closed, destroyed...), the newest RELEASED from
    the ledger, a page at a time; a destroyed one with a final snapshot has its Restore button."""
    records = services.ledger.list_requests(wanted.environment, None, wanted.status, RELEASED)
    shown = shown_to(catalog.access, me.actor)
    records = records if shown is None else [record for record in records if shown(record)]
    rows = views.fleet_rows(records, {}, now, wanted)
    start = int(after) if after and after.isdecimal() and len(after) <= 6 else -1 if after else 0
    if not 0 <= start < max(1, len(rows)):
        raise PortalError(422, "That page of the fleet does not exist: start from the first.")
    more = start + PAGE < len(rows)
    return FleetView(
        rows=rows[start : start + PAGE],
        pending=[],
        per_environment=views.totals(rows, "environment"),
        per_team=views.totals(rows, "team"),
        after=str(start + PAGE) if more else None,
    )


def _asked_claims(catalog: Catalog, records: list[RequestRecord]) -> dict[str, Claim]:
    """For requests not on main yet, the claim their fields make (its expiry and cost)."""
    claims: dict[str, Claim] = {}
    for record in records:
        try:
            claim = claim_from_raw(record.payload, catalog, record.id, parse_time(record.created_at))
        except (DbvendError, ValueError):
            continue
        claims[Root(record.environment, record.identifier).path] = claim
    return claims


# -- one database ---------------------------------------------------------------------------


def _database_page(
    services: Services,
    me: Visitor,
    environment: str,
    identifier: str,
    status: int = 200,
    done: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    values: Mapping[str, str] | None = None,
) -> HTMLResponse:
    try:
        found = describe_database(services.ledger, services.backend, environment, identifier)
    except NotFound as exc:
        raise PortalError(404, str(exc)) from None
    record = services.ledger.get(found["request_id"]) if found["request_id"] else None
    asked = (found.get("claim") or {}).get("request") or {}
    holder = Holder(record.requester if record else None, asked.get("owner"), asked.get("team"), identifier)
    rules = services.access_rules()
    try:
        enforce(rules, me.actor, "view", environment, holder, services.ledger)
    except NotAllowed as exc:
        raise PortalError(403, str(exc), audited=exc.audited) from None
    history = list(reversed(record.history)) if record is not None else []
    return page(
        "database.html",
        status,
        me=me,
        db=found,
        record=record,
        history=history,
        plan=views.latest_plan(record.history if record is not None else []),
        left=views.time_left(found["expires_at"], datetime.now(UTC)),
        connect=_connect(found["connection"]),
        may={
            action: decide(rules, me.actor, action, environment, holder)
            for action in ("extend", "modify", "destroy")
        },
        sizes=SIZES,
        done=done,
        errors=errors or {},
        values=values or {},
    )


def _connect(details: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The Connect section's facts and commands (no password: where to fetch one), or None."""
    connection = connection_or_none(details)
    if connection is None:
        return None
    return {
        "facts": connection_facts(connection),
        "iam": iam_commands(connection) if connection.iam_auth else [],
        "iam_grant": IAM_GRANT[connection.is_postgres],
        "secret": secret_commands(connection),
        "url": connection_string(connection),
    }


@router.get("/databases/{environment}/{identifier}")
def database_page(
    services: ServicesDep,
    me: VisitorDep,
    environment: Environment,
    identifier: Identifier,
    done: Annotated[
        str | None, Query(max_length=40, pattern=r"^(extend|destroy|modify)-[0-9]{1,10}$")
    ] = None,
) -> Response:
    identifier = identifier.lower()
    said = _what_was_done(services, environment, identifier, done) if done else None
    return _database_page(services, me, environment, identifier, done=said)


def _what_was_done(services: Services, environment: str, identifier: str, done: str) -> str | None:
    """The sentence for `?done=extend-<change>` after the Extend or destroy button, read from the
    change itself (so an address cannot make the page claim what did not happen)."""
    kind, _, number = done.partition("-")
    try:
        change = services.backend.change(int(number))
    except DbvendError:
        return None
    if not change.branch.startswith(f"{branch_name(environment, identifier)}.{kind}-"):
        return None
    if kind == "destroy":
        return f"Destruction proposed in change #{change.id}: once merged and applied, the database goes."
    if kind == "modify":
        return (
            f"Modification proposed in change #{change.id}: its description says what happens to the "
            "running database once it is merged and applied."
        )
    text = services.backend.read_file(change.commit, Root(environment, identifier).file("request.json"))
    expiry = parse_claim(text).expires_at if text else None
    return f"Extension to {expiry} proposed in change #{change.id}: merge it to apply."


@router.post("/databases/{environment}/{identifier}/extend")
def extend_from_page(
    services: ServicesDep, me: VisitorDep, environment: Environment, identifier: Identifier, fields: FormDep
) -> Response:
    """The database page's Extend button: the same change as PATCH /v1/databases/... opens."""
    ttl = checked_fields(me, fields).get("ttl", "").strip()
    identifier = identifier.lower()
    return _button(
        services, me, environment, identifier, "ttl", "extend", fields,
        lambda: extend_database(
            services.backend, environment, identifier, ttl, datetime.now(UTC), me.actor,
            services.ledger, services.settings.terraform_path,
        ).change,
    )  # fmt: skip


@router.post("/databases/{environment}/{identifier}/modify")
def modify_from_page(
    services: ServicesDep, me: VisitorDep, environment: Environment, identifier: Identifier, fields: FormDep
) -> Response:
    """The database page's Change form: the same change as PATCH /v1/databases/... with modification
    fields opens (blank fields stay as they are); each refusal shown next to its field."""
    asked, errors = fields_from_text(checked_fields(me, fields))
    identifier = identifier.lower()

    def open_change() -> Change:
        if errors:
            raise InvalidRequest(errors, "invalid modification")
        with services.settings.policy_gate() as gate:
            return modify_database(
                services.backend, environment, identifier, asked, datetime.now(UTC), me.actor,
                gate, services.ledger, services.settings.terraform_path,
            ).change  # fmt: skip

    return _button(services, me, environment, identifier, None, "modify", fields, open_change)


@router.post("/databases/{environment}/{identifier}/destroy")
def destroy_from_page(
    services: ServicesDep, me: VisitorDep, environment: Environment, identifier: Identifier, fields: FormDep
) -> Response:
    """The database page's destroy button: a destroy change, applied only once reviewed."""
    reason = checked_fields(me, fields).get("reason", "")
    identifier = identifier.lower()
    return _button(
        services, me, environment, identifier, "reason", "destroy", fields,
        lambda: request_destroy(
            services.backend, environment, identifier, reason, datetime.now(UTC), me.actor,
            services.ledger,
        ),
    )  # fmt: skip


def _button(
    services: Services,
    me: Visitor,
    environment: str,
    identifier: str,
    field: str | None,
    kind: str,
    values: Mapping[str, str],
    open_change: Callable[[], Change],
) -> Response:
    """A database page's button: the change it opens, then back to the page (`?done=<kind>-<id>`,
    so a reload posts nothing again); a refusal shows the page with it next to `field` (None: next
    to each field it names)."""
    try:
        change = open_change()
    except NotAllowed as exc:  # the page offers no such button; the rules say why
        raise PortalError(403, str(exc), audited=exc.audited) from None
    except (NotFound, InvalidRequest, Conflict, CheckFailed, GitOpsError) as exc:
        return _refused(services, me, environment, identifier, exc, field, values)
    return RedirectResponse(f"/databases/{environment}/{identifier}?done={kind}-{change.id}", status_code=303)


def _refused(
    services: Services,
    me: Visitor,
    environment: str,
    identifier: str,
    exc: DbvendError,
    field: str | None,
    values: Mapping[str, str],
) -> HTMLResponse:
    """The database page again, the refusal next to the field it concerns (`field` None: each rule
    next to its own field, and one naming none under "modify", the Change form's own)."""
    answer = exc.answer()
    if exc.http_status == 404:
        raise PortalError(404, answer["detail"])
    named = answer.get("errors") or [{"field": field or "modify", "rule": answer["detail"]}]
    errors: dict[str, list[str]] = {}
    for error in named:
        if field is None:
            errors.setdefault(error["field"], []).append(error["rule"])
        else:
            rule = error["rule"] if error["field"] == field else f"{error['field']} {error['rule']}"
            errors.setdefault(field, []).append(rule)
    return _database_page(services, me, environment, identifier, exc.http_status, None, errors, values)
