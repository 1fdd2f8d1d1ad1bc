"""A fake GitHub on a free loopback port: the REST and GraphQL subset dbvend's GitHub App uses.

Commits live in a real bare git repository written with plumbing only (hash-object, update-index on a
temporary index, write-tree, commit-tree, update-ref), so tests can check history with `git log`.
Responses follow GitHub's OpenAPI description closely enough that githubkit's models parse them.
GraphQL is not parsed: `query DbvendState`, `query DbvendClaims`, `query DbvendRepository`,
`mutation DbvendCommit` and `mutation DbvendBranch` are recognised by name and answered from their
variables. The default branch is `main` unless `default_branch=` says otherwise; the bare repository's
HEAD names it, so `HEAD:path` expressions resolve there. Pull requests from forks
(`create_fork_pull()`) keep their head under `refs/pull/<n>/head` only. Every request is recorded in
`calls`; faults (502, 403 + Retry-After, 429, ...) can be injected per method and path with `fail()`.

    with GitHubServer(tmp_path) as github:
        with GitHub(TokenAuthStrategy("t"), base_url=github.url, cache_strategy=MemCacheStrategy()) as gh:
            ...

A fresh MemCacheStrategy per client: githubkit's default cache is process-wide, so a JWT or an
installation token from another test's server would be reused. Inside `with`, githubkit keeps one
httpx client; outside, it builds one per call.

The parts, in tests/support/github/: git.py (the bare repository), records.py and state.py (what
GitHub keeps, and the controls tests use), transport.py and auth.py (HTTP, faults, the request log,
tokens), rest.py with rest_repository.py, rest_pulls.py, rest_issues.py, rest_checks.py and
rest_oauth.py (the REST endpoints; rest_oauth.py also GitHub's OAuth web flow for signing in),
shapes.py (shared JSON shapes), graphql.py (the GraphQL operations) and graphql_search.py (the
search of dbvend's pull requests its reconcile sends).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.github import (
    graphql,
    graphql_search,
    rest_checks,
    rest_issues,
    rest_oauth,
    rest_pulls,
    rest_repository,
)
from tests.support.github.graphql import BLOB_TEXT_LIMIT
from tests.support.github.rest import Router
from tests.support.github.rest_issues import comment_json
from tests.support.github.rest_pulls import pull_json
from tests.support.github.transport import Transport

__all__ = ["BLOB_TEXT_LIMIT", "GitHubServer"]

# rest_oauth first: its GET /repos/{owner}/{repo} answers a user token with that person's permissions.
ROUTER = Router(
    rest_oauth.router,
    rest_repository.router,
    rest_pulls.router,
    rest_issues.router,
    rest_checks.router,
    graphql_search.router,  # DbvendChangeSearch; other operations go on to graphql.router
    graphql.router,
)


class GitHubServer(Transport):
    """A fake api.github.com for one repository (owner/repo), served on 127.0.0.1 from a thread.

    Seeded with one commit on the default branch (`main` unless `default_branch`): dbvend.yaml (the
    packaged default catalog) and terraform/README.md, plus any `files` given. Start with `start()`
    or `with GitHubServer(...)`.
    With `app_public_key` (PEM), app JWTs are verified (RS256, iss == app_id) and only issued
    installation tokens are accepted; without it any well-formed JWT and any token pass.
    """

    def __init__(
        self,
        root: Path,
        owner: str = "acme",
        repo: str = "infra",
        *,
        app_id: int = 1234,
        app_slug: str = "dbvend",
        installation_id: int = 4242,
        app_public_key: str | bytes | None = None,
        files: Mapping[str, str | bytes] | None = None,
        default_branch: str = "main",
    ) -> None:
        super().__init__(
            ROUTER,
            root,
            owner=owner,
            repo=repo,
            app_id=app_id,
            app_slug=app_slug,
            installation_id=installation_id,
            app_public_key=app_public_key,
            files=files,
            default_branch=default_branch,
        )

    def pull_request(self, number: int) -> dict[str, Any]:
        """The pull request as GET /pulls/{number} would return it."""
        with self._lock:
            return pull_json(self, self.pull(number))

    def sign_in_as(self, login: str, user_id: int | None = None, membership: str | None = "active") -> None:
        """`login` is signed in to GitHub in the browser (rest_oauth.py): GitHub's authorize page
        sends them back with a code; a member of the owner organisation unless membership is None."""
        with self._lock:
            self.oauth.sign_in_as(login, user_id, membership)

    def add_comment(self, issue_number: int, user: str, body: str) -> dict[str, Any]:
        """A comment by someone else (a human typing a command) on a pull request or issue; its JSON."""
        with self._lock:
            self.issue(issue_number)
            return comment_json(self, self.new_comment(issue_number, user, body))
