"""GitOps backends: where a claim becomes a branch, a commit and a change to review."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal, Protocol

from engine.catalog import Catalog
from engine.claim import Claim
from engine.commands import PullRequestFacts
from engine.errors import Conflict
from engine.policy import PolicyDecision
from engine.render import RenderedRoot
from engine.roots import Root

CHANGE_STATUSES = ("open", "merged", "closed")
# A pull request's key (change_key) rides in its description as a hidden marker.
MARKER: Final = "<!-- dbvend:request-id={} -->"
MARKER_RE: Final = re.compile(r"<!-- dbvend:request-id=([A-Za-z0-9._:-]{1,100}) -->")
# A change key: a request id, then ".<kind>" for a later change (extend-2, destroy-1).
_KEY: Final = re.compile(r"(?P<request>[A-Za-z0-9_:-]{1,64})(?:\.(?P<kind>[a-z]+(?:-\d{1,9}){0,2}))?")
Reaction = Literal["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]


def branch_name(environment: str, identifier: str, kind: str | None = None) -> str:
    """dbvend/<env>/<id> for a request; dbvend/<env>/<id>.<kind> for a later change to it
    (`extend-2`, `destroy`): identifiers never hold a dot, so the two never collide."""
    return f"dbvend/{environment}/{identifier}" + (f".{kind}" if kind else "")


def changes_of_database(changes: Iterable[Change], environment: str, identifier: str) -> list[Change]:
    """The changes of one database: its request's (dbvend/<env>/<id>) and every later one's
    (dbvend/<env>/<id>.<kind>)."""
    branch = branch_name(environment, identifier)
    return [c for c in changes if c.branch == branch or c.branch.startswith(branch + ".")]


def change_key(request_id: str, kind: str | None = None) -> str:
    """What finds a change again: the request id, and for a later change the request id and kind."""
    return f"{request_id}.{kind}" if kind else request_id


def key_and_branch(claim: Claim, kind: str | None = None) -> tuple[str, str]:
    """The change key and the branch of a change of `claim` (`kind` None: the request itself)."""
    return change_key(claim.request_id, kind), branch_name(claim.environment, claim.identifier, kind)


def key_in_description(body: str | None) -> str | None:
    """The change key a dbvend pull request's description carries, if any."""
    found = MARKER_RE.search(body or "")
    return found.group(1) if found else None


def root_of_branch(branch: str) -> str | None:
    """terraform/<env>/<id> of a dbvend branch (any kind of change), None for other branches."""
    parts = branch.split("/")
    if len(parts) != 3 or parts[0] != "dbvend" or not parts[1] or not parts[2]:
        return None
    return Root(parts[1], parts[2].partition(".")[0]).path


def key_request(key: str | None) -> str | None:
    """The request id of a change key (the part before any `.kind`), None when it is not one."""
    found = _KEY.fullmatch(key or "")
    return found.group("request") if found else None


def not_own_change(branch: str, head_repository: str | None, body: str | None, full_name: str) -> str | None:
    """Why a pull request is not one of dbvend's own changes in `full_name`, or None.

    Its head must be a dbvend branch of `full_name` itself: a fork can name a branch
    dbvend/prod/orders and copy a marker, and GitHub still lists it with the repository's pull
    requests (GraphQL's headRefName matches across forks). Its marker must name a change of
    that branch: the same kind (a request, extend-2, destroy-1) as the branch.
    """
    if head_repository is None or head_repository.casefold() != full_name.casefold():
        where = head_repository or "a deleted repository"
        return f"its head branch is in {where}, not {full_name}: dbvend acts only on its own branches"
    if root_of_branch(branch) is None:
        return f"{branch or 'its head'} is not a dbvend branch"
    found = _KEY.fullmatch(key_in_description(body) or "")
    if found is None:
        return "its description carries no dbvend change marker"
    if found.group("kind") != (branch.partition(".")[2] or None):
        return f"its marker names another change than its branch {branch}"
    return None


@dataclass(frozen=True)
class RepositoryIdentity:
    """The repository dbvend serves, as GitHub knows it now (GitHub: one GraphQL call).

    `id` and `installation_id` are None where they cannot be known (the local backend, a token
    instead of the App): those checks are then left out; the name is always checked.
    """

    full_name: str
    default_branch: str
    id: int | None = None
    installation_id: int | None = None
    default_oid: str | None = None


@dataclass(frozen=True)
class PullHead:
    """Where a pull request comes from: its head branch, commit and repository, and its description."""

    branch: str
    sha: str
    repository: str | None  # owner/name of the head's repository; None when that fork was deleted
    body: str

    def not_own(self, full_name: str) -> str | None:
        return not_own_change(self.branch, self.repository, self.body, full_name)

    @classmethod
    def of(cls, pull: Mapping[str, Any]) -> PullHead:
        """A pull request's head, from its REST or webhook JSON."""
        head = pull.get("head") or {}
        repository = (head.get("repo") or {}).get("full_name")
        return cls(
            branch=str(head.get("ref") or ""),
            sha=str(head.get("sha") or ""),
            repository=str(repository) if repository else None,
            body=str(pull.get("body") or ""),
        )


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


@dataclass(frozen=True)
class BranchFound:
    """A change's branch as a backend found it."""

    commit: str
    key: str | None  # the change key its commit carries (the Request-Id trailer), None without one
    held_in: str  # where a conflict says it is held: "in open change #3", "on its branch"


@dataclass(frozen=True)
class Sighting:
    """What a backend found about one change's database, read at one moment: what the conflict
    rule decides on, and what the write that follows starts from."""

    key: str  # the change key it was read for (change_key)
    main: str  # the default branch
    main_commit: str
    on_main: bool  # the database's request.json is on the default branch
    branch: BranchFound | None  # the change's branch; None when there is none
    mine: int | None = None  # the change this very key made already (a redelivery)
    repository: str = ""  # the store's own id of the repository where a write needs it (GitHub's node id)


_CHANGE_NOUNS: Final = {"extend": "an extension", "destroy": "a destruction", "modify": "a modification"}


def conflict(claim: Claim, kind: str | None, seen: Sighting) -> Conflict | None:
    """The Conflict a change of `claim` meets (with `kind`: a later change to a database on main),
    or None when the database is free or held by this very change (a redelivery, or its branch
    made before a crash)."""
    where = f"{claim.environment}/{claim.identifier}"
    if seen.mine is not None or (seen.branch is not None and seen.branch.key == seen.key):
        return None
    if kind is None and seen.on_main:
        return Conflict(f"database {where} already exists on {seen.main} ({claim.root})")
    if seen.branch is not None:
        what = (
            f"{_CHANGE_NOUNS.get(kind.partition('-')[0], 'a change')} of database {where}"
            if kind
            else f"database {where}"
        )
        return Conflict(f"{what} is already requested {seen.branch.held_in}")
    if kind is not None and not seen.on_main:
        return Conflict(f"database {where} is not on {seen.main}: its request must be merged first")
    return None


@dataclass(frozen=True)
class Proposal:
    """What a change proposes: a claim's rendered root, the title and description of its change.

    With `kind` (`extend-2`, `destroy-1`) it is a later change to a database already on main:
    branch dbvend/<env>/<id>.<kind>, found again by change_key(request id, kind).
    """

    rendered: RenderedRoot
    claim: Claim
    title: str
    description: str
    kind: str | None = None

    @property
    def key(self) -> str:
        return key_and_branch(self.claim, self.kind)[0]

    @property
    def branch(self) -> str:
        return key_and_branch(self.claim, self.kind)[1]


@dataclass(frozen=True)
class ClaimTree:
    """The default branch's (or a ref's) claims by blob id only, no text (engine.claim_index)."""

    commit_oid: str
    tree_oid: str | None  # terraform/'s tree; None when the commit has no terraform/
    blobs: dict[str, str]  # root (terraform/<env>/<id>) -> its request.json's blob id


@dataclass(frozen=True)
class ClaimFiles:
    """Some roots' request.json at one commit (a push's `after`): blob id and text of each found."""

    commit_oid: str
    tree_oid: str | None  # terraform/'s tree at that commit
    found: dict[str, tuple[str, str]]  # root -> (blob id, text); a root left out has no request.json


class GitOpsBackend(Protocol):
    """What the pipeline needs from a GitOps store."""

    def catalog(self) -> Catalog:
        """dbvend.yaml as it stands on the default branch."""
        ...

    def identity(self) -> RepositoryIdentity:
        """The repository as its host knows it now: name, id, default branch and its commit."""
        ...

    def default_branch(self) -> str:
        """The branch changes are merged into (GitHub: the repository's own; locally: main)."""
        ...

    def check_absent(self, claim: Claim) -> Sighting:
        """Raise Conflict when the database exists on main or in an open change of another request;
        else what was read, for open_change to start from."""
        ...

    def open_change(self, proposal: Proposal, seen: Sighting | None = None) -> Change:
        """One branch, one commit, one change; the existing one when this request made it already.

        A later change (proposal.kind) needs the database on main; Conflict (engine.gitops.conflict)
        when it is not, or when another change holds the branch.

        `seen` is check_absent's reading of this claim moments before: a backend may start from it
        instead of reading again (GitHub: one call fewer; a stale reading only loses a race, and
        the write is tried again from a fresh one).
        """
        ...

    def changes(self, status: str | None = None) -> list[Change]:
        """Every change, oldest first, optionally only those with a status."""
        ...

    def open_changes_of(self, environment: str, identifier: str) -> list[Change]:
        """The open changes of one database (branch dbvend/<env>/<id> and dbvend/<env>/<id>.<kind>),
        oldest first, without reading every change (GitHub: the ledger's records)."""
        ...

    def change(self, change_id: int) -> Change:
        """One change; ChangeNotFound when there is none."""
        ...

    def merge(self, change_id: int) -> Change:
        """Merge an open change into main."""
        ...

    def read_file(self, ref: str | None, path: str) -> str | None:
        """A file's text at a ref (branch or commit; None: the default branch), None when absent."""
        ...

    def claims(self, ref: str | None = None) -> dict[str, str]:
        """Every database root's request.json at a ref (None: the default branch), by root
        (terraform/<env>/<id>), read at once."""
        ...

    def claim_tree(self, ref: str | None = None) -> ClaimTree:
        """Every database root's request.json blob id at a ref (None: the default branch), with the
        commit and terraform/'s tree id, without any file's text (GitHub: one GraphQL call)."""
        ...

    def claim_texts(self, oids: Collection[str]) -> dict[str, str]:
        """Blobs' texts by id (GitHub: one GraphQL call per hundred); an id not found is left out."""
        ...

    def claim_files(self, commit: str, roots: Collection[str]) -> ClaimFiles:
        """Some roots' request.json at a commit, with terraform/'s tree id there (GitHub: one
        GraphQL call per hundred roots)."""
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

    def facts(
        self, number: int, commenter: str, teams: Collection[str] = ()
    ) -> tuple[PullRequestFacts, PullHead]:
        """The facts authorization needs, and where the pull request comes from.

        With `teams` (approver team slugs in the repository owner's organisation), the facts say
        which of them each approving reviewer belongs to, for the reviewers whose membership
        could be read.
        """
        ...

    def permission(self, login: str) -> str:
        """A user's permission on the repository: admin, maintain, write, triage, read or none."""
        ...

    def teams_of(self, login: str, teams: Collection[str]) -> frozenset[str]:
        """Which of `teams` (slugs in the repository owner's organisation) a user is an active member
        of; only those asked (engine.access.teams_to_check says which matter)."""
        ...

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        """Start the reusable workflow (workflow_dispatch)."""
        ...
