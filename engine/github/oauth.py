"""Signing in with GitHub: the App's OAuth web flow and the signed-in person's identity.

The decoders at the top are pure (GitHub's answers in, dbvend's values out); the three calls below
them do the I/O with httpx (5 s timeouts, redirects never followed). The person's user-to-server
token lives only inside `exchange` and `read_identity`: it is never logged, stored or put into an
exception's text, and neither is the App's client secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

import httpx

from engine.errors import START_AGAIN, GitOpsError, SignInRefused

TIMEOUT: Final = 5.0
TEAM_PAGES: Final = 10  # /user/teams at 100 a page: a person in more than 1,000 teams keeps 1,000
# GitHub's repository permission flags, strongest first, and the role each names.
ROLE_OF_FLAG: Final = (
    ("admin", "admin"),
    ("maintain", "maintain"),
    ("push", "write"),
    ("triage", "triage"),
    ("pull", "read"),
)


@dataclass(frozen=True)
class GitHubIdentity:
    """Who signed in, as GitHub says: login, user id, the organisation's teams they are in (slugs)
    and their permission on the infrastructure repository (engine.identity.PERMISSIONS)."""

    login: str
    id: int
    teams: tuple[str, ...]
    permission: str


# -- decoding GitHub's answers (pure) -----------------------------------------------------------


def access_token(answer: Any) -> str:
    """POST /login/oauth/access_token's JSON. GitHub answers a bad or used code with 200 and
    {"error": "bad_verification_code", ...}; only the error's name is repeated, never a token."""
    if not isinstance(answer, Mapping):
        raise GitOpsError("GitHub's answer to the sign-in code was not a JSON object")
    token = answer.get("access_token")
    if isinstance(token, str) and token and not answer.get("error"):
        return token
    error = answer.get("error")
    if error == "bad_verification_code":
        raise SignInRefused(
            f"GitHub did not accept the sign-in code: it was used already or expired. {START_AGAIN}"
        )
    if error == "incorrect_client_credentials":
        raise SignInRefused("GitHub did not accept dbvend's client id or secret: ask the operators.")
    if error == "redirect_uri_mismatch":
        raise SignInRefused("GitHub refused dbvend's callback address: ask the operators to check it.")
    named = error if isinstance(error, str) and error.isidentifier() and len(error) <= 60 else "no token"
    raise SignInRefused(f"GitHub gave no token for the sign-in ({named}). {START_AGAIN}")


def user_of(answer: Any) -> tuple[str, int]:
    """GET /user: the login and id of the person the token belongs to."""
    login = answer.get("login") if isinstance(answer, Mapping) else None
    user_id = answer.get("id") if isinstance(answer, Mapping) else None
    if not isinstance(login, str) or not login or isinstance(user_id, bool) or not isinstance(user_id, int):
        raise GitOpsError("GitHub's answer to GET /user has no login and id")
    return login, user_id


def active_membership(answer: Any, org: str) -> bool:
    """GET /user/memberships/orgs/{org}: an active (not pending) membership of that organisation."""
    if not isinstance(answer, Mapping) or answer.get("state") != "active":
        return False
    organization = answer.get("organization")
    login = organization.get("login") if isinstance(organization, Mapping) else None
    return isinstance(login, str) and login.casefold() == org.casefold()


def team_slugs(items: Any, org: str) -> list[str]:
    """GET /user/teams (one page): the slugs of the teams in `org`; teams of other organisations
    the person belongs to are left out."""
    if not isinstance(items, list):
        raise GitOpsError("GitHub's answer to GET /user/teams is not a list")
    slugs = []
    for team in items:
        organization = team.get("organization") if isinstance(team, Mapping) else None
        owner = organization.get("login") if isinstance(organization, Mapping) else None
        slug = team.get("slug") if isinstance(team, Mapping) else None
        if isinstance(owner, str) and owner.casefold() == org.casefold() and isinstance(slug, str) and slug:
            slugs.append(slug)
    return slugs


def repository_permission(answer: Any) -> str:
    """GET /repos/{owner}/{repo} with the person's token: the strongest of its `permissions`
    flags as a role (admin, maintain, write, triage, read), or none."""
    flags = answer.get("permissions") if isinstance(answer, Mapping) else None
    if not isinstance(flags, Mapping):
        return "none"
    return next((role for flag, role in ROLE_OF_FLAG if flags.get(flag) is True), "none")


def authorize_url(web_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where the browser goes to sign in on GitHub (<web>/login/oauth/authorize)."""
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state})
    return f"{web_url.rstrip('/')}/login/oauth/authorize?{query}"


# -- the calls ----------------------------------------------------------------------------------


def exchange(
    web_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    client: httpx.Client | None = None,
) -> str:
    """The user-to-server token for the code GitHub sent back (POST <web>/login/oauth/access_token,
    as JSON, as GitHub's own Octokit does)."""
    body = {
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
    }
    with _client(client) as http:
        try:
            answer = http.post(
                f"{web_url.rstrip('/')}/login/oauth/access_token",
                json=body,
                headers={"Accept": "application/json", "User-Agent": "dbvend"},
            )
        except httpx.HTTPError:
            raise GitOpsError("GitHub did not answer the sign-in (exchanging its code)") from None
    if answer.status_code != 200:
        raise GitOpsError(f"GitHub answered {answer.status_code} to the sign-in code")
    return access_token(_json(answer, "the sign-in code"))


def read_identity(
    api_url: str, token: str, org: str, repository: str | None, client: httpx.Client | None = None
) -> GitHubIdentity:
    """Who the token's person is, refused (SignInRefused) unless an active member of `org`."""
    api = api_url.rstrip("/")
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "dbvend",
    }
    with _client(client) as http:
        login, user_id = user_of(_read(http, f"{api}/user", headers, "/user"))
        membership = _get(http, f"{api}/user/memberships/orgs/{quote(org, safe='')}", headers)
        if membership.status_code not in (200, 403, 404):
            raise GitOpsError(f"GitHub answered {membership.status_code} to GET /user/memberships/orgs")
        if membership.status_code != 200 or not active_membership(_json(membership, "membership"), org):
            raise SignInRefused(
                f"{login} is not a member of {org} on GitHub, so cannot sign in here: ask an owner of "
                f"{org} to add you, then sign in again.",
                login=login,
            )
        teams = _teams(http, api, headers, org)
        permission = "none"
        if repository:
            found = _get(http, f"{api}/repos/{_repository_path(repository)}", headers)
            if found.status_code == 200:
                permission = repository_permission(_json(found, "the repository"))
            elif found.status_code not in (403, 404):
                raise GitOpsError(f"GitHub answered {found.status_code} to GET /repos/{repository}")
    return GitHubIdentity(login, user_id, tuple(teams), permission)


def _teams(http: httpx.Client, api: str, headers: Mapping[str, str], org: str) -> list[str]:
    """The person's teams in `org`, page by page (GitHub's Link header is not followed: a page
    shorter than 100 is the last)."""
    slugs: list[str] = []
    for page in range(1, TEAM_PAGES + 1):
        items = _read(http, f"{api}/user/teams?per_page=100&page={page}", headers, "/user/teams")
        slugs += team_slugs(items, org)
        if not isinstance(items, list) or len(items) < 100:
            break
    return sorted(set(slugs))


def _repository_path(repository: str) -> str:
    owner, _, name = repository.partition("/")
    return f"{quote(owner, safe='')}/{quote(name, safe='')}"


def _client(client: httpx.Client | None) -> AbstractContextManager[httpx.Client]:
    """The caller's client (left open), or a new one closed after use: 5 s timeouts, no redirects."""
    if client is not None:
        return nullcontext(client)
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False)


def _get(http: httpx.Client, url: str, headers: Mapping[str, str]) -> httpx.Response:
    try:
        return http.get(url, headers=dict(headers))
    except httpx.HTTPError:
        raise GitOpsError("GitHub did not answer while reading who signed in") from None


def _read(http: httpx.Client, url: str, headers: Mapping[str, str], what: str) -> Any:
    answer = _get(http, url, headers)
    if answer.status_code != 200:
        raise GitOpsError(f"GitHub answered {answer.status_code} to GET {what}")
    return _json(answer, what)


def _json(answer: httpx.Response, what: str) -> Any:
    try:
        return answer.json()
    except ValueError:
        raise GitOpsError(f"GitHub's answer to {what} is not JSON") from None
