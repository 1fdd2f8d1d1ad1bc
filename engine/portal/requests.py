"""The portal's request pages: the form that asks for a database, and the status of a request."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engine.access import decide
from engine.audit import AuditEvent
from engine.errors import DbvendError, FieldError, InvalidRequest
from engine.identity import Actor
from engine.intake import accept_request
from engine.portal import views
from engine.portal.pages import FormDep, PortalError, page, router
from engine.portal.signin import Visitor, VisitorDep, checked_fields
from engine.services import Services
from engine.spec import ENGINES, SIZES
from engine.store.records import RequestRecord
from engine.web import RequestId, ServicesDep


def _request_form(
    services: Services, me: Visitor, values: Mapping[str, str], errors: list[dict[str, str]], status: int
) -> HTMLResponse:
    catalog = services.backend.catalog()
    by_field: dict[str, list[str]] = {}
    for error in errors:
        field, _, part = error["field"].partition(".")  # restore_from.snapshot: under restore_from
        by_field.setdefault(field, []).append(f"{part}: {error['rule']}" if part else error["rule"])
    shown = {name for name in views.FORM_FIELDS if name in by_field}
    return page(
        "request.html",
        status,
        me=me,
        values=values,
        errors=by_field,
        others=[e for e in errors if e["field"].partition(".")[0] not in shown],
        environments=[
            name
            for name in sorted(catalog.environments)
            if decide(catalog.access, me.actor, "request", name).allowed
        ],
        teams=sorted(me.actor.teams),
        engines=ENGINES,
        sizes=SIZES,
        idempotency_key=values.get("idempotency_key") or str(uuid.uuid4()),
        labels=views.LABELS,
        more_options=views.MORE_OPTIONS,
    )


@router.get("/request")
def request_page(services: ServicesDep, me: VisitorDep) -> Response:
    return _request_form(services, me, {}, [], 200)


@router.post("/request")
def submit_request(services: ServicesDep, me: VisitorDep, fields: FormDep) -> Response:
    """The form becomes the API's body and goes through the API's own door (engine.intake)."""
    fields = checked_fields(me, fields)
    idempotency_key = fields.pop("idempotency_key", None) or None
    try:
        raw = owned_by_visitor(views.request_from_form(fields), me.actor)
        record, _ = accept_request(
            raw,
            "portal",
            me.actor.name,
            services.ledger,
            services.backend,
            idempotency_key,
            outbox=services.outbox,
            actor=me.actor,
        )
    except DbvendError as exc:
        if exc.http_status not in (403, 409, 422, 503):
            raise
        if not exc.audited:
            outcome = "failed" if exc.http_status >= 500 else "refused"
            services.ledger.audit(AuditEvent.by(me.actor, "request", outcome, detail=exc.summary()))
        answer = exc.answer()
        errors = answer.get("errors") or [{"field": "", "rule": answer["detail"]}]
        kept = {**fields, "idempotency_key": idempotency_key or ""} if exc.http_status == 503 else fields
        return _request_form(services, me, kept, errors, exc.http_status)
    return RedirectResponse(f"/requests/{record.id}", status_code=303)


def owned_by_visitor(raw: dict[str, object], actor: Actor) -> dict[str, object]:
    """A person's request is theirs: owned by their login, for one of their teams (none if they
    have none); an API key's session says owner and team as the API does."""
    if actor.login is None:
        return raw
    errors = []
    owner = raw.get("owner")
    if owner is not None and str(owner).strip().removeprefix("@").casefold() != actor.login.casefold():
        errors.append(FieldError("owner", f"a portal request is owned by whoever asks: @{actor.login}"))
    team = raw.get("team")
    if team is not None and str(team).casefold() not in actor.teams:
        mine = ", ".join(sorted(actor.teams)) or "none in the organisation"
        errors.append(FieldError("team", f"must be one of your teams ({mine})"))
    if errors:
        raise InvalidRequest(errors)
    return {**raw, "owner": actor.login}


def _record(services: Services, request_id: str) -> RequestRecord:
    record = services.ledger.get(request_id)
    if record is None:
        raise PortalError(404, f"There is no request {request_id}.")
    return record


def _status_context(record: RequestRecord) -> dict[str, Any]:
    link = record.change_link or ""
    return {
        "record": record,
        "steps": views.steps(record.status),
        "final": record.status in views.FINAL,
        "change_href": link
        if link.startswith(("https://", "http://"))
        else f"/databases/{record.environment}/{record.identifier}#change",
    }


@router.get("/requests/{request_id}")
def status_page(services: ServicesDep, me: VisitorDep, request_id: RequestId) -> Response:
    return page("status.html", me=me, **_status_context(_record(services, request_id)))


@router.get("/requests/{request_id}/live")
def status_live(services: ServicesDep, me: VisitorDep, request_id: RequestId) -> Response:
    """The part of the status page that moves, for portal.js to swap in."""
    return page("_live.html", **_status_context(_record(services, request_id)))
