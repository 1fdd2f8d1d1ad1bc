"""What a workflow job's GITHUB_TOKEN may do, as GitHub decides it, for the fake GitHub.

A job's token holds the permissions its `permissions:` block grants (a called workflow's job gets
at most what its caller's job grants: GitHub caps it), every other scope `none`, and `metadata: read`
always. Each REST endpoint and git operation needs one of the (scope, level) pairs listed here,
after GitHub's "Permissions required for GitHub Apps" (the GITHUB_TOKEN is an installation token
of the GitHub Actions app): https://docs.github.com/en/rest/authentication/permissions-required-for-github-apps
A comment on a pull request goes through the issues API and is allowed by either `issues` or
`pull-requests`; on a plain issue only `issues` allows it. GraphQL operations need what the REST
endpoints they stand for need (a commit on a branch: contents write).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

LEVEL: Final = {"none": 0, "read": 1, "write": 2}
SCOPES: Final = (
    "actions",
    "checks",
    "contents",
    "deployments",
    "id-token",
    "issues",
    "packages",
    "pages",
    "pull-requests",
    "statuses",
)

Need = tuple[tuple[str, str], ...]  # any one (scope, level) suffices

# handler name (tests/support/github/rest_*.py, graphql.py) -> what its endpoint needs
ROUTES: Final[dict[str, Need]] = {
    "_get_repository": (("metadata", "read"),),
    "_get_ref": (("contents", "read"),),
    "_create_ref": (("contents", "write"),),
    "_delete_ref": (("contents", "write"),),
    "_get_content": (("contents", "read"),),
    "_create_pull": (("pull-requests", "write"),),
    "_list_pulls": (("pull-requests", "read"),),
    "_get_pull": (("pull-requests", "read"),),
    "_update_pull": (("pull-requests", "write"),),
    "_merge_pull": (("contents", "write"),),
    "_list_reviews": (("pull-requests", "read"),),
    "_create_issue": (("issues", "write"),),
    "_list_issues": (("issues", "read"),),
    "_get_issue": (("issues", "read"), ("pull-requests", "read")),
    "_update_issue": (("issues", "write"), ("pull-requests", "write")),
    "_get_permission": (("metadata", "read"),),
    "_get_team_membership": (("members", "read"),),  # an organisation permission: never a job's
    "_create_check_run": (("checks", "write"),),
    "_update_check_run": (("checks", "write"),),
    "_list_check_runs": (("checks", "read"),),
    "_dispatch_workflow": (("actions", "write"),),
}
# Issue endpoints that also serve pull requests: on a pull request `pull-requests` allows them too.
ON_ISSUE_OR_PULL: Final[dict[str, str]] = {
    "_add_labels": "write",
    "_create_comment": "write",
    "_list_comments": "read",
    "_update_comment": "write",
    "_delete_comment": "write",
    "_create_reaction": "write",
}
GRAPHQL: Final[dict[str, Need]] = {
    "DbvendRepository": (("metadata", "read"),),
    "DbvendClaims": (("contents", "read"),),
    "DbvendState": (("contents", "read"),),
    "DbvendCommit": (("contents", "write"),),
    "DbvendBranch": (("contents", "write"),),
}
GIT: Final[dict[str, Need]] = {
    "git-upload-pack": (("contents", "read"),),
    "git-receive-pack": (("contents", "write"),),
}
NOT_ACCESSIBLE: Final = "Resource not accessible by integration"


def allows(granted: Mapping[str, str], need: Need) -> bool:
    """Whether a token holding `granted` may do what needs one of `need`."""
    held = {"metadata": "read", **granted}
    return any(LEVEL.get(held.get(scope, "none"), 0) >= LEVEL[level] for scope, level in need)


def issue_or_pull(handler: str, on_pull: bool) -> Need:
    level = ON_ISSUE_OR_PULL[handler]
    return (("issues", level), ("pull-requests", level)) if on_pull else (("issues", level),)


def capped(caller: Mapping[str, str], called: Mapping[str, str]) -> dict[str, str]:
    """A called workflow's job permissions under its caller's job: each scope at the lower level."""
    names = {value: name for name, value in LEVEL.items()}
    lowered = {scope: min(LEVEL[level], LEVEL[caller.get(scope, "none")]) for scope, level in called.items()}
    return {scope: names[value] for scope, value in lowered.items() if value > 0}
