"""Who may do what: the App's JWT on its own endpoints, installation tokens everywhere else, and a
workflow job's GITHUB_TOKEN held to its permissions (tests/support/github_permissions.py)."""

from __future__ import annotations

import re
import time
from typing import Any

import jwt

from tests.support import github_permissions
from tests.support.github.errors import GitHubError, GraphQLForbidden
from tests.support.github.graphql import operation_name
from tests.support.github.state import GitHubState

JWT_SHAPE = re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+$")
APP_ENDPOINT = re.compile(r"/app/.*|/repos/[^/]+/[^/]+/installation", re.DOTALL)
WEB_FLOW = re.compile(r"/login/oauth/(authorize|access_token)")  # a browser's, and the App's secret
USER_ENDPOINT = re.compile(r"/user(/teams|/memberships/orgs/[^/]+)?")  # only a user token reads these
FOR_USER_TOKENS = re.compile(r"/user(/teams|/memberships/orgs/[^/]+)?|/repos/[^/]+/[^/]+")


def authenticate(github: GitHubState, path: str, authorization: str | None) -> str:
    """The request's token: app endpoints take the app's JWT; a user-to-server token (rest_oauth.py)
    only the endpoints that read its person; everything else an installation token (any token,
    unless the App's public key is known). The web flow's two endpoints take none."""
    github.oauth.caller = None
    if WEB_FLOW.fullmatch(path):
        return ""
    token = _authenticate(github, path, authorization)
    login = github.oauth.user_tokens.get(token)
    if login is not None and not FOR_USER_TOKENS.fullmatch(path):
        raise GitHubError(403, "Resource not accessible by integration")  # the stand-in's limit
    if login is None and USER_ENDPOINT.fullmatch(path):
        raise GitHubError(403, "Resource not accessible by integration")
    github.oauth.caller = login
    return token


def _authenticate(github: GitHubState, path: str, authorization: str | None) -> str:
    if not authorization:
        raise GitHubError(401, "Requires authentication")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() not in ("bearer", "token") or not credential:
        raise GitHubError(401, "Bad credentials")
    if APP_ENDPOINT.fullmatch(path):
        _verify_jwt(github, credential)
    elif JWT_SHAPE.match(credential):
        raise GitHubError(401, "Bad credentials")  # a JWT only authenticates the app's own endpoints
    elif github.app_public_key is not None and credential not in (
        *github.issued_tokens,
        *github.job_tokens,
        *github.oauth.user_tokens,
    ):
        raise GitHubError(401, "Bad credentials")
    return credential


def _verify_jwt(github: GitHubState, token: str) -> None:
    undecodable = GitHubError(401, "A JSON web token could not be decoded")
    try:
        if jwt.get_unverified_header(token).get("alg") != "RS256":
            raise undecodable
        if github.app_public_key is None:
            claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": True})
        else:
            claims = jwt.decode(token, github.app_public_key, algorithms=["RS256"], leeway=60)
    except jwt.PyJWTError as error:
        raise undecodable from error
    for claim in ("iat", "exp", "iss"):
        if claim not in claims:
            raise GitHubError(401, f"Missing '{claim}' claim in the JWT")
    if claims["exp"] - time.time() > 600 + 60:
        raise GitHubError(401, "'Expiration time' claim ('exp') is too far in the future")
    if github.app_public_key is not None and str(claims["iss"]) != str(github.app_id):
        raise GitHubError(401, "Integration not found")  # a JWT for another app


def check_job_token(github: GitHubState, token: str, handler: str, params: dict[str, str], body: Any) -> None:
    """A job's GITHUB_TOKEN does only what its permissions grant: 403 otherwise, as GitHub answers."""
    granted = github.job_tokens.get(token)
    if granted is None:
        return  # the App's installation tokens hold what the App was granted
    if handler in github_permissions.ON_ISSUE_OR_PULL:
        number = params.get("number")
        if number is None:
            found = [c for c in github.comments if str(c["id"]) == params.get("comment_id")]
            number = str(found[0]["issue_number"]) if found else None
        need = github_permissions.issue_or_pull(handler, number is not None and int(number) in github.pulls)
    elif handler == "_graphql":
        name = operation_name(body if isinstance(body, dict) else {})
        need = github_permissions.GRAPHQL.get(name or "", (("contents", "write"),))
        if not github_permissions.allows(granted, need):
            raise GraphQLForbidden(200, github_permissions.NOT_ACCESSIBLE)
    else:
        need = github_permissions.ROUTES[handler]
    if not github_permissions.allows(granted, need):
        raise GitHubError(403, github_permissions.NOT_ACCESSIBLE)


def token_kind(github: GitHubState, token: str | None) -> str:
    """A token's kind, as `git_requests` records it: "none", "job" (a workflow job's GITHUB_TOKEN)
    or "other" (the App's, or any)."""
    return "none" if token is None else "job" if token in github.job_tokens else "other"


def authorize_git(github: GitHubState, token: str | None, service: str) -> str | None:
    """A git request's refusal ("401", or GitHub's 403 message), or None to serve it."""
    if token is None:
        return "401"
    if token_kind(github, token) == "job":
        if not github_permissions.allows(github.job_tokens[token], github_permissions.GIT[service]):
            return f"Permission to {github.owner}/{github.repo}.git denied to github-actions[bot]."
        return None
    if github.app_public_key is not None and token not in github.issued_tokens:
        return "401"
    return None
