"""The portal's database pages: the fleet, one database, and its Extend, Change and destroy buttons."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

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
from engine.guard import enforce, shown_to
from engine.lifecycle import describe_database, extend_database, modify_database, request_destroy
from engine.modify import fields_from_text
from engine.portal import views
from engine.portal.pages import FormDep, PortalError, page, router
from engine.portal.signin import Visitor, VisitorDep, checked_fields
from engine.roots import Root
from engine.services import Services
from engine.spec import ENGINES, SIZES
from engine.store.records import STATUSES, RequestRecord
from engine.ttl import parse_time
from engine.web import Environment, Identifier, ServicesDep

# -- the fleet ------------------------------------------------------------------------------

Choice = Annotated[str | None, Query(max_length=64)]


@router.get("/fleet")
def fleet_page(
    services: ServicesDep,
    me: VisitorDep,
    environment: Choice = None,
    engine: Choice = None,
    status: Choice = None,
    owner: Choice = None,
    team: Choice = None,
) -> Response:
    """Every database with its cost and time left, soonest expiry first; totals and a chart."""
    wanted = views.FleetFilter(*(_choice(v) for v in (environment, engine, status, owner, team)))
    if wanted.status is not None and wanted.status not in STATUSES:
        raise PortalError(422, f"There is no status {wanted.status!r}.")
    records = (
        services.ledger.list_requests(status=wanted.status, limit=10_000)
        if wanted.status is not None
        else services.ledger.holding()
    )
    catalog = services.backend.catalog()  # read once: on GitHub each reading is a call
    shown = shown_to(catalog.access, me.actor)
    records = records if shown is None else [record for record in records if shown(record)]
    rows = views.fleet_rows(records, _fleet_claims(services, catalog, records), datetime.now(UTC), wanted)
    per_environment = views.totals(rows, "environment")
    return page(
        "fleet.html",
        me=me,
        rows=rows,
        wanted=wanted,
        per_environment=per_environment,
        per_team=views.totals(rows, "team"),
        bars=views.chart(per_environment),
        chart_height=max(1, len(per_environment)) * views.CHART_ROW,
        total=round(sum(row.monthly_usd or 0.0 for row in rows), 2),
        environments=sorted(catalog.environments),
        engines=ENGINES,
        statuses=STATUSES,
    )


def _choice(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _fleet_claims(services: Services, catalog: Catalog, records: list[RequestRecord]) -> dict[str, Claim]:
    """The claims on main (one read), and for requests not there yet the claim their fields make."""
    claims: dict[str, Claim] = {}
    for root, text in services.backend.claims().items():
        try:
            claims[root] = parse_claim(text)
        except DbvendError:
            continue  # shown from the ledger alone; `dbvend ttl list` names the broken claim
    for record in records:
        root = Root(record.environment, record.identifier).path
        if root in claims or record.status not in ("accepted", "processing", "change_open", "planned"):
            continue
        try:
            claims[root] = claim_from_raw(record.payload, catalog, record.id, parse_time(record.created_at))
        except (DbvendError, ValueError):
            continue
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
