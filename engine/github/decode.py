"""GitHub's answers (GraphQL `data`, REST JSON) decoded into dbvend's values: pure, no I/O.

Each decoder takes the parsed JSON as GitHub sends it (recorded in tests/data/github/) and
returns dbvend's value, or raises GitOpsError naming what is missing or wrong in the answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from engine.commands import CheckResult, PullRequestFacts, Review
from engine.drift import DriftIssue
from engine.errors import GitOpsError, NotOpen
from engine.gitops import (
    MARKER_RE,
    BranchFound,
    Change,
    PullHead,
    RepositoryIdentity,
    Sighting,
    key_in_description,
    not_own_change,
    root_of_branch,
)
from engine.roots import Root

_TRAILER_RE: Final = re.compile(r"^Request-Id: (\S+)\s*$", re.MULTILINE)
ROLES: Final = ("admin", "maintain", "write", "triage", "read")


class RefRace(Exception):
    """Someone moved the branch or main between dbvend's read and its write: read again."""


# -- GraphQL -----------------------------------------------------------------------------------


def repository_of(data: Mapping[str, Any], full_name: str) -> Mapping[str, Any]:
    """The `repository` of a query's data; GitOpsError when the App cannot see it."""
    repository = data.get("repository") if isinstance(data, Mapping) else None
    if not repository or not isinstance(repository, Mapping):
        raise GitOpsError(f"{full_name} is not visible to the GitHub App")
    return repository


def identity(data: Mapping[str, Any], full_name: str, installation_id: int | None) -> RepositoryIdentity:
    """query DbvendRepository: name, id and default branch as GitHub has them now."""
    repository = repository_of(data, full_name)
    default = _object(repository.get("defaultBranchRef"), "defaultBranchRef")
    if not default.get("name"):
        raise GitOpsError(f"{full_name} has no default branch (an empty repository?)")
    database_id = repository.get("databaseId")
    if database_id is not None and not isinstance(database_id, int):
        raise GitOpsError(f"GitHub's repository.databaseId is not a number: {database_id!r}")
    return RepositoryIdentity(
        full_name=str(repository.get("nameWithOwner") or full_name),
        default_branch=str(default["name"]),
        id=database_id,
        installation_id=installation_id,
        default_oid=_object(default.get("target"), "defaultBranchRef.target").get("oid"),
    )


@dataclass(frozen=True)
class BranchPull:
    """One of this repository's pull requests from a change's branch."""

    number: int
    open: bool
    key: str | None  # the change key in its description's marker


@dataclass(frozen=True)
class RepositoryState:
    """query DbvendState: the default branch, dbvend.yaml on it, and one database's claim on it,
    its change's branch and that branch's pull requests (this repository's, newest first)."""

    repository_id: str
    main: str
    main_oid: str
    catalog_text: str | None
    claim_on_main: bool
    branch_oid: str | None
    branch_request: str | None  # the change key in the branch's commit (its Request-Id trailer)
    pulls: tuple[BranchPull, ...]

    def sighting(self, key: str) -> Sighting:
        """What the conflict rule (engine.gitops.conflict) and the write need, for change key `key`."""
        mine = next((pull.number for pull in self.pulls if pull.key == key), None)
        opened = [pull.number for pull in self.pulls if pull.open]
        held_in = f"in open pull request #{opened[0]}" if opened else "on its branch"
        branch = (
            None if self.branch_oid is None else BranchFound(self.branch_oid, self.branch_request, held_in)
        )
        return Sighting(key, self.main, self.main_oid, self.claim_on_main, branch, mine, self.repository_id)


def repository_state(data: Mapping[str, Any], full_name: str, claim_wanted: bool) -> RepositoryState:
    """query DbvendState's data (`claim_wanted`: the query asked for a database's request.json)."""
    repository = repository_of(data, full_name)
    default = repository.get("defaultBranchRef")
    if not isinstance(default, Mapping) or not default.get("name"):
        raise GitOpsError(f"{full_name} has no default branch (an empty repository?)")
    main_oid = _object(default.get("target"), "defaultBranchRef.target").get("oid")
    if not isinstance(main_oid, str) or not main_oid:
        raise GitOpsError(f"GitHub named no commit for {full_name}'s default branch")
    repository_id = repository.get("id")
    if not isinstance(repository_id, str) or not repository_id:
        raise GitOpsError(f"GitHub named no id for {full_name}")
    target = _object(_object(repository.get("branch"), "branch").get("target"), "branch.target")
    trailer = _TRAILER_RE.findall(str(target.get("message") or ""))
    text = _object(repository.get("catalog"), "catalog").get("text")
    branch_oid = target.get("oid")
    return RepositoryState(
        repository_id=repository_id,
        main=str(default["name"]),
        main_oid=main_oid,
        catalog_text=text if isinstance(text, str) else None,
        claim_on_main=claim_wanted and repository.get("claim") is not None,
        branch_oid=str(branch_oid) if branch_oid else None,
        branch_request=trailer[-1] if trailer else None,
        pulls=tuple(_branch_pulls(repository.get("pulls"), full_name)),
    )


def _branch_pulls(pulls: Any, full_name: str) -> Iterable[BranchPull]:
    # headRefName matches a fork's branch of the same name too: only this repository's count.
    for pull in _nodes(pulls, "pulls"):
        head = _object(pull.get("headRepository"), "pulls.nodes.headRepository")
        if str(head.get("nameWithOwner") or "").casefold() != full_name.casefold():
            continue
        yield BranchPull(
            _number(pull, "pull request"), pull.get("state") == "OPEN", key_in_description(pull.get("body"))
        )


def claims(data: Mapping[str, Any], full_name: str, ref: str) -> dict[str, str]:
    """query DbvendClaims: every database root's request.json text at `ref`, by root."""
    from engine.ci import CLAIM_PATH

    repository = repository_of(data, full_name)
    if repository.get("refObject") is None:
        raise GitOpsError(f"unknown ref {ref!r} in {full_name}")
    found: dict[str, str] = {}
    for environment in _entries(repository.get("object")):
        for database in _entries(environment.get("object")):
            for entry in _entries(database.get("object")):
                path = Root(_name(environment), _name(database)).file(_name(entry))
                match = CLAIM_PATH.match(path)
                if match is None or entry.get("type") != "blob":
                    continue
                blob = _object(entry.get("object"), path)
                if blob.get("isTruncated"):
                    size = blob.get("byteSize")
                    raise GitOpsError(f"{path} at {ref} is too large for GitHub's GraphQL ({size} bytes)")
                text = blob.get("text")
                if not isinstance(text, str):
                    raise GitOpsError(f"{path} at {ref} is not text")
                found[match.group(1)] = text
    return found


def made_commit(data: Mapping[str, Any], branch: str) -> str:
    """The commit createCommitOnBranch made; RefRace when it made none."""
    made = _object(
        data.get("createCommitOnBranch") if isinstance(data, Mapping) else None, "createCommitOnBranch"
    )
    commit = _object(made.get("commit"), "createCommitOnBranch.commit").get("oid")
    if not commit:
        raise RefRace(f"no commit made on {branch}")
    return str(commit)


def graphql_refusal(errors: Sequence[Any], races: bool) -> Exception:
    """What a GraphQL answer's `errors` mean: RefRace when a ref moved or already exists (with
    `races`: a write that expected a head), else GitOpsError with GitHub's messages."""
    found = [error if isinstance(error, Mapping) else {"message": str(error)} for error in errors]
    kinds = {error.get("type") for error in found}
    text = "; ".join(str(error.get("message", error)) for error in found)
    if (races and kinds & {"STALE_DATA", "UNPROCESSABLE"}) or "already exists" in text:
        return RefRace(text)
    return GitOpsError(f"GitHub GraphQL refused: {text}")


# -- REST --------------------------------------------------------------------------------------


def rest_error(what: str, status: int, body: str) -> GitOpsError:
    """GitHub's status and message, e.g. "GitHub could not edit issue #4: 404 Not Found"."""
    try:
        answer = json.loads(body)
        message = str(answer.get("message", ""))
    except (ValueError, AttributeError):
        message = body[:200]
    text = f"GitHub could not {what}: {status} {message}".rstrip()
    # 405 not mergeable, 409 head moved, 422 not open: the change as it stands, not GitHub's health
    return NotOpen(text) if status in (405, 409, 422) else GitOpsError(text)


def change(pull: Mapping[str, Any], commit: str | None = None) -> Change:
    """A pull request (REST) as a Change; `commit`: the head commit when it is known better."""
    body = str(pull.get("body") or "")
    merged_at = pull.get("merged_at")
    status = "merged" if merged_at else "open" if pull.get("state") == "open" else "closed"
    head = _object(pull.get("head"), "pull request head")
    base = _object(pull.get("base"), "pull request base")
    branch = str(head.get("ref") or "")
    return Change(
        id=_number(pull, "pull request"),
        branch=branch,
        status=status,
        title=str(pull.get("title") or ""),
        request_id=key_in_description(body) or "",
        root=root_of_branch(branch) or "",
        commit=commit or str(head.get("sha") or ""),
        base=str(base.get("sha") or ""),
        description=MARKER_RE.sub("", body).rstrip("\n") + "\n",
        created_at=_iso(pull.get("created_at")),
        merged_at=_iso(merged_at) if merged_at else None,
        merge_commit=pull.get("merge_commit_sha") if merged_at else None,
        link=pull.get("html_url"),
    )


def own(pull: Mapping[str, Any], full_name: str) -> bool:
    """One of dbvend's changes (engine.gitops.not_own_change): not a fork's look-alike."""
    return PullHead.of(pull).not_own(full_name) is None


def own_changes(pulls: Iterable[Mapping[str, Any]], full_name: str) -> list[Change]:
    """dbvend's own changes among a list of pull requests, oldest (lowest number) first."""
    return sorted(
        (change(pull) for pull in _objects(pulls, "pull requests") if own(pull, full_name)),
        key=lambda c: c.id,
    )


def pull_of_request(pulls: Iterable[Mapping[str, Any]], key: str, full_name: str) -> Change | None:
    """The pull request whose marker carries change key `key`, among this repository's own."""
    for pull in _objects(pulls, "pull requests"):
        if key_in_description(pull.get("body")) == key and own(pull, full_name):
            return change(pull)
    return None


@dataclass(frozen=True)
class ChangeSearchPage:
    """One page of query DbvendChangeSearch: dbvend's changes on it, and where the next one starts."""

    changes: list[Change]
    results: int  # pull requests on this page, dbvend's or not
    count: int  # issueCount: every match, also past the 1,000 a search serves
    after: str | None  # the next page's cursor; None on the last page
    last_created: str | None  # createdAt of this page's last pull request


_GRAPHQL_STATES: Final = {"OPEN": "open", "MERGED": "merged", "CLOSED": "closed"}


def searched_changes(data: Mapping[str, Any], full_name: str) -> ChangeSearchPage:
    """query DbvendChangeSearch: a search's pull requests; only dbvend's own (engine.gitops.
    not_own_change) become changes. Issues among the results are `{}` (the fragment does not match)."""
    search = _object(data.get("search") if isinstance(data, Mapping) else None, "search")
    nodes = [node for node in _nodes(search, "search") if node]
    page, count = _object(search.get("pageInfo"), "search.pageInfo"), search.get("issueCount")
    last_created = nodes[-1].get("createdAt") if nodes else None
    heads = [(n, _object(n.get("headRepository"), "headRepository").get("nameWithOwner")) for n in nodes]
    return ChangeSearchPage(
        changes=[
            searched_change(node)
            for node, head in heads
            if not_own_change(str(node.get("headRefName") or ""), head, node.get("body"), full_name) is None
        ],
        results=len(nodes),
        count=count if isinstance(count, int) and not isinstance(count, bool) else len(nodes),
        after=str(page["endCursor"]) if page.get("hasNextPage") and page.get("endCursor") else None,
        last_created=str(last_created) if last_created else None,
    )


def searched_change(node: Mapping[str, Any]) -> Change:
    """A PullRequest node of DbvendChangeSearch as a Change (as `change` makes one from REST)."""
    body = str(node.get("body") or "")
    branch = str(node.get("headRefName") or "")
    state = _GRAPHQL_STATES.get(str(node.get("state")))
    if state is None:
        raise GitOpsError(f"GitHub's pull request state {str(node.get('state'))[:20]!r} is not known")
    merged_at = node.get("mergedAt") if state == "merged" else None
    merge_commit = _object(node.get("mergeCommit"), "mergeCommit").get("oid") if merged_at else None
    return Change(
        id=_number(node, "pull request"),
        branch=branch,
        status=state,
        title=str(node.get("title") or ""),
        request_id=key_in_description(body) or "",
        root=root_of_branch(branch) or "",
        commit=str(node.get("headRefOid") or ""),
        base=str(node.get("baseRefOid") or ""),
        description=MARKER_RE.sub("", body).rstrip("\n") + "\n",
        created_at=_iso(node.get("createdAt")),
        merged_at=_iso(merged_at) if merged_at else None,
        merge_commit=str(merge_commit) if merge_commit else None,
        link=str(node["url"]) if node.get("url") else None,
    )


def file_text(answer: Any, path: str) -> str | None:
    """A file's text from the contents API; None when the path is not a file (a directory's list,
    a symlink or submodule without content)."""
    content = answer.get("content") if isinstance(answer, Mapping) else None
    if not isinstance(content, str):
        return None
    try:
        return base64.b64decode(content).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise GitOpsError(f"GitHub's content of {path} is not base64 of UTF-8 text") from None


def role(level: Mapping[str, Any]) -> str:
    """A collaborator's permission: the role GitHub names (maintain, triage too), else the plain one."""
    permission = level.get("permission") if isinstance(level, Mapping) else None
    if not isinstance(permission, str):
        raise GitOpsError("GitHub's collaborator permission has no permission")
    named = level.get("role_name") or permission
    return str(named if named in ROLES else permission)


def reviews(items: Iterable[Mapping[str, Any]]) -> list[Review]:
    """A pull request's reviews (REST, oldest first)."""
    return [
        Review(
            _login(review.get("user")),
            str(review.get("state") or ""),
            _time(review.get("submitted_at")),
            review.get("commit_id"),
        )
        for review in _objects(items, "reviews")
    ]


def check_results(answer: Mapping[str, Any]) -> list[CheckResult]:
    """The check runs of a commit (REST: {"total_count", "check_runs": [...]})."""
    runs = answer.get("check_runs") if isinstance(answer, Mapping) else None
    return [
        CheckResult(str(run.get("name") or ""), str(run.get("status") or ""), run.get("conclusion"))
        for run in _objects(runs, "check_runs")
    ]


def author(pull: Mapping[str, Any]) -> str:
    """The login that opened a pull request ("" for a deleted account)."""
    return _login(pull.get("user"))


def pull_request_facts(
    pull: Mapping[str, Any],
    commenter: str,
    permission: str,
    found: list[Review],
    checks: list[CheckResult],
    approver_teams: dict[str, list[str]],
) -> PullRequestFacts:
    """The facts authorization decides on, from the pull request (REST) and what was read besides."""
    mergeable = pull.get("mergeable")
    return PullRequestFacts(
        commenter=commenter,
        permission=permission,
        author=author(pull),
        reviews=found,
        checks=checks,
        mergeable=mergeable if isinstance(mergeable, bool) else None,
        mergeable_state=pull.get("mergeable_state"),
        approver_teams=approver_teams,
        draft=bool(pull.get("draft")),
        state=str(pull.get("state") or ""),
        head_sha=PullHead.of(pull).sha,
    )


def marked_comments(comments: Iterable[Mapping[str, Any]], marker: str) -> list[int]:
    """The ids of the comments holding the parts of a comment in parts (engine.comment_parts.split_comment),
    in part order."""
    from engine.comment_parts import find_marker

    parts = sorted(
        (found[0], _id(comment, "comment"))
        for comment in _objects(comments, "comments")
        if (found := find_marker(str(comment.get("body") or ""), marker))
    )
    return [comment_id for _, comment_id in parts]


def comment_with(comments: Iterable[Mapping[str, Any]], marker: str) -> int | None:
    """The first comment whose body carries `marker`."""
    return next(
        (_id(c, "comment") for c in _objects(comments, "comments") if marker in str(c.get("body") or "")),
        None,
    )


def active_membership(answer: Mapping[str, Any]) -> bool:
    """A team membership (REST) that is active: an invitation still pending is not."""
    return isinstance(answer, Mapping) and answer.get("state") == "active"


def drift_issues(issues: Iterable[Mapping[str, Any]]) -> list[DriftIssue]:
    """Issues (REST) as drift issues; GitHub lists pull requests as issues too: not those."""
    return [
        DriftIssue(_number(issue, "issue"), str(issue.get("body") or ""))
        for issue in _objects(issues, "issues")
        if not issue.get("pull_request")
    ]


# -- inside ------------------------------------------------------------------------------------


def _object(value: Any, what: str) -> Mapping[str, Any]:
    """A JSON object that may be null (then empty); GitOpsError when it is something else."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise GitOpsError(f"GitHub's {what} is not an object: {str(value)[:80]!r}")
    return value


def _objects(values: Any, what: str) -> list[Mapping[str, Any]]:
    if values is None:
        return []
    if isinstance(values, Mapping | str | bytes) or not isinstance(values, Iterable):
        raise GitOpsError(f"GitHub's {what} is not a list")
    found = list(values)
    if not all(isinstance(value, Mapping) for value in found):
        raise GitOpsError(f"GitHub's {what} holds something that is not an object")
    return found


def _nodes(connection: Any, what: str) -> list[Mapping[str, Any]]:
    return _objects(_object(connection, what).get("nodes"), f"{what}.nodes")


def _entries(tree: Any) -> list[Mapping[str, Any]]:
    """A Tree's entries; none for a null object or one that is not a tree (`{}`)."""
    return _objects(_object(tree, "tree").get("entries"), "tree entries")


def _name(entry: Mapping[str, Any]) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise GitOpsError("GitHub's tree entry has no name")
    return name


def _number(item: Mapping[str, Any], what: str) -> int:
    number = item.get("number")
    if isinstance(number, bool) or not isinstance(number, int | str) or not str(number).isdigit():
        raise GitOpsError(f"GitHub's {what} has no number")
    return int(number)


def _id(item: Mapping[str, Any], what: str) -> int:
    found = item.get("id")
    if isinstance(found, bool) or not isinstance(found, int):
        raise GitOpsError(f"GitHub's {what} has no id")
    return found


def _login(user: Any) -> str:
    return str(_object(user, "user").get("login") or "")


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise GitOpsError(f"GitHub's time {str(value)[:40]!r} is not ISO 8601") from None


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value or "")
