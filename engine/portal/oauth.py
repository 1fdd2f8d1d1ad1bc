"""Signing in with GitHub: off to GitHub with a signed state bound to this browser, and back with a
code that becomes a person's portal session (the App's OAuth web flow, engine.github.oauth)."""

from __future__ import annotations

import time
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response

from engine.audit import AuditEvent
from engine.errors import START_AGAIN, GitOpsError, SignInRefused
from engine.github.oauth import GitHubIdentity, authorize_url, exchange, read_identity
from engine.identity import person
from engine.keys import hash_key
from engine.portal.oauth_state import COOKIE as STATE_COOKIE
from engine.portal.oauth_state import COOKIE_PATH, LIFETIME, checked_nonce, new_state, nonce_hash
from engine.portal.pages import PortalError, page, router
from engine.portal.session import LIFETIME as SESSION_LIFETIME
from engine.portal.session import new_person_token
from engine.portal.signin import (
    audit_signin_refusal,
    https,
    limit_signin,
    safe_next,
    set_session_cookie,
    signin_form,
)
from engine.services import Services
from engine.settings import Settings
from engine.web import ServicesDep

CALLBACK: Final = "/auth/github/callback"
DEFAULT_WEB: Final = "https://github.com/"
DEFAULT_API: Final = "https://api.github.com/"
# Characters a path keeps when it goes into a header (as Starlette's RedirectResponse quotes it).
_URL_SAFE: Final = ":/%#?=@[]!$&'()*+,;"
CallbackParam = Annotated[str | None, Query(max_length=400)]


@router.get("/auth/github")
def start_github_signin(
    request: Request, services: ServicesDep, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """Off to GitHub's authorize page with a state: signed, in this browser's cookie, and in the
    ledger until used."""
    settings = _github_settings(services)
    limit_signin(request, services)
    made = new_state(_secret(settings), time.time())
    services.ledger.add_oauth_state(made.nonce_hash, safe_next(next_path), made.expires)
    target = authorize_url(
        settings.github_web_url or DEFAULT_WEB,
        settings.github_client_id or "",
        _callback(request, settings),
        made.state,
    )
    response = RedirectResponse(target, status_code=302)
    # Lax, not Strict: the way back is a top-level navigation from GitHub, which must carry it.
    response.set_cookie(
        STATE_COOKIE,
        made.nonce,
        max_age=LIFETIME,
        httponly=True,
        samesite="lax",
        secure=https(request, settings),
        path=COOKIE_PATH,
    )
    return response


@router.get(CALLBACK)
def finish_github_signin(
    request: Request,
    services: ServicesDep,
    code: CallbackParam = None,
    state: CallbackParam = None,
    error: CallbackParam = None,
) -> Response:
    """Back from GitHub: the state checked (and used up), the code exchanged, the person read, and a
    portal session started. Each refusal is a page saying what to do, and a row in the audit trail."""
    settings = _github_settings(services)
    limit_signin(request, services)
    try:
        identity, next_path = _signed_in(request, services, code, state, error)
    except SignInRefused as refused:
        audit_signin_refusal(request, services, refused.actor, str(refused))
        return _without_state(signin_form(request, settings, refused.status, "/fleet", str(refused)))
    except GitOpsError as failed:
        audit_signin_refusal(request, services, "unknown", str(failed), outcome="failed")
        message = f"{failed}: try again in a minute. {START_AGAIN}"
        return _without_state(signin_form(request, settings, 503, "/fleet", message))
    token = new_person_token()
    expires = time.time() + SESSION_LIFETIME
    services.ledger.add_session(
        hash_key(token), identity.login, identity.id, identity.teams, identity.permission, expires
    )
    actor = person(identity.login, "portal", identity.teams, identity.permission)
    services.ledger.audit(
        AuditEvent.by(actor, "signin", detail=f"teams: {', '.join(identity.teams) or 'none'}")
    )
    return _signed_in_page(request, settings, token, identity.login, next_path)


def _signed_in(
    request: Request, services: Services, code: str | None, state: str | None, error: str | None
) -> tuple[GitHubIdentity, str]:
    """Who signed in and where they were going; SignInRefused (and no call to GitHub) for a
    refused, forged, replayed or expired state."""
    settings = services.settings
    if error is not None:
        if error == "access_denied":
            raise SignInRefused(
                f"You did not authorize dbvend on GitHub, so you are not signed in. {START_AGAIN}"
            )
        named = error if error.isidentifier() and len(error) <= 60 else "an error"
        raise SignInRefused(f"GitHub did not sign you in ({named}). {START_AGAIN}", 400)
    now = time.time()
    nonce = checked_nonce(_secret(settings), state, request.cookies.get(STATE_COOKIE), now)
    next_path = services.ledger.take_oauth_state(nonce_hash(nonce), now)
    if next_path is None:
        raise SignInRefused(f"This sign-in link was used already or has expired. {START_AGAIN}")
    if not code or not code.isascii() or not code.isprintable():
        raise SignInRefused(f"GitHub sent no sign-in code. {START_AGAIN}", 400)
    callback = _callback(request, settings)
    web, api = settings.github_web_url or DEFAULT_WEB, settings.github_api_url or DEFAULT_API
    user_token = exchange(web, settings.github_client_id or "", _secret(settings), code, callback)
    # The person's token is used here and then dropped: no cookie, log line or ledger row has it.
    identity = read_identity(api, user_token, _organisation(settings), settings.github_repository)
    return identity, safe_next(next_path)


def _signed_in_page(request: Request, settings: Settings, token: str, login: str, next_path: str) -> Response:
    """The session's cookie, and on to `next_path` from a page of this site rather than by a redirect:
    the session cookie is SameSite=Strict, and a browser does not send it on a redirect whose chain
    began on github.com. The Refresh header (and the link, for a browser that ignores it) is a new
    navigation started here."""
    response = page("signin.html", 200, signed_in_as=login, continue_to=next_path, me=None)
    response.headers["Refresh"] = f"0; url={quote(next_path, safe=_URL_SAFE)}"
    set_session_cookie(response, token, https(request, settings))
    return _without_state(response)


def _without_state(response: Response) -> Response:
    response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH)
    return response


def _github_settings(services: Services) -> Settings:
    """The settings, when GitHub sign-in is configured; else a page that says it is not."""
    settings = services.settings
    if not settings.github_signin:
        raise PortalError(404, "Signing in with GitHub is not configured here.")
    if not settings.github_org and not settings.github_repository:
        needs = "DBVEND_GITHUB_ORG (or DBVEND_GITHUB_REPOSITORY)"
        raise PortalError(503, f"Signing in with GitHub needs {needs}: ask the operators.")
    return settings


def _organisation(settings: Settings) -> str:
    """Whose members may sign in: DBVEND_GITHUB_ORG, else the infrastructure repository's owner."""
    return settings.github_org or (settings.github_repository or "").partition("/")[0]


def _secret(settings: Settings) -> str:
    return settings.github_client_secret or ""


def _callback(request: Request, settings: Settings) -> str:
    """Where GitHub sends the browser back: DBVEND_PUBLIC_URL's, else this request's own address
    (GitHub refuses any that is not the App's registered callback URL)."""
    base = settings.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK
