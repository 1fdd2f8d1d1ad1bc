"""dbvend's pull requests found by a GitHub search limited to the label dbvend puts on them (never a
listing of every pull request): the query, its pages, and windows past the 1,000 results a search
serves. Only dbvend's own (engine.gitops.not_own_change) come back, decoded by engine.github.decode."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from githubkit import GitHub

from engine.github import decode
from engine.github.client import graphql
from engine.gitops import Change

# Issues among the results match no fragment: they come back as {}.
CHANGE_SEARCH_QUERY: Final = """
query DbvendChangeSearch($query: String!, $after: String) {
  search(query: $query, type: ISSUE, first: 100, after: $after) {
    issueCount
    pageInfo { hasNextPage endCursor }
    nodes {
      ... on PullRequest {
        number title body url state createdAt mergedAt headRefName headRefOid baseRefOid
        mergeCommit { oid }
        headRepository { nameWithOwner }
      }
    }
  }
}
"""
SEARCH_LIMIT: Final = 1000  # a search serves its first 1,000 results; past them, a later window


def search_changes(client: GitHub[Any], full_name: str, label: str, since: datetime | None) -> list[Change]:
    """dbvend's own changes among `full_name`'s pull requests labelled `label` (updated since
    `since`), oldest first: windows of created time, each from where the last one's results stopped."""
    found: dict[int, Change] = {}
    window: str | None = None
    while True:
        served, count, last_created = 0, 0, None
        for page in _pages(client, full_name, search_terms(full_name, label, since, window)):
            found.update((change.id, change) for change in page.changes)
            served, count = served + page.results, page.count
            last_created = page.last_created or last_created
        after = None if last_created is None else search_time(datetime.fromisoformat(last_created))
        if served >= count or served < SEARCH_LIMIT or after in (None, window):
            return sorted(found.values(), key=lambda c: c.id)
        window = after


def search_terms(full_name: str, label: str, since: datetime | None, created_from: str | None) -> str:
    terms = [f"repo:{full_name}", "is:pr", f'label:"{label}"', "sort:created-asc"]
    if since is not None:
        terms.append(f"updated:>={search_time(since)}")
    if created_from is not None:
        terms.append(f"created:>={created_from}")
    return " ".join(terms)


def search_time(moment: datetime) -> str:
    """A time as GitHub's search qualifiers take it (`updated:>=2024-05-01T10:00:00+00:00`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _pages(client: GitHub[Any], full_name: str, query: str) -> Iterator[decode.ChangeSearchPage]:
    variables: dict[str, Any] = {"query": query, "after": None}
    while True:
        page = decode.searched_changes(graphql(client, CHANGE_SEARCH_QUERY, variables), full_name)
        yield page
        if page.after is None:
            return
        variables["after"] = page.after
