"""The portal's routes: sign-in, the request form and its status, the fleet, one database."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, quote

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engine.catalog import Catalog
from engine.claim import Claim, claim_from_raw, parse_claim
from engine.errors import CheckFailed, Conflict, DbvendError, GitOpsError, InvalidRequest, NotFound
from engine.gitops import Change, branch_name
from engine.intake import accept_request
from engine.lifecycle import describe_database, extend_database, request_destroy
from engine.portal import views
from engine.portal.session import COOKIE, LIFETIME, form_token, form_token_ok, same_text, session_key, sign_in
from engine.roots import Root
from engine.services import Services
from engine.spec import ENGINES, SIZES
from engine.store.records import STATUSES, RequestRecord
from engine.ttl import parse_time
from engine.web import Environment, Identifier, RequestId, ServicesDep

PORTAL_TAG: Final = "portal"
router = APIRouter(include_in_schema=False, tags=[PORTAL_TAG])
FORM_TYPE: Final = "application/x-www-form-urlencoded"
MAX_FIELDS: Final = 40
# Everything from this server, nothing inline, no frames: an injected tag could not run a script.
# (X-Content-Type-Options: nosniff comes with every answer, from engine.api.middleware.)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
SIGNIN_COOKIE: Final = "dbvend_signin"
SIGNIN_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{32}")
STATIC: Final = {"portal.css": "text/css; charset=utf-8", "portal.js": "text/javascript; charset=utf-8"}


class SignInNeeded(Exception):
    """A page asked for without a session: answered with the sign-in page's address."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PortalError(Exception):
    """A page that cannot be shown: its status and a sentence for the person."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})


class Visitor:
    """A signed-in person: the API key their session stands for, and their form token."""

    def __init__(self, key_id: str, token: str) -> None:
        self.key_id, self.session, self.form_token = key_id, token, form_token(token)


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("engine.portal").joinpath("templates"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=views.visible,
    )
    env.filters["money"] = views.money
    env.globals["status_words"] = views.STATUS_WORDS
    return env


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def visitor(request: Request, services: ServicesDep) -> Visitor:
    """The signed-in person, within the API's rate limit; else off to the sign-in page."""
    token = request.cookies.get(COOKIE)
    key_id = session_key(services.keys, token, time.time())
    if key_id is None or token is None:
        raise SignInNeeded(request.url.path)
    wait = services.limiter.take(key_id)
    if wait is not None:
        raise PortalError(
            429, f"Too many requests: try again in {wait} s.", headers={"Retry-After": str(wait)}
        )
    return Visitor(key_id, token)


VisitorDep = Annotated[Visitor, Depends(visitor)]


async def sign_in_needed(_request: Request, exc: SignInNeeded) -> Response:
    return RedirectResponse(f"/signin?next={quote(_safe_next(exc.next_path), safe='/')}", status_code=303)


def is_page(request: Request) -> bool:
    """The request was routed to one of the portal's pages (not the API, which answers JSON)."""
    return PORTAL_TAG in getattr(request.scope.get("route"), "tags", ())


def invalid_page(exc: RequestValidationError) -> Response:
    """A page's address with a part no page has (a path or query parameter out of its rules)."""
    where = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
    return page("error.html", 404, message=f"There is no such page ({where}).", me=None)


async def portal_error(_request: Request, exc: PortalError) -> Response:
    response = page("error.html", exc.status, message=exc.message, me=None)
    response.headers.update(exc.headers)
    return response


async def form_fields(request: Request) -> dict[str, str]:
    """A posted form's fields: URL-encoded UTF-8 only, each field once (size: the middleware)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise PortalError(415, "This page takes a form posted by a browser.")
    try:
        pairs = parse_qsl(
            (await request.body()).decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise PortalError(400, "The form could not be read.") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise PortalError(400, "The form sent a field twice.")
        fields[name] = value
    return fields


FormDep = Annotated[dict[str, str], Depends(form_fields)]


def _checked(me: Visitor, fields: dict[str, str]) -> dict[str, str]:
    """The fields without the form token, once it is the session's."""
    if not form_token_ok(me.session, fields.pop("csrf", None)):
        raise PortalError(403, "This form has expired or came from another site: open the page again.")
    return fields


def _safe_next(value: str | None) -> str:
    """Only a path on this site (no //host, no backslashes): never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/fleet"
    return value if value.isprintable() and len(value) <= 200 else "/fleet"


# -- sign-in --------------------------------------------------------------------------------


@router.get("/")
def home() -> Response:
    return RedirectResponse("/fleet", status_code=303)


@router.get("/signin")
def signin_page(request: Request, next_path: Annotated[str | None, Query(alias="next")] = None) -> Response:
    return _signin_form(request, 200, _safe_next(next_path), None)


def _signin_form(request: Request, status: int, next_path: str, error: str | None) -> Response:
    """The sign-in form with a token that must come back with it, also set as a cookie only this
    site's pages send (SameSite=Strict): another site cannot sign a browser in with its own key."""
    token = request.cookies.get(SIGNIN_COOKIE) or ""
    fresh = not SIGNIN_TOKEN.fullmatch(token)
    if fresh:
        token = secrets.token_urlsafe(24)
    response = page("signin.html", status, next_path=next_path, error=error, signin_token=token, me=None)
    if fresh:
        response.set_cookie(
            SIGNIN_COOKIE,
            token,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=_https(request),
            path="/signin",
        )
    return response


@router.post("/signin")
def signin(request: Request, services: ServicesDep, fields: FormDep) -> Response:
    """An API key in, a session cookie out; wrong keys count against the caller's address."""
    where = f"signin:{request.client.host if request.client else 'unknown'}"
    wait = services.limiter.take(where)
    if wait is not None:
        raise PortalError(429, f"Too many attempts: try again in {wait} s.", {"Retry-After": str(wait)})
    next_path = _safe_next(fields.get("next"))
    expected = request.cookies.get(SIGNIN_COOKIE) or ""
    if not SIGNIN_TOKEN.fullmatch(expected) or not same_text(expected, fields.get("signin_token") or ""):
        return _signin_form(
            request, 403, next_path, "This sign-in form has expired or came from another site."
        )
    token = sign_in(services.keys, fields.get("api_key", "").strip(), time.time())
    if token is None:
        return _signin_form(request, 401, next_path, "That API key is not valid.")
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE, token, max_age=LIFETIME, httponly=True, samesite="strict", secure=_https(request), path="/"
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


@router.post("/signout")
def signout(me: VisitorDep, fields: FormDep) -> Response:
    _checked(me, fields)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- asking for a database ------------------------------------------------------------------


def _request_form(
    services: Services, me: Visitor, values: Mapping[str, str], errors: list[dict[str, str]], status: int
) -> HTMLResponse:
    catalog = services.backend.catalog()
    by_field: dict[str, list[str]] = {}
    for error in errors:
        by_field.setdefault(error["field"], []).append(error["rule"])
    shown = {name for name in views.FORM_FIELDS if name in by_field}
    return page(
        "request.html",
        status,
        me=me,
        values=values,
        errors=by_field,
        others=[e for e in errors if e["field"] not in shown],
        environments=sorted(catalog.environments),
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
    fields = _checked(me, fields)
    idempotency_key = fields.pop("idempotency_key", None) or None
    try:
        raw = views.request_from_form(fields)
        record, _ = accept_request(
            raw,
            "portal",
            me.key_id,
            services.ledger,
            services.backend,
            idempotency_key,
            outbox=services.outbox,
        )
    except DbvendError as exc:
        if exc.http_status not in (409, 422, 503):
            raise
        answer = exc.answer()
        errors = answer.get("errors") or [{"field": "", "rule": answer["detail"]}]
        kept = {**fields, "idempotency_key": idempotency_key or ""} if exc.http_status == 503 else fields
        return _request_form(services, me, kept, errors, exc.http_status)
    return RedirectResponse(f"/requests/{record.id}", status_code=303)


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
        done=done,
        errors=errors or {},
        values=values or {},
    )


@router.get("/databases/{environment}/{identifier}")
def database_page(
    services: ServicesDep,
    me: VisitorDep,
    environment: Environment,
    identifier: Identifier,
    done: Annotated[str | None, Query(max_length=40, pattern=r"^(extend|destroy)-[0-9]{1,10}$")] = None,
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
    text = services.backend.read_file(change.commit, Root(environment, identifier).file("request.json"))
    expiry = parse_claim(text).expires_at if text else None
    return f"Extension to {expiry} proposed in change #{change.id}: merge it to apply."


@router.post("/databases/{environment}/{identifier}/extend")
def extend_from_page(
    services: ServicesDep, me: VisitorDep, environment: Environment, identifier: Identifier, fields: FormDep
) -> Response:
    """The database page's Extend button: the same change as PATCH /v1/databases/... opens."""
    ttl = _checked(me, fields).get("ttl", "").strip()
    identifier = identifier.lower()
    return _button(
        services, me, environment, identifier, "ttl", "extend", fields,
        lambda: extend_database(
            services.backend, environment, identifier, ttl, datetime.now(UTC), f"portal ({me.key_id})",
            services.ledger, services.settings.terraform_path,
        ).change,
    )  # fmt: skip


@router.post("/databases/{environment}/{identifier}/destroy")
def destroy_from_page(
    services: ServicesDep, me: VisitorDep, environment: Environment, identifier: Identifier, fields: FormDep
) -> Response:
    """The database page's destroy button: a destroy change, applied only once reviewed."""
    reason = _checked(me, fields).get("reason", "")
    identifier = identifier.lower()
    return _button(
        services, me, environment, identifier, "reason", "destroy", fields,
        lambda: request_destroy(
            services.backend, environment, identifier, reason, datetime.now(UTC), f"portal ({me.key_id})",
            services.ledger,
        ),
    )  # fmt: skip


def _button(
    services: Services,
    me: Visitor,
    environment: str,
    identifier: str,
    field: str,
    kind: str,
    values: Mapping[str, str],
    open_change: Callable[[], Change],
) -> Response:
    """A database page's button: the change it opens, then back to the page (`?done=<kind>-<id>`,
    so a reload posts nothing again); a refusal shows the page with it next to `field`."""
    try:
        change = open_change()
    except (NotFound, InvalidRequest, Conflict, CheckFailed, GitOpsError) as exc:
        return _refused(services, me, environment, identifier, exc, field, values)
    return RedirectResponse(f"/databases/{environment}/{identifier}?done={kind}-{change.id}", status_code=303)


def _refused(
    services: Services,
    me: Visitor,
    environment: str,
    identifier: str,
    exc: DbvendError,
    field: str,
    values: Mapping[str, str],
) -> HTMLResponse:
    """The database page again, the refusal next to the field it concerns."""
    answer = exc.answer()
    if exc.http_status == 404:
        raise PortalError(404, answer["detail"])
    rules = [
        error["rule"] if error["field"] == field else f"{error['field']} {error['rule']}"
        for error in answer.get("errors") or [{"field": field, "rule": answer["detail"]}]
    ]
    errors = {field: rules}
    return _database_page(services, me, environment, identifier, exc.http_status, None, errors, values)


# -- static files ---------------------------------------------------------------------------


@cache
def _static(name: str) -> bytes:
    return resources.files("engine.portal").joinpath("static", name).read_bytes()


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The portal's own CSS and JavaScript (no CDN): a fixed list, nothing else on disk."""
    if name not in STATIC:
        raise PortalError(404, "No such file.")
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300", "ETag": _etag(name)}
    return Response(_static(name), media_type=STATIC[name], headers=headers)


@cache
def _etag(name: str) -> str:
    return '"' + hashlib.sha256(_static(name)).hexdigest()[:16] + '"'
