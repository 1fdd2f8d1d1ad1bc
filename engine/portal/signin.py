"""Signing in and out of the portal: the visitor a session stands for, its form token, the sign-in pages."""

from __future__ import annotations

import re
import secrets
import time
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from engine.identity import Actor
from engine.portal.pages import FormDep, PortalError, page, router
from engine.portal.session import COOKIE, LIFETIME, form_token, form_token_ok, same_text, session_key, sign_in
from engine.web import ServicesDep

SIGNIN_COOKIE: Final = "dbvend_signin"
SIGNIN_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{32}")


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
    entry = session_key(services.keys, token, time.time())
    if entry is None or token is None:
        raise SignInNeeded(request.url.path)
    wait = services.limiter.take(entry.key_id)
    if wait is not None:
        raise PortalError(
            429, f"Too many requests: try again in {wait} s.", headers={"Retry-After": str(wait)}
        )
    return Visitor(entry.actor("portal"), token)


VisitorDep = Annotated[Visitor, Depends(visitor)]


async def sign_in_needed(_request: Request, exc: SignInNeeded) -> Response:
    return RedirectResponse(f"/signin?next={quote(_safe_next(exc.next_path), safe='/')}", status_code=303)


def checked_fields(me: Visitor, fields: dict[str, str]) -> dict[str, str]:
    """The fields without the form token, once it is the session's."""
    if not form_token_ok(me.session, fields.pop("csrf", None)):
        raise PortalError(403, "This form has expired or came from another site: open the page again.")
    return fields


def _safe_next(value: str | None) -> str:
    """Only a path on this site (no //host, no backslashes): never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/fleet"
    return value if value.isprintable() and len(value) <= 200 else "/fleet"


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
    checked_fields(me, fields)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
