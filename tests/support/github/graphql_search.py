"""GraphQL `search(query:, type: ISSUE, first:, after:)` as dbvend's reconcile asks it (query
DbvendChangeSearch): the qualifiers it sends (repo:, is:pr, label:, sort:created-asc, created:>=,
updated:>=), cursor pages, and GitHub's cap of 1,000 results a search serves (issueCount counts
them all). Any other operation goes on to the next /graphql handler (graphql.py)."""

from __future__ import annotations

import base64
import shlex
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from tests.support.github import graphql
from tests.support.github.graphql import operation_name
from tests.support.github.records import PullRequestRecord, iso
from tests.support.github.rest import Call, Router
from tests.support.github.state import GitHubState

router = Router()
OPERATION = "DbvendChangeSearch"
SERVED = 1000  # a search serves its first 1,000 results


class SearchRefused(ValueError):
    """A query this stand-in does not know how to answer: a test's mistake, not GitHub's answer."""


@router.route("POST", "/graphql")
def _graphql(github: GitHubState, call: Call) -> Response:
    """POST /graphql: DbvendChangeSearch here, anything else on to the next /graphql handler."""
    if operation_name(call.fields) != OPERATION:
        return _next_handler(github, call)
    variables = call.fields.get("variables") or {}
    query = str(call.fields.get("query") or "")
    try:
        found = _matches(github, str(variables.get("query") or ""))
    except SearchRefused as refused:
        return JSONResponse(
            {"data": {"search": None}, "errors": [{"type": "INVALID", "message": str(refused)}]}
        )
    served = found[:SERVED]
    start = _offset(variables.get("after"))
    page = served[start : start + 100]
    end = start + len(page)
    return JSONResponse(
        {
            "data": {
                "search": {
                    "issueCount": len(found),
                    "pageInfo": {
                        "hasNextPage": end < len(served),
                        "endCursor": _cursor(end) if page else None,
                    },
                    "nodes": [_node(github, pull, query) for pull in page],
                }
            }
        }
    )


def _next_handler(github: GitHubState, call: Call) -> Response:
    handlers = [h for m, p, h in github.router.routes if m == "POST" and p.fullmatch("/graphql")]  # type: ignore[attr-defined]
    later = handlers[handlers.index(_graphql) + 1 :]
    return (later[0] if later else graphql._graphql)(github, call)


def _matches(github: GitHubState, text: str) -> list[PullRequestRecord]:
    """The pull requests a search query matches, in its order (sort:created-asc, else newest first)."""
    pulls, ascending = list(github.pulls.values()), False
    for term in shlex.split(text):
        name, _, value = term.partition(":")
        if name == "repo":
            if value.casefold() != f"{github.owner}/{github.repo}".casefold():
                raise SearchRefused(f"the fake GitHub serves {github.owner}/{github.repo}, not {value}")
        elif term == "is:pr":
            pass  # issues are not searched here at all
        elif name == "label":
            pulls = [pull for pull in pulls if value in pull.labels]
        elif term == "sort:created-asc":
            ascending = True
        elif name in ("created", "updated") and value.startswith(">="):
            since = datetime.fromisoformat(value[2:]).astimezone(UTC)
            pulls = [pull for pull in pulls if _time(pull, name) >= since]
        else:
            raise SearchRefused(f"the fake GitHub's search does not know {term!r}")
    pulls.sort(key=lambda pull: (pull.created_at, pull.number), reverse=not ascending)
    return pulls


def _time(pull: PullRequestRecord, name: str) -> datetime:
    return pull.created_at if name == "created" else (pull.updated_at or pull.created_at)


def _node(github: GitHubState, pull: PullRequestRecord, query: str) -> dict[str, Any]:
    """`... on PullRequest { ... }` with the fields DbvendChangeSearch names."""
    merged = pull.merged_at is not None
    return {
        **graphql._pull(github, pull, query),
        "title": pull.title,
        "createdAt": iso(pull.created_at),
        "mergedAt": iso(pull.merged_at),
        "baseRefOid": github.branch_sha(pull.base_ref),
        "mergeCommit": {"oid": pull.merge_commit_sha} if merged else None,
    }


def _cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:{offset}".encode()).decode()


def _offset(cursor: Any) -> int:
    if not cursor:
        return 0
    return int(base64.b64decode(str(cursor)).decode().removeprefix("cursor:"))
