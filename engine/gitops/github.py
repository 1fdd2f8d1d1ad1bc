"""The GitHub GitOps backend: a GitHub App (githubkit) making a branch, one commit and a pull request.

A new request costs at most five API calls: dbvend.yaml on main (GraphQL), the state of the
database's branch and path (GraphQL), the branch with its one commit (one GraphQL document:
createRef, then createCommitOnBranch), the pull request, its labels. Everything is found again
by the request id (a `Request-Id:` trailer in the commit, a hidden marker in the pull request),
so a redelivered request finishes what an earlier delivery started instead of doing it twice.

Content-creating calls are paced under GitHub's secondary limits (80 a minute, 500 an hour);
5xx answers, 403/429 with Retry-After and ref races are retried with backoff.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Generator, Iterable, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

import httpx
from githubkit import GitHub
from githubkit.exception import GitHubException, GraphQLFailed, RateLimitExceeded, RequestFailed
from githubkit.retry import RetryOption
from githubkit.throttling import BaseThrottler

from engine.catalog import CATALOG_FILE, Catalog, default_catalog_text, parse_catalog
from engine.claim import Claim
from engine.commands import CheckResult, PullRequestFacts, Review, standing_reviews
from engine.errors import ChangeNotFound, Conflict, GitOpsError, NotOpen
from engine.gitops import (
    MARKER,
    Change,
    PullHead,
    Reaction,
    RepositoryIdentity,
    branch_name,
    change_key,
    root_of_branch,
)
from engine.gitops import (
    MARKER_RE as _MARKER_RE,
)
from engine.ledger import Ledger
from engine.policy import PolicyDecision
from engine.render import RenderedRoot
from engine.roots import Root

log = logging.getLogger("dbvend.github")

POLICY_CHECK: Final = "dbvend/policy"
ANNOTATIONS_PER_REQUEST: Final = 50
_TRAILER_RE: Final = re.compile(r"^Request-Id: (\S+)\s*$", re.MULTILINE)

REPOSITORY_QUERY: Final = """
query DbvendRepository($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    databaseId
    nameWithOwner
    defaultBranchRef { name target { oid } }
  }
}
"""

STATE_QUERY: Final = """
query DbvendState(
  $owner: String!, $name: String!, $branch: String!, $head: String!, $catalog: String!, $claim: String!
) {
  repository(owner: $owner, name: $name) {
    id
    defaultBranchRef { name target { oid ... on Commit { tree { oid } } } }
    catalog: object(expression: $catalog) { ... on Blob { text } }
    claim: object(expression: $claim) { ... on Blob { oid } }
    branch: ref(qualifiedName: $branch) { name target { oid ... on Commit { message } } }
    pulls: pullRequests(
      headRefName: $head, first: 10, states: [OPEN, CLOSED, MERGED],
      orderBy: {field: CREATED_AT, direction: DESC}
    ) { nodes { number url state body headRepository { nameWithOwner } } }
    labels(first: 100) { nodes { id name } }
  }
}
"""

BRANCH_MUTATION: Final = """
mutation DbvendBranch($ref: CreateRefInput!, $commit: CreateCommitOnBranchInput!) {
  createRef(input: $ref) { ref { name target { oid } } }
  createCommitOnBranch(input: $commit) { commit { oid url } }
}
"""

COMMIT_MUTATION: Final = """
mutation DbvendCommit($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) { commit { oid url } }
}
"""

# The terraform tree three levels deep (environment, database, file): every file's text comes along,
# as GraphQL cannot select entries by name; only request.json is kept. refObject tells an unknown
# ref (null) from a ref without a terraform tree (object null, refObject not).
CLAIMS_QUERY: Final = """
query DbvendClaims($owner: String!, $name: String!, $ref: String!, $tree: String!) {
  repository(owner: $owner, name: $name) {
    refObject: object(expression: $ref) { oid }
    object(expression: $tree) {
      ... on Tree { entries { name type object {
        ... on Tree { entries { name type object {
          ... on Tree { entries { name type object { ... on Blob { byteSize text isTruncated } } } }
        } } }
      } } }
    }
  }
}
"""


# -- pacing and retries ------------------------------------------------------------------------


@dataclass
class Pacer(BaseThrottler):
    """Keeps content-creating calls under GitHub's secondary limits: a sliding window per limit.

    A content-creating call is any POST, PATCH, PUT or DELETE except a GraphQL query.
    """

    limits: tuple[tuple[int, float], ...] = ((80, 60.0), (500, 3600.0))
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _sent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def creates_content(request: httpx.Request) -> bool:
        if request.method not in ("POST", "PATCH", "PUT", "DELETE"):
            return False
        if request.url.path.rstrip("/").endswith("/graphql"):
            return b"mutation" in request.content[:2000]
        return True

    def wait_for_turn(self) -> None:
        with self._lock:
            while True:
                now = self.clock()
                longest = max(window for _, window in self.limits)
                while self._sent and self._sent[0] <= now - longest:
                    self._sent.popleft()
                delay = 0.0
                for count, window in self.limits:
                    recent = [t for t in self._sent if t > now - window]
                    if len(recent) >= count:
                        delay = max(delay, recent[-count] + window - now)
                if delay <= 0:
                    self._sent.append(now)
                    return
                log.info("pacing GitHub writes: waiting %.1f s", delay)
                self.sleep(delay)

    @contextmanager
    def acquire(self, request: httpx.Request) -> Generator[None, Any, Any]:
        if self.creates_content(request):
            self.wait_for_turn()
        yield

    @asynccontextmanager
    async def async_acquire(self, request: httpx.Request) -> Any:
        if self.creates_content(request):
            self.wait_for_turn()
        yield


@dataclass(frozen=True)
class RetryPolicy:
    """githubkit's retry decision: 5xx with backoff; 403/429 rate limits after their Retry-After."""

    attempts: int = 4
    backoff: float = 1.0  # seconds before the first retry of a 5xx; doubled each time
    max_wait: float = 120.0  # a Retry-After beyond this is not waited for

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        if retry_count >= self.attempts:
            return RetryOption(False)
        if isinstance(exc, RateLimitExceeded):
            wait = exc.retry_after.total_seconds()
            if wait > self.max_wait:
                return RetryOption(False)
            log.warning("GitHub rate limit (%s): retrying in %.0f s", type(exc).__name__, wait)
            return RetryOption(True, exc.retry_after)
        if isinstance(exc, RequestFailed) and exc.response.status_code >= 500:
            wait = self.backoff * 2**retry_count
            log.warning("GitHub answered %d: retrying in %.1f s", exc.response.status_code, wait)
            return RetryOption(True, timedelta(seconds=wait))
        return RetryOption(False)


# -- the backend -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    repository_id: str
    main: str
    main_oid: str
    catalog_text: str | None
    claim_on_main: bool
    branch_oid: str | None
    branch_request: str | None
    pulls: tuple[dict[str, Any], ...]
    labels: dict[str, str]


class GitHubRepository:
    """One repository on GitHub as the GitOps store (implements engine.gitops.GitOpsBackend)."""

    def __init__(self, client: GitHub[Any], full_name: str, labels: tuple[str, ...] = ("dbvend",)) -> None:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise GitOpsError(f"repository must be owner/name, not {full_name!r}")
        self.client, self.owner, self.name, self.labels = client, owner, name, labels
        self._checked: dict[str, _State] = {}  # check_absent's reading, for open_change to reuse

    # -- reading

    def catalog(self) -> Catalog:
        state = self._state(CATALOG_FILE, None)  # no branch of that name: only HEAD is read
        text = state.catalog_text
        if text is None:
            return parse_catalog(default_catalog_text(), "dbvend.yaml (built-in defaults)")
        return parse_catalog(text, f"{CATALOG_FILE} on {state.main} ({self.owner}/{self.name})")

    def identity(self) -> RepositoryIdentity:
        """Name, id and default branch as GitHub has them now (one GraphQL call), with the
        installation the App's client acts as (None for a token)."""
        variables = {"owner": self.owner, "name": self.name}
        repository = self._graphql(REPOSITORY_QUERY, variables).get("repository")
        if not repository:
            raise GitOpsError(f"{self.owner}/{self.name} is not visible to the GitHub App")
        default = repository.get("defaultBranchRef") or {}
        if not default.get("name"):
            raise GitOpsError(f"{self.owner}/{self.name} has no default branch (an empty repository?)")
        return RepositoryIdentity(
            full_name=str(repository.get("nameWithOwner") or self.full_name),
            default_branch=str(default["name"]),
            id=repository.get("databaseId"),
            installation_id=getattr(self.client.auth, "installation_id", None),
            default_oid=(default.get("target") or {}).get("oid"),
        )

    def default_branch(self) -> str:
        return self.identity().default_branch

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def check_absent(self, claim: Claim) -> None:
        state = self._claim_state(claim)
        self._refuse_conflict(claim, state)
        self._checked = {claim.request_id: state}  # open_change comes next: one reading serves both

    def read_file(self, ref: str | None, path: str) -> str | None:
        """The file at `ref`; with None, at the default branch (GitHub's own default for `ref`)."""
        try:
            rest = self.client.rest
            found = (
                rest.repos.get_content(self.owner, self.name, path, ref=ref)
                if ref is not None
                else rest.repos.get_content(self.owner, self.name, path)
            ).parsed_data
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                return None
            raise self._error("read " + path, exc) from None
        content = getattr(found, "content", None)
        if not isinstance(content, str):
            return None
        return base64.b64decode(content).decode("utf-8")

    def claims(self, ref: str | None = None) -> dict[str, str]:
        """Every database root's request.json at `ref` (None: HEAD, the default branch), by root
        (terraform/<env>/<id>), as engine.ci.claims_at reads them from a clone: one GraphQL call
        (CLAIMS_QUERY)."""
        from engine.ci import CLAIM_PATH

        ref = "HEAD" if ref is None else ref
        if not ref or ":" in ref:
            raise GitOpsError(f"not a ref: {ref!r}")
        variables = {"owner": self.owner, "name": self.name, "ref": ref, "tree": f"{ref}:terraform"}
        repository = self._graphql(CLAIMS_QUERY, variables).get("repository")
        if not repository:
            raise GitOpsError(f"{self.owner}/{self.name} is not visible to the GitHub App")
        if repository.get("refObject") is None:
            raise GitOpsError(f"unknown ref {ref!r} in {self.owner}/{self.name}")

        def entries(node: dict[str, Any] | None) -> list[dict[str, Any]]:
            return list((node or {}).get("entries") or [])

        found: dict[str, str] = {}
        for environment in entries(repository.get("object")):
            for database in entries(environment.get("object")):
                for entry in entries(database.get("object")):
                    path = Root(environment["name"], database["name"]).file(entry["name"])
                    match = CLAIM_PATH.match(path)
                    if match is None or entry.get("type") != "blob":
                        continue
                    blob = entry.get("object") or {}
                    if blob.get("isTruncated"):
                        size = blob.get("byteSize")
                        raise GitOpsError(f"{path} at {ref} is too large for GitHub's GraphQL ({size} bytes)")
                    text = blob.get("text")
                    if not isinstance(text, str):
                        raise GitOpsError(f"{path} at {ref} is not text")
                    found[match.group(1)] = text
        return found

    def changes(self, status: str | None = None) -> list[Change]:
        pulls = self.client.rest.paginate(
            self.client.rest.pulls.list, owner=self.owner, repo=self.name, state="all", per_page=100
        )
        dumped = (pull.model_dump() for pull in pulls)
        found = [self._change(pull) for pull in dumped if self._own(pull)]
        found.sort(key=lambda change: change.id)
        return [c for c in found if status is None or c.status == status]

    def change(self, change_id: int) -> Change:
        try:
            pull = self.client.rest.pulls.get(self.owner, self.name, change_id).parsed_data
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                raise ChangeNotFound(f"no pull request #{change_id}") from None
            raise self._error(f"read pull request #{change_id}", exc) from None
        return self._change(pull.model_dump())

    # -- writing

    def open_change(
        self, rendered: RenderedRoot, claim: Claim, title: str, description: str, kind: str | None = None
    ) -> Change:
        """Branch dbvend/<env>/<id> (with `kind`: ...<id>.<kind>), one commit, one pull request
        with labels; idempotent on the request id (and kind)."""
        key = change_key(claim.request_id, kind)
        branch = branch_name(claim.environment, claim.identifier, kind)
        body = f"{description}\n{MARKER.format(key)}\n"
        for attempt in range(3):
            state = self._checked.pop(key, None) or self._state(branch, f"{claim.root}/request.json")
            existing = self._refuse_conflict(claim, state, kind)
            if existing is not None:
                return existing
            try:
                commit = state.branch_oid if state.branch_request == key else None
                if commit is None:
                    commit = self._branch_with_commit(state, branch, rendered, key, title)
                return self._pull_request(state, branch, commit, claim, key, title, body)
            except _RefRace as race:
                log.info("ref race on %s (attempt %d): %s", branch, attempt + 1, race)
                time.sleep(0.2 * (attempt + 1))
        raise GitOpsError(f"{branch} kept changing under dbvend; try the request again")

    def report_checks(self, change: Change, decision: PolicyDecision) -> None:
        """A `dbvend/policy` check run on the head commit, every finding an annotation on its file
        (GitHub takes 50 annotations per request: the first 50 with the run, the rest by updates)."""
        annotations = policy_annotations(decision)
        conclusion = {"pass": "success", "warn": "neutral", "fail": "failure"}[decision.result]
        summary = (
            f"{len(decision.failures)} failed, {len(decision.warnings)} warnings, "
            f"{len(decision.skipped)} skipped by dbvend.yaml"
        )
        title = f"Policy gate: {decision.result}"
        batches = [
            annotations[i : i + ANNOTATIONS_PER_REQUEST]
            for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)
        ] or [[]]
        try:
            run = self.client.rest.checks.create(
                self.owner,
                self.name,
                data=cast(
                    Any,
                    {
                        "name": POLICY_CHECK,
                        "head_sha": change.commit,
                        "status": "completed",
                        "conclusion": conclusion,
                        "output": {"title": title, "summary": summary, "annotations": batches[0]},
                    },
                ),
            ).parsed_data
            for batch in batches[1:]:
                self.client.rest.checks.update(
                    self.owner,
                    self.name,
                    run.id,
                    data=cast(Any, {"output": {"title": title, "summary": summary, "annotations": batch}}),
                )
        except RequestFailed as exc:
            raise self._error(f"report the policy check on {change.commit[:12]}", exc) from None

    def merge(self, change_id: int) -> Change:
        try:
            self.client.rest.pulls.merge(self.owner, self.name, change_id, merge_method="merge")
        except RequestFailed as exc:
            raise self._error(f"merge pull request #{change_id}", exc) from None
        return self.change(change_id)

    def close(self, change_id: int) -> Change:
        try:
            self.client.rest.pulls.update(self.owner, self.name, change_id, state="closed")
        except RequestFailed as exc:
            raise self._error(f"close pull request #{change_id}", exc) from None
        return self.change(change_id)

    # -- inside

    def _claim_state(self, claim: Claim) -> _State:
        branch = branch_name(claim.environment, claim.identifier)
        return self._state(branch, f"{claim.root}/request.json")

    def _state(self, branch: str, claim_path: str | None) -> _State:
        variables = {
            "owner": self.owner,
            "name": self.name,
            "branch": f"refs/heads/{branch}",
            "head": branch,
            "catalog": f"HEAD:{CATALOG_FILE}",
            "claim": f"HEAD:{claim_path or CATALOG_FILE}",
        }
        data = self._graphql(STATE_QUERY, variables)
        repository = data.get("repository")
        if not repository:
            raise GitOpsError(f"{self.owner}/{self.name} is not visible to the GitHub App")
        default = repository["defaultBranchRef"]
        ref = repository.get("branch")
        target = (ref or {}).get("target") or {}
        trailer = _TRAILER_RE.findall(target.get("message") or "")
        # headRefName matches a fork's branch of the same name too: only this repository's count.
        pulls = [
            pull
            for pull in (repository.get("pulls") or {}).get("nodes") or []
            if str((pull.get("headRepository") or {}).get("nameWithOwner") or "").casefold()
            == self.full_name.casefold()
        ]
        return _State(
            repository_id=repository["id"],
            main=default["name"],
            main_oid=default["target"]["oid"],
            catalog_text=(repository.get("catalog") or {}).get("text"),
            claim_on_main=claim_path is not None and repository.get("claim") is not None,
            branch_oid=target.get("oid"),
            branch_request=trailer[-1] if trailer else None,
            pulls=tuple(pulls),
            labels={n["name"]: n["id"] for n in (repository.get("labels") or {}).get("nodes") or []},
        )

    def _refuse_conflict(self, claim: Claim, state: _State, kind: str | None = None) -> Change | None:
        """Conflict unless the database is free (with `kind`: on main) or held by this very request
        (then its change)."""
        where = f"{claim.environment}/{claim.identifier}"
        key = change_key(claim.request_id, kind)
        for pull in state.pulls:
            found = _MARKER_RE.search(pull.get("body") or "")
            if found and found.group(1) == key:
                return self.change(int(pull["number"]))  # a redelivery: this request's pull request
        if state.branch_oid is not None and state.branch_request == key:
            return None  # the branch is ours; its pull request is still to be opened
        if kind is None and state.claim_on_main:
            raise Conflict(f"database {where} already exists on {state.main}")
        if state.branch_oid is not None:
            open_pulls = [p for p in state.pulls if p.get("state") == "OPEN"]
            detail = f"in open pull request #{open_pulls[0]['number']}" if open_pulls else "on its branch"
            what = f"a {kind.partition('-')[0]} of database {where}" if kind else f"database {where}"
            raise Conflict(f"{what} is already requested {detail}")
        if kind is not None and not state.claim_on_main:
            raise Conflict(f"database {where} is not on {state.main}: its request must be merged first")
        return None

    def _pull_of_request(self, branch: str, key: str) -> Change | None:
        """This request's pull request, when one exists already (found by its branch and marker)."""
        try:
            pulls = self.client.rest.pulls.list(
                self.owner, self.name, state="all", head=f"{self.owner}:{branch}", per_page=100
            ).parsed_data
        except RequestFailed as exc:
            raise self._error(f"list pull requests of {branch}", exc) from None
        for pull in pulls:
            data = pull.model_dump()
            found = _MARKER_RE.search(data.get("body") or "")
            if found and found.group(1) == key and self._own(data):
                return self._change(data)
        return None

    def _branch_with_commit(
        self, state: _State, branch: str, rendered: RenderedRoot, key: str, title: str
    ) -> str:
        """The branch at main's head and the claim's files in one commit on it: one GraphQL call."""
        additions = [
            {
                "path": rendered.relative(name),
                "contents": base64.b64encode(text.encode("utf-8")).decode("ascii"),
            }
            for name, text in sorted(rendered.files.items())
        ]
        commit_input = {
            "branch": {"repositoryNameWithOwner": f"{self.owner}/{self.name}", "branchName": branch},
            "expectedHeadOid": state.main_oid,
            "message": {"headline": title, "body": f"Request-Id: {key}"},
            "fileChanges": {"additions": additions},
        }
        if state.branch_oid is not None:  # our branch without our commit: a crash came between
            variables = {"input": {**commit_input, "expectedHeadOid": state.branch_oid}}
            data = self._graphql(COMMIT_MUTATION, variables, races=True)
        else:
            ref = {"repositoryId": state.repository_id, "name": f"refs/heads/{branch}", "oid": state.main_oid}
            data = self._graphql(BRANCH_MUTATION, {"ref": ref, "commit": commit_input}, races=True)
        commit = ((data.get("createCommitOnBranch") or {}).get("commit") or {}).get("oid")
        if not commit:
            raise _RefRace(f"no commit made on {branch}")
        return str(commit)

    def _pull_request(
        self, state: _State, branch: str, commit: str, claim: Claim, key: str, title: str, body: str
    ) -> Change:
        try:
            pull = self.client.rest.pulls.create(
                self.owner, self.name, title=title, head=branch, base=state.main, body=body
            ).parsed_data
        except RequestFailed as exc:
            if exc.response.status_code == 422 and "already exists" in exc.response.text:
                found = self._pull_of_request(branch, key)
                if found is not None:
                    return found
                raise _RefRace(f"a pull request for {branch} exists but is not this request's") from None
            raise self._error(f"open a pull request for {branch}", exc) from None
        labels = [*self.labels, claim.environment]
        try:
            self.client.rest.issues.add_labels(self.owner, self.name, pull.number, labels=labels)
        except RequestFailed as exc:
            raise self._error(f"label pull request #{pull.number}", exc) from None
        return self._change(pull.model_dump(), commit=commit)

    def _graphql(self, query: str, variables: dict[str, Any], races: bool = False) -> dict[str, Any]:
        try:
            data: dict[str, Any] = self.client.graphql.request(query, variables)
        except GraphQLFailed as exc:
            errors = exc.response.errors or []
            kinds = {getattr(e, "type", None) for e in errors}
            text = "; ".join(getattr(e, "message", str(e)) for e in errors)
            if (races and kinds & {"STALE_DATA", "UNPROCESSABLE"}) or "already exists" in text:
                raise _RefRace(text) from None
            raise GitOpsError(f"GitHub GraphQL refused: {text}") from None
        except RequestFailed as exc:
            raise self._error("GraphQL", exc) from None
        return data

    def _change(self, pull: dict[str, Any], commit: str | None = None) -> Change:
        body = pull.get("body") or ""
        found = _MARKER_RE.search(body)
        merged_at = pull.get("merged_at")
        status = "merged" if merged_at else "open" if pull.get("state") == "open" else "closed"
        head, base = pull.get("head") or {}, pull.get("base") or {}
        branch = str(head.get("ref") or "")
        return Change(
            id=int(pull["number"]),
            branch=branch,
            status=status,
            title=str(pull.get("title") or ""),
            request_id=found.group(1) if found else "",
            root=root_of_branch(branch) or "",
            commit=commit or str(head.get("sha") or ""),
            base=str(base.get("sha") or ""),
            description=_MARKER_RE.sub("", body).rstrip("\n") + "\n",
            created_at=_iso(pull.get("created_at")),
            merged_at=_iso(merged_at) if merged_at else None,
            merge_commit=pull.get("merge_commit_sha") if merged_at else None,
            link=pull.get("html_url"),
        )

    def _own(self, pull: dict[str, Any]) -> bool:
        """One of dbvend's changes (engine.gitops.not_own_change): not a fork's look-alike."""
        return PullHead.of(pull).not_own(self.full_name) is None

    def _error(self, what: str, exc: RequestFailed) -> GitOpsError:
        return github_error(what, exc)


def github_error(what: str, exc: RequestFailed) -> GitOpsError:
    """GitHub's status and message, e.g. "GitHub could not edit issue #4: 404 Not Found"."""
    response = exc.response
    try:
        message = str(response.json().get("message", ""))
    except (ValueError, AttributeError):
        message = response.text[:200]
    text = f"GitHub could not {what}: {response.status_code} {message}".rstrip()
    # 405 not mergeable, 409 head moved, 422 not open: the change as it stands, not GitHub's health
    return NotOpen(text) if response.status_code in (405, 409, 422) else GitOpsError(text)


def policy_annotations(decision: PolicyDecision) -> list[dict[str, Any]]:
    """Check-run annotations for the gate's findings: failures, warnings, and skips with their reason."""
    rows = [(f, "failure", "") for f in decision.failures] + [(f, "warning", "") for f in decision.warnings]
    rows += [(s.finding, "notice", f"Skipped by dbvend.yaml: {s.reason}") for s in decision.skipped]
    return [
        {
            "path": finding.file,
            "start_line": max(1, finding.lines[0]),
            "end_line": max(1, finding.lines[0], finding.lines[1]),
            "annotation_level": level,
            "title": f"{finding.check_id} {finding.name}"[:255],
            "message": (note or finding.guideline or finding.name or finding.check_id)[:64000],
            "raw_details": f"resource: {finding.resource}",
        }
        for finding, level, note in rows
    ]


class _RefRace(Exception):
    """Someone moved the branch or main between dbvend's read and its write: read again."""


def _role(level: Any) -> str:
    """The role GitHub names (maintain, triage too), else the plain permission."""
    role = getattr(level, "role_name", None) or level.permission
    return str(role if role in ("admin", "maintain", "write", "triage", "read") else level.permission)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value or "")


def github_client(
    *,
    base_url: str | None,
    token: str | None = None,
    app_id: int | str | None = None,
    private_key: str | None = None,
    installation_id: int | None = None,
    repository: str | None = None,
    retry: RetryPolicy | None = None,
    pacer: Pacer | None = None,
) -> GitHub[Any]:
    """A githubkit client: an App installation (found for `repository` when no id is given), or a token."""
    from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, TokenAuthStrategy
    from githubkit.cache import MemCacheStrategy

    options: dict[str, Any] = {
        "base_url": base_url,
        "auto_retry": retry or RetryPolicy(),
        "throttler": pacer or Pacer(),
        "http_cache": False,
        "timeout": 30.0,
        "cache_strategy": MemCacheStrategy(),  # tokens per client, not shared by the whole process
    }
    if token:
        return GitHub(TokenAuthStrategy(token), **options)
    if app_id is None or not private_key:
        raise GitOpsError("GitHub needs DBVEND_GITHUB_APP_ID and a private key (or DBVEND_GITHUB_TOKEN)")
    if installation_id is None:
        if not repository:
            raise GitOpsError("GitHub needs DBVEND_GITHUB_INSTALLATION_ID or DBVEND_GITHUB_REPOSITORY")
        owner, _, name = repository.partition("/")
        app = GitHub(AppAuthStrategy(app_id, private_key), **options)
        try:
            installation_id = app.rest.apps.get_repo_installation(owner, name).parsed_data.id
        except RequestFailed as exc:
            raise GitOpsError(f"the GitHub App is not installed on {repository}: {exc}") from None
    return GitHub(AppInstallationAuthStrategy(app_id, private_key, installation_id), **options)


class GitHubIssueReplies:
    """dbvend's one comment per issue and marker, edited in place.

    With a ledger the comment's id is kept there under a unique key (engine.ledger.claim_comment):
    the first writer makes the comment, every later writer edits it, and a writer that comes while
    the first is still making it leaves its text for the first to write next (no one waits). So
    two deliveries GitHub sends together (issues.opened and issues.labeled for one form) cannot
    both find no comment and both make one. Without a ledger (a CI job without DATABASE_URL) the
    comment is found again by its hidden marker.
    """

    stale: float = 300.0  # a claim without a comment after this long was abandoned: take it over

    def __init__(self, client: GitHub[Any], full_name: str, ledger: Ledger | None = None) -> None:
        self.client, self.full_name, self.ledger = client, full_name, ledger
        self.owner, _, self.name = full_name.partition("/")

    def reply(self, issue_number: int, marker: str, body: str) -> None:
        try:
            if self.ledger is None:
                self._write(issue_number, marker, body, self._find(issue_number, marker))
            else:
                self._reply_once(self.ledger, issue_number, marker, body)
        except RequestFailed as exc:
            raise github_error(f"comment on #{issue_number}", exc) from None

    def _reply_once(self, ledger: Ledger, issue_number: int, marker: str, body: str) -> None:
        digest = hashlib.sha256(marker.encode()).hexdigest()[:32]
        key, token = f"{self.full_name.casefold()}#{issue_number} {digest}", uuid.uuid4().hex
        for _ in range(3):  # a comment deleted under us is made again, at most twice
            slot = ledger.claim_comment(key, token, self.stale)
            comment_id = slot.comment_id
            if comment_id is None and slot.mine:
                comment_id = self._write(issue_number, marker, body, self._find(issue_number, marker))
                body = ledger.record_comment(key, token, comment_id) or ""
            elif comment_id is None:
                comment_id = ledger.leave_comment(key, body)  # the holder writes it after its own
                if comment_id is None:
                    return
            while body:
                if not self._edit(comment_id, body):
                    ledger.forget_comment(key)  # someone deleted it: the next round makes a new one
                    break
                body = ledger.take_pending_comment(key) or ""
            else:
                return
        raise GitOpsError(f"dbvend's comment on #{issue_number} keeps disappearing")

    def _find(self, issue_number: int, marker: str) -> int | None:
        """dbvend's comment carrying `marker`, made before the ledger knew it (or without one)."""
        comments: Iterable[Any] = self.client.rest.paginate(
            self.client.rest.issues.list_comments,
            owner=self.owner,
            repo=self.name,
            issue_number=issue_number,
            per_page=100,
        )
        return next((int(c.id) for c in comments if marker in (c.body or "")), None)

    def _write(self, issue_number: int, marker: str, body: str, existing: int | None) -> int:
        if existing is not None and self._edit(existing, body):
            return existing
        rest = self.client.rest
        return int(rest.issues.create_comment(self.owner, self.name, issue_number, body=body).parsed_data.id)

    def _edit(self, comment_id: int, body: str) -> bool:
        """Edit a comment; False when it no longer exists."""
        try:
            self.client.rest.issues.update_comment(self.owner, self.name, comment_id, body=body)
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                return False
            raise
        return True


class GitHubPullRequests:
    """Reactions, comments, the facts for authorization, and workflow dispatch on GitHub."""

    def __init__(self, client: GitHub[Any], full_name: str) -> None:
        self.client = client
        self.owner, _, self.name = full_name.partition("/")

    def react(self, comment_id: int, content: Reaction) -> None:
        try:
            self.client.rest.reactions.create_for_issue_comment(
                self.owner, self.name, comment_id, content=content
            )
        except RequestFailed as exc:
            log.warning("could not react to comment %d: %s", comment_id, exc.response.status_code)

    def comment(self, number: int, body: str) -> None:
        try:
            self.client.rest.issues.create_comment(self.owner, self.name, number, body=body)
        except RequestFailed as exc:
            raise GitOpsError(f"GitHub could not comment on #{number}: {exc.response.status_code}") from None

    def permission(self, login: str) -> str:
        """A user's permission on the repository: admin, maintain, write, triage, read or none."""
        try:
            level = self.client.rest.repos.get_collaborator_permission_level(
                self.owner, self.name, login
            ).parsed_data
        except RequestFailed as exc:
            raise GitOpsError(
                f"GitHub could not read the permission of {login}: {exc.response.status_code}"
            ) from None
        return _role(level)

    def facts(
        self, number: int, commenter: str, teams: Collection[str] = ()
    ) -> tuple[PullRequestFacts, PullHead]:
        rest = self.client.rest
        try:
            level = rest.repos.get_collaborator_permission_level(self.owner, self.name, commenter).parsed_data
            pull = rest.pulls.get(self.owner, self.name, number).parsed_data
            reviews: Iterable[Any] = rest.paginate(
                rest.pulls.list_reviews, owner=self.owner, repo=self.name, pull_number=number, per_page=100
            )
            found = [
                Review(r.user.login if r.user else "", r.state, r.submitted_at or None, r.commit_id)
                for r in reviews
            ]
            runs = rest.checks.list_for_ref(self.owner, self.name, pull.head.sha, per_page=100).parsed_data
        except RequestFailed as exc:
            raise GitOpsError(
                f"GitHub could not read pull request #{number}: {exc.response.status_code}"
            ) from None
        checks = [CheckResult(run.name, run.status, run.conclusion) for run in runs.check_runs]
        author = pull.user.login if pull.user else ""
        approvers = [
            review.login
            for login, review in standing_reviews(found).items()
            if review.state.upper() == "APPROVED" and login != author.casefold()
        ]
        facts = PullRequestFacts(
            commenter=commenter,
            permission=_role(level),
            author=author,
            reviews=found,
            checks=checks,
            mergeable=pull.mergeable if isinstance(pull.mergeable, bool) else None,
            mergeable_state=pull.mergeable_state,
            approver_teams=self.team_memberships(approvers, teams) if teams else {},
            draft=bool(pull.draft),
            state=pull.state,
            head_sha=pull.head.sha,
        )
        return facts, PullHead.of(pull.model_dump())

    def team_memberships(self, logins: Iterable[str], teams: Collection[str]) -> dict[str, list[str]]:
        """login -> the given teams (of the repository owner's organisation) the login is an active member of.

        One call per login and team. A login whose membership could not be read (the App lacks the
        organisation's members permission, or the owner is not an organisation) is left out, so
        authorization says its membership is not known rather than that it is not a member.
        """
        found: dict[str, list[str]] = {}
        for login in logins:
            member_of: list[str] = []
            for team in teams:
                try:
                    state = self.client.rest.teams.get_membership_for_user_in_org(
                        self.owner, team, login
                    ).parsed_data.state
                except RequestFailed as exc:
                    if exc.response.status_code == 404:  # not a member (or no such team)
                        continue
                    log.warning("team membership of %s in %s: %d", login, team, exc.response.status_code)
                    break
                if state == "active":
                    member_of.append(team)
            else:
                found[login] = member_of
        return found

    def head_sha(self, number: int) -> str:
        """The pull request's head commit now."""
        return self.head(number)[0]

    def head(self, number: int) -> tuple[str, str]:
        """The pull request's head commit and branch now."""
        try:
            head = self.client.rest.pulls.get(self.owner, self.name, number).parsed_data.head
        except RequestFailed as exc:
            raise GitOpsError(
                f"GitHub could not read pull request #{number}: {exc.response.status_code}"
            ) from None
        return str(head.sha), str(head.ref)

    def write_parts(self, number: int, marker: str, parts: Sequence[str]) -> list[int]:
        """A comment in parts (engine.summary.split_comment), kept up to date in place.

        The pull request's comments carrying `marker` are found; part i is written over the
        i-th of them, missing parts are added, and parts left over from a longer earlier
        summary are deleted. Returns the comment ids in order.
        """
        from engine.summary import find_marker

        rest = self.client.rest
        try:
            comments: Iterable[Any] = rest.paginate(
                rest.issues.list_comments, owner=self.owner, repo=self.name, issue_number=number, per_page=100
            )
            mine = sorted(
                (
                    (found[0], comment.id)
                    for comment in comments
                    if (found := find_marker(comment.body or "", marker))
                ),
            )
            ids = [comment_id for _, comment_id in mine]
            written = []
            for index, body in enumerate(parts):
                if index < len(ids):
                    rest.issues.update_comment(self.owner, self.name, ids[index], body=body)
                    written.append(ids[index])
                else:
                    made = rest.issues.create_comment(self.owner, self.name, number, body=body).parsed_data
                    written.append(made.id)
            for extra in ids[len(parts) :]:
                rest.issues.delete_comment(self.owner, self.name, extra)
        except RequestFailed as exc:
            raise GitOpsError(
                f"GitHub could not write the summary on #{number}: {exc.response.status_code}"
            ) from None
        return written

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        """Start `workflow` on `ref` (the default branch: the workflow's own file comes from there,
        never from the pull request)."""
        try:
            self.client.rest.actions.create_workflow_dispatch(
                self.owner, self.name, workflow, ref=ref, inputs=inputs
            )
        except RequestFailed as exc:
            raise github_error(f"start {workflow} on {ref}", exc) from None
