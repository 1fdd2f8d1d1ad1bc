"""GitOps backends: where a claim becomes a branch, a commit and a change to review."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

from engine.catalog import Catalog
from engine.claim import Claim
from engine.commands import PullRequestFacts
from engine.policy import PolicyDecision
from engine.render import RenderedRoot

CHANGE_STATUSES = ("open", "merged", "closed")
Reaction = Literal["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]


def branch_name(environment: str, identifier: str) -> str:
    return f"dbvend/{environment}/{identifier}"


@dataclass(frozen=True)
class Change:
    """A proposed change: a branch with one commit, waiting to be merged (a PR, locally)."""

    id: int
    branch: str
    status: str
    title: str
    request_id: str
    root: str
    commit: str
    base: str
    description: str
    created_at: str
    merged_at: str | None = None
    merge_commit: str | None = None
    link: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Change:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)

    def merged(self, at: str, merge_commit: str) -> Change:
        return replace(self, status="merged", merged_at=at, merge_commit=merge_commit)


class GitOpsBackend(Protocol):
    """What the pipeline needs from a GitOps store."""

    def catalog(self) -> Catalog:
        """dbvend.yaml as it stands on main."""
        ...

    def check_absent(self, claim: Claim) -> None:
        """Raise Conflict when the database exists on main or in an open change of another request."""
        ...

    def open_change(self, rendered: RenderedRoot, claim: Claim, title: str, description: str) -> Change:
        """One branch, one commit, one change; the existing one when this request made it already."""
        ...

    def changes(self, status: str | None = None) -> list[Change]:
        """Every change, oldest first, optionally only those with a status."""
        ...

    def change(self, change_id: int) -> Change:
        """One change; ChangeNotFound when there is none."""
        ...

    def merge(self, change_id: int) -> Change:
        """Merge an open change into main."""
        ...

    def read_file(self, ref: str, path: str) -> str | None:
        """A file's text at a ref (branch or commit), None when absent."""
        ...

    def report_checks(self, change: Change, decision: PolicyDecision) -> None:
        """Show the policy gate's decision on the change's head commit where the store can."""
        ...


class IssueReplies(Protocol):
    """Where dbvend answers the person who asked (a comment on their GitHub issue)."""

    def reply(self, issue_number: int, marker: str, body: str) -> None:
        """Post `body`, or edit dbvend's earlier comment carrying `marker` on that issue."""
        ...


class PullRequests(Protocol):
    """What the pull-request comment commands need from GitHub."""

    def react(self, comment_id: int, content: Reaction) -> None:
        """React to a comment (dbvend says "eyes" on receipt)."""
        ...

    def comment(self, number: int, body: str) -> None:
        """A new comment on the pull request."""
        ...

    def facts(self, number: int, commenter: str, teams: Collection[str] = ()) -> tuple[PullRequestFacts, str]:
        """The facts authorization needs, and the pull request's head branch.

        With `teams` (approver team slugs in the repository owner's organisation), the facts say
        which of them each approving reviewer belongs to, for the reviewers whose membership
        could be read.
        """
        ...

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        """Start the reusable workflow (workflow_dispatch)."""
        ...
