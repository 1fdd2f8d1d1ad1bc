"""Signing in and out of the portal: the visitor a session stands for (an API key, or a person
signed in with GitHub by engine.portal.oauth), its form token, the sign-in pages."""

from __future__ import annotations

import re
import secrets
import time
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from engine.audit import AuditEvent
from engine.identity import Actor, person
from engine.portal.pages import FormDep, PortalError, page, router
from engine.portal.session import (
    COOKIE,
    LIFETIME,
    form_token,
    form_token_ok,
    is_key_session,
    person_token_hash,
    same_text,
    session_key,
    session_token,
)
from engine.services import Services
from engine.settings import Settings
from engine.web import ServicesDep, client_address

SIGNIN_COOKIE: Final = "dbvend_signin"
SIGNIN_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{32}")
KEYS_OFF: Final = "Signing in with an API key is turned off here."


class SignInNeeded(Exception):
    """A page asked for without a session: answered with the sign-in page's address."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Visitor:
    """Who a portal session stands for (a person signed in with GitHub, or an API key) and the
    token its forms carry."""

    def __init__(self, actor: Actor, token: str) -> None:
        self.actor, self.session, self.form_token = actor, token, form_token(token)


def visitor(request: Request, services: ServicesDep) -> Visitor:
    """The signed-in person, within the API's rate limit; else off to the sign-in page."""
    token = request.cookies.get(COOKIE)
    found = session_actor(services, token, time.time()) if token else None
    if found is None or token is None:
        raise SignInNeeded(request.url.path)
    actor, limit_key = found
    request.state.actor = actor
    wait = services.limiter.take(limit_key)
    if wait is not None:
        raise PortalError(
            429, f"Too many requests: try again in {wait} s.", headers={"Retry-After": str(wait)}
        )
    return Visitor(actor, token)


VisitorDep = Annotated[Visitor, Depends(visitor)]


def session_actor(services: Services, token: str, now: float) -> tuple[Actor, str] | None:
    """Who a session token stands for and the name its rate limit counts under: an API key's (while
    API-key sign-in is on) or a person's (while GitHub sign-in is configured), else None."""
    settings = services.settings
    if is_key_session(token):
        entry = session_key(services.keys, token, now) if settings.signin_api_key else None
        return None if entry is None else (entry.actor("portal"), entry.key_id)
    digest = person_token_hash(token)
    if digest is None or not settings.github_signin:
        return None
    found = services.ledger.session(digest, now)
    if found is None:
        return None
    actor = person(found.login, "portal", found.teams, found.permission)
    return actor, actor.name


async def sign_in_needed(_request: Request, exc: SignInNeeded) -> Response:
    return RedirectResponse(f"/signin?next={quote(safe_next(exc.next_path), safe='/')}", status_code=303)


def checked_fields(me: Visitor, fields: dict[str, str]) -> dict[str, str]:
    """The fields without the form token, once it is the session's."""
    if not form_token_ok(me.session, fields.pop("csrf", None)):
        raise PortalError(403, "This form has expired or came from another site: open the page again.")
    return fields


def safe_next(value: str | None) -> str:
    """Only a path on this site (no //host, no backslashes): never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/fleet"
    return value if value.isprintable() and len(value) <= 200 else "/fleet"


def https(request: Request, settings: Settings) -> bool:
    """Cookies are Secure when this request came over https or the portal's address is https
    (TLS ended at a proxy in front)."""
    return request.url.scheme == "https" or (settings.public_url or "").startswith("https://")


def limit_signin(request: Request, services: Services) -> None:
    """Sign-in attempts (a key posted, a return from GitHub) count against the caller's address."""
    wait = services.limiter.take(f"signin:{client_address(request)}")
    if wait is not None:
        raise PortalError(429, f"Too many attempts: try again in {wait} s.", {"Retry-After": str(wait)})


@router.get("/")
def home() -> Response:
    return RedirectResponse("/fleet", status_code=303)


@router.get("/signin")
def signin_page(
    request: Request, services: ServicesDep, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    return signin_form(request, services.settings, 200, safe_next(next_path), None)


def signin_form(
    request: Request, settings: Settings, status: int, next_path: str, error: str | None
) -> Response:
    """The sign-in page: the API-key form (when on) with a token that must come back with it, also
    set as a cookie only this site's pages send (SameSite=Strict): another site cannot sign a
    browser in with its own key; and the way to GitHub (when configured)."""
    context = {
        "next_path": next_path,
        "error": error,
        "me": None,
        "api_key_signin": settings.signin_api_key,
        "github_signin": settings.github_signin,
        "github_link": f"/auth/github?next={quote(next_path, safe='/')}",
    }
    if not settings.signin_api_key:
        return page("signin.html", status, signin_token="", **context)
    token = request.cookies.get(SIGNIN_COOKIE) or ""
    fresh = not SIGNIN_TOKEN.fullmatch(token)
    if fresh:
        token = secrets.token_urlsafe(24)
    response = page("signin.html", status, signin_token=token, **context)
    if fresh:
        response.set_cookie(
            SIGNIN_COOKIE,
            token,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=https(request, settings),
            path="/signin",
        )
    return response


@router.post("/signin")
def signin(request: Request, services: ServicesDep, fields: FormDep) -> Response:
    """An API key in, a session cookie out; wrong keys count against the caller's address."""
    limit_signin(request, services)
    settings = services.settings
    next_path = safe_next(fields.get("next"))
    if not settings.signin_api_key:
        why = "an API key was posted while API-key sign-in is off"
        audit_signin_refusal(request, services, "unknown", why)
        return signin_form(request, settings, 403, next_path, KEYS_OFF)
    expected = request.cookies.get(SIGNIN_COOKIE) or ""
    if not SIGNIN_TOKEN.fullmatch(expected) or not same_text(expected, fields.get("signin_token") or ""):
        return signin_form(
            request, settings, 403, next_path, "This sign-in form has expired or came from another site."
        )
    entry = services.keys.identify(fields.get("api_key", "").strip())
    if entry is None:
        audit_signin_refusal(request, services, "unknown", "the API key is not valid")
        return signin_form(request, settings, 401, next_path, "That API key is not valid.")
    services.ledger.audit(AuditEvent.by(entry.actor("portal"), "signin"))
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, session_token(entry, time.time()), https(request, settings))
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


def set_session_cookie(response: Response, token: str, secure: bool) -> None:
    """The session's cookie: only the token, HttpOnly, sent by this site's own pages only."""
    response.set_cookie(
        COOKIE, token, max_age=LIFETIME, httponly=True, samesite="strict", secure=secure, path="/"
    )


def audit_signin_refusal(
    request: Request, services: Services, actor: str, reason: str, outcome: str = "refused"
) -> None:
    """A refused sign-in in the audit trail: who it claimed to be (or unknown), why, and from where."""
    detail = f"{reason} (from {client_address(request)})"
    services.ledger.audit(AuditEvent(actor, "portal", "signin", outcome, detail=detail))


@router.post("/signout")
def signout(services: ServicesDep, me: VisitorDep, fields: FormDep) -> Response:
    """Drop the cookie; a person's session row goes too, so a copy of the cookie is worth nothing."""
    checked_fields(me, fields)
    digest = person_token_hash(me.session)  # None for an API key's session
    if digest is not None:
        services.ledger.end_session(digest)
    services.ledger.audit(AuditEvent.by(me.actor, "signout"))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
