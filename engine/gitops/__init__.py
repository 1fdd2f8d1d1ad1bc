"""GitOps backends: where a claim becomes a branch, a commit and a change to review."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal, Protocol

from engine.catalog import Catalog
from engine.claim import Claim
from engine.commands import PullRequestFacts
from engine.policy import PolicyDecision
from engine.render import RenderedRoot

CHANGE_STATUSES = ("open", "merged", "closed")
# A pull request's key (change_key) rides in its description as a hidden marker.
MARKER: Final = "<!-- dbvend:request-id={} -->"
MARKER_RE: Final = re.compile(r"<!-- dbvend:request-id=([A-Za-z0-9._:-]{1,100}) -->")
Reaction = Literal["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]


def branch_name(environment: str, identifier: str, kind: str | None = None) -> str:
    """dbvend/<env>/<id> for a request; dbvend/<env>/<id>.<kind> for a later change to it
    (`extend-2`, `destroy`): identifiers never hold a dot, so the two never collide."""
    return f"dbvend/{environment}/{identifier}" + (f".{kind}" if kind else "")


def change_key(request_id: str, kind: str | None = None) -> str:
    """What finds a change again: the request id, and for a later change the request id and kind."""
    return f"{request_id}.{kind}" if kind else request_id


def key_in_description(body: str | None) -> str | None:
    """The change key a dbvend pull request's description carries, if any."""
    found = MARKER_RE.search(body or "")
    return found.group(1) if found else None


def root_of_branch(branch: str) -> str | None:
    """terraform/<env>/<id> of a dbvend branch (any kind of change), None for other branches."""
    parts = branch.split("/")
    if len(parts) != 3 or parts[0] != "dbvend" or not parts[1] or not parts[2]:
        return None
    return f"terraform/{parts[1]}/{parts[2].partition('.')[0]}"


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

    def open_change(
        self, rendered: RenderedRoot, claim: Claim, title: str, description: str, kind: str | None = None
    ) -> Change:
        """One branch, one commit, one change; the existing one when this request made it already.

        With `kind` (`extend-2`, `destroy`) the change updates a database already on main: branch
        dbvend/<env>/<id>.<kind>, found again by change_key(request id, kind); Conflict when the
        database is not on main or another change holds that branch.
        """
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

    def claims(self, ref: str = "main") -> dict[str, str]:
        """Every database root's request.json at a ref, by root (terraform/<env>/<id>), read at once."""
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

    def permission(self, login: str) -> str:
        """A user's permission on the repository: admin, maintain, write, triage, read or none."""
        ...

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        """Start the reusable workflow (workflow_dispatch)."""
        ...
