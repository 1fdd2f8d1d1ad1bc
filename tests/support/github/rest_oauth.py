"""Sign in with GitHub: the App's OAuth web flow (/login/oauth/authorize and /login/oauth/access_token,
served on the stand-in's one address, as GitHub's web and API addresses) and what a user-to-server
token reads: GET /user, /user/teams, /user/memberships/orgs/{org}, and the repository's `permissions`
as that person has them.

The stand-in plays the person signed in to GitHub in the browser: `GitHubServer.sign_in_as(login)`.
Every token it issues is kept in `oauth.user_tokens` (and refresh tokens in `oauth.refresh_tokens`),
so tests can check that none of them turns up anywhere. The access-token endpoint reads its
parameters from a JSON body (as Octokit sends them) or the query string; form bodies are refused
by the transport, which parses JSON only.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tests.support.github.errors import GitHubError, not_found
from tests.support.github.records import WEB, crc_id, iso, node_id
from tests.support.github.rest import REPO, Call, Router, paged
from tests.support.github.rest_repository import _get_repository as _get_repository_as_app
from tests.support.github.shapes import user_json
from tests.support.github.state import PERMISSIONS, GitHubState

router = Router()

CODE_LIFETIME = 600  # GitHub: "codes expire after 10 minutes"
TROUBLESHOOTING = (
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
)
MISMATCH = "The redirect_uri MUST match the registered callback URL for this application."
AUTHORIZE_ERRORS = (
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/"
)


@dataclass
class OAuthApp:
    """The App's OAuth side and the people who sign in through it."""

    client_id: str = "Iv23liDbvendStandIn01"
    client_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    callback_url: str | None = None  # the App's registered callback URL; None takes any
    signed_in: str | None = None  # who is signed in to GitHub in the browser
    declines: bool = False  # the person presses Cancel on GitHub's authorize page
    users: dict[str, int] = field(default_factory=dict)  # login -> user id
    members: dict[str, str] = field(default_factory=dict)  # login -> membership of the owner org
    other_teams: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # login -> [(org, slug)]
    codes: dict[str, tuple[str, str | None, float]] = field(
        default_factory=dict
    )  # code -> login, uri, expiry
    user_tokens: dict[str, str] = field(default_factory=dict)  # ghu_ token -> login
    refresh_tokens: list[str] = field(default_factory=list)
    caller: str | None = None  # whose user token the request in hand came with (auth.py sets it)

    def sign_in_as(self, login: str, user_id: int | None = None, membership: str | None = "active") -> None:
        """`login` is signed in to GitHub in the browser; a member of the owner organisation
        (membership "active" or "pending") unless membership is None."""
        self.signed_in, self.users[login] = login, user_id if user_id is not None else crc_id(login)
        if membership is None:
            self.members.pop(login, None)
        else:
            self.members[login] = membership

    @property
    def secrets(self) -> list[str]:
        """Everything that must never leave dbvend: the client secret and every token issued."""
        return [self.client_secret, *self.user_tokens, *self.refresh_tokens]


def _oauth(github: GitHubState) -> OAuthApp:
    app: OAuthApp = github.oauth
    return app


# -- the web flow ---------------------------------------------------------------------------------


@router.route("GET", r"/login/oauth/authorize")
def _authorize(github: GitHubState, call: Call) -> Response:
    """GET /login/oauth/authorize: as if the signed-in person pressed Authorize (or Cancel)."""
    app = _oauth(github)
    if call.query.get("client_id") != app.client_id:
        return HTMLResponse("<h1>404</h1><p>No application has this client id.</p>", status_code=404)
    redirect_uri, state = call.query.get("redirect_uri"), call.query.get("state")
    target = redirect_uri or app.callback_url
    if target is None:
        return HTMLResponse("<p>The application has no callback URL.</p>", status_code=400)
    if app.callback_url is not None and not _under(target, app.callback_url):
        return _back(app.callback_url, state, error="redirect_uri_mismatch", error_description=MISMATCH,
                     error_uri=f"{AUTHORIZE_ERRORS}#redirect-uri-mismatch")  # fmt: skip
    if app.signed_in is None:
        return HTMLResponse("<h1>Sign in to GitHub</h1><p>(the stand-in: call sign_in_as first)</p>")
    if app.declines:
        return _back(target, state, error="access_denied",
                     error_description="The user has denied your application access.",
                     error_uri=f"{AUTHORIZE_ERRORS}#access-denied")  # fmt: skip
    code = secrets.token_hex(10)
    app.codes[code] = (app.signed_in, redirect_uri, time.time() + CODE_LIFETIME)
    return _back(target, state, code=code)


def _under(uri: str, registered: str) -> bool:
    """GitHub's rule: the redirect_uri's host and port are the callback URL's, its path the same or below."""
    return uri == registered or uri.startswith(registered.rstrip("/") + "/")


def _back(target: str, state: str | None, **params: str) -> Response:
    query = urlencode({**params, **({"state": state} if state is not None else {})})
    return RedirectResponse(f"{target}{'&' if '?' in target else '?'}{query}", status_code=302)


@router.route("POST", r"/login/oauth/access_token")
def _access_token(github: GitHubState, call: Call) -> Response:
    """POST /login/oauth/access_token: a code for a user-to-server token, once. Refusals are
    GitHub's: 200 with {"error", "error_description", "error_uri"}."""
    app = _oauth(github)
    given = {**dict(call.query), **call.fields}
    if given.get("client_id") != app.client_id or given.get("client_secret") != app.client_secret:
        return _refusal(
            "incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect."
        )
    found = app.codes.pop(str(given.get("code")), None)
    if found is None or found[2] < time.time():
        return _refusal("bad_verification_code", "The code passed is incorrect or expired.")
    login, redirect_uri, _ = found
    if given.get("redirect_uri") and redirect_uri and given["redirect_uri"] != redirect_uri:
        return _refusal("redirect_uri_mismatch", MISMATCH)
    token = "ghu_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "B")[:36]
    refresh = "ghr_" + secrets.token_urlsafe(57).replace("-", "A").replace("_", "B")[:76]
    app.user_tokens[token] = login
    app.refresh_tokens.append(refresh)
    return JSONResponse(
        {
            "access_token": token,
            "expires_in": 28800,
            "refresh_token": refresh,
            "refresh_token_expires_in": 15897600,
            "scope": "",
            "token_type": "bearer",
        }
    )


def _refusal(error: str, description: str) -> Response:
    anchor = error.replace("_", "-")
    return JSONResponse(
        {"error": error, "error_description": description, "error_uri": f"{TROUBLESHOOTING}#{anchor}"}
    )


# -- what a user-to-server token reads ------------------------------------------------------------


def _person(github: GitHubState) -> str:
    """The login of the user token the request came with (auth.py lets no other token here)."""
    login = _oauth(github).caller
    if login is None:
        raise GitHubError(403, "Resource not accessible by integration")
    return login


@router.route("GET", r"/user")
def _get_authenticated_user(github: GitHubState, call: Call) -> Response:
    """GET /user: the private-user view of the token's person."""
    login = _person(github)
    user = {**user_json(github, login), "id": _oauth(github).users.get(login, crc_id(login))}
    user["node_id"] = node_id("U", user["id"])
    moment = iso(github.created_at)
    profile = {"name": None, "company": None, "blog": "", "location": None, "email": None, "hireable": None,
               "bio": None, "twitter_username": None, "notification_email": None, "public_repos": 0,
               "public_gists": 0, "followers": 0, "following": 0, "created_at": moment, "updated_at": moment,
               "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0, "disk_usage": 0,
               "collaborators": 0, "two_factor_authentication": True}  # fmt: skip
    return JSONResponse({**user, **profile, "user_view_type": "private"})


@router.route("GET", r"/user/memberships/orgs/(?P<org>[^/]+)")
def _get_membership_for_authenticated_user(github: GitHubState, call: Call) -> Response:
    """GET /user/memberships/orgs/{org}: 404 unless the person belongs to (or is invited to) it."""
    login = _person(github)
    state = _oauth(github).members.get(login)
    if call.params["org"].casefold() != github.owner.casefold() or state is None:
        raise not_found()
    return JSONResponse(
        {
            "url": f"{github.url}orgs/{github.owner}/memberships/{login}",
            "state": state,
            "role": "member",
            "organization_url": f"{github.url}orgs/{github.owner}",
            "organization": organization_simple(github, github.owner),
            "user": user_json(github, login),
        }
    )


@router.route("GET", r"/user/teams")
def _list_teams_for_authenticated_user(github: GitHubState, call: Call) -> Response:
    """GET /user/teams (paged): the teams the person is an active member of, in every organisation."""
    login = _person(github)
    mine = sorted(team for team, members in github.teams.items() if members.get(login) == "active")
    teams = [team_full(github, github.owner, slug) for slug in mine]
    teams += [team_full(github, org, slug) for org, slug in _oauth(github).other_teams.get(login, [])]
    return paged(github, call, teams)


@router.route("GET", REPO)
def _get_repository(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}: with a user token, `permissions` are that person's (404 when they
    have none, as for a private repository they cannot see); otherwise the App's answer."""
    answer = _get_repository_as_app(github, call)
    login = _oauth(github).caller
    if login is None:
        return answer
    rank = PERMISSIONS.index(github.role(login))
    if rank == 0:
        raise not_found()
    flags = {flag: rank >= PERMISSIONS.index(role) for flag, role in FLAGS}
    return JSONResponse({**json.loads(bytes(answer.body)), "permissions": flags})


FLAGS = (
    ("admin", "admin"),
    ("maintain", "maintain"),
    ("push", "write"),
    ("triage", "triage"),
    ("pull", "read"),
)


# -- shapes ---------------------------------------------------------------------------------------


def organization_simple(github: GitHubState, org: str) -> dict[str, Any]:
    org_id, api = crc_id(org), f"{github.url}orgs/{org}"
    return {
        "login": org,
        "id": org_id,
        "node_id": node_id("O", org_id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{org_id}?v=4",
        "description": None,
    }


def team_full(github: GitHubState, org: str, slug: str) -> dict[str, Any]:
    team_id, moment = crc_id(f"{org}/{slug}"), iso(github.created_at)
    organization = {**organization_simple(github, org), "name": org, "html_url": f"{WEB}/{org}",
                    "has_organization_projects": True, "has_repository_projects": True, "public_repos": 0,
                    "public_gists": 0, "followers": 0, "following": 0, "type": "Organization",
                    "created_at": moment, "updated_at": moment, "archived_at": None}  # fmt: skip
    return {
        "id": team_id,
        "node_id": node_id("T", team_id),
        "url": f"{github.url}organizations/{crc_id(org)}/team/{team_id}",
        "html_url": f"{WEB}/orgs/{org}/teams/{slug}",
        "name": slug.replace("-", " ").title(),
        "slug": slug,
        "description": None,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": f"{github.url}organizations/{crc_id(org)}/team/{team_id}/members{{/member}}",
        "repositories_url": f"{github.url}organizations/{crc_id(org)}/team/{team_id}/repos",
        "parent": None,
        "members_count": 1,
        "repos_count": 1,
        "created_at": moment,
        "updated_at": moment,
        "organization": organization,
        "type": "organization",
    }
