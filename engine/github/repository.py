"""The GitHub GitOps backend: a GitHub App (githubkit) making a branch, one commit and a pull request.

A new request costs at most five API calls: dbvend.yaml on main (GraphQL), the state of the
database's branch and path (GraphQL), the branch with its one commit (one GraphQL document:
createRef, then createCommitOnBranch), the pull request, its labels. Everything is found again
by the request id (a `Request-Id:` trailer in the commit, a hidden marker in the pull request),
so a redelivered request finishes what an earlier delivery started instead of doing it twice.
GitHub's answers are decoded by engine.github.decode (pure); this module only asks.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from githubkit import GitHub
from githubkit.exception import RequestFailed

from engine.catalog import CATALOG_FILE, Catalog, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.claim import Claim
from engine.claim_index import reconcile_index
from engine.errors import ChangeNotFound, GitOpsError
from engine.github import claim_reads, decode
from engine.github.change_search import search_changes
from engine.github.client import github_error, graphql, owner_and_name, rest_json
from engine.github.decode import RefRace, RepositoryState
from engine.gitops import (
    MARKER,
    Change,
    ClaimFiles,
    ClaimTree,
    Proposal,
    RepositoryIdentity,
    Sighting,
    changes_of_database,
    conflict,
    key_and_branch,
)
from engine.policy import PolicyDecision
from engine.store.changes import ChangeRecords
from engine.store.claims import ClaimIndex

log = logging.getLogger("dbvend.github")

POLICY_CHECK: Final = "dbvend/policy"
ANNOTATIONS_PER_REQUEST: Final = 50

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
    defaultBranchRef { name target { oid } }
    catalog: object(expression: $catalog) { ... on Blob { text } }
    claim: object(expression: $claim) { ... on Blob { oid } }
    branch: ref(qualifiedName: $branch) { name target { oid ... on Commit { message } } }
    pulls: pullRequests(
      headRefName: $head, first: 10, states: [OPEN, CLOSED, MERGED],
      orderBy: {field: CREATED_AT, direction: DESC}
    ) { nodes { number url state body headRepository { nameWithOwner } } }
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


RECONCILE_EVERY: Final = timedelta(minutes=15)  # a read reconciles first when the last one is older
# GitHub's search index trails its pull requests by seconds to minutes: each reconcile looks back
# this far before the previous one's start.
SEARCH_LAG: Final = timedelta(minutes=10)


class GitHubRepository:
    """One repository on GitHub as the GitOps store (implements engine.gitops.GitOpsBackend)."""

    def __init__(
        self,
        client: GitHub[Any],
        full_name: str,
        labels: tuple[str, ...] = ("dbvend",),
        changes_store: ChangeRecords | None = None,
        index: ClaimIndex | None = None,
    ) -> None:
        self.owner, self.name = owner_and_name(full_name)
        self.client, self.labels = client, labels
        # dbvend's changes as the ledger records them; None (a CI job): each read searches GitHub
        self.changes_store = changes_store
        self.index = index  # the claims index (the ledger): claims() on the default branch reads it

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    # -- reading

    def catalog(self) -> Catalog:
        state = self._state(CATALOG_FILE, None)  # no branch of that name: only HEAD is read
        if state.catalog_text is None:
            return parse_catalog(default_catalog_text(), "dbvend.yaml (built-in defaults)")
        return parse_catalog(state.catalog_text, f"{CATALOG_FILE} on {state.main} ({self.full_name})")

    def identity(self) -> RepositoryIdentity:
        """Name, id and default branch as GitHub has them now (one GraphQL call), with the
        installation the App's client acts as (None for a token)."""
        data = graphql(self.client, REPOSITORY_QUERY, {"owner": self.owner, "name": self.name})
        return decode.identity(data, self.full_name, getattr(self.client.auth, "installation_id", None))

    def default_branch(self) -> str:
        return self.identity().default_branch

    def check_absent(self, claim: Claim) -> Sighting:
        return self._sight(claim, None)

    def read_file(self, ref: str | None, path: str) -> str | None:
        """The file at `ref`; with None, at the default branch (GitHub's own default for `ref`)."""
        rest = self.client.rest
        try:
            answer = (
                rest.repos.get_content(self.owner, self.name, path, ref=ref)
                if ref is not None
                else rest.repos.get_content(self.owner, self.name, path)
            )
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                return None
            raise github_error("read " + path, exc) from None
        return decode.file_text(rest_json(answer), path)

    def claims(self, ref: str | None = None) -> dict[str, str]:
        """Every database root's request.json at `ref` (None: HEAD, the default branch), by root
        (terraform/<env>/<id>), as engine.ci.claims_at reads them from a clone. The default branch,
        with an index: from the index, no call (filled by a reconcile first if it never was);
        else one GraphQL call (CLAIMS_QUERY)."""
        if self.index is not None and ref in (None, "HEAD"):
            if self.index.index_state() is None:
                reconcile_index(self.index, self)
            return self.index.indexed_claims()
        ref = "HEAD" if ref is None else ref
        if not ref or ":" in ref:
            raise GitOpsError(f"not a ref: {ref!r}")
        variables = {"owner": self.owner, "name": self.name, "ref": ref, "tree": f"{ref}:terraform"}
        return decode.claims(graphql(self.client, CLAIMS_QUERY, variables), self.full_name, ref)

    def claim_tree(self, ref: str | None = None) -> ClaimTree:
        return claim_reads.read_claim_tree(self.client, self.owner, self.name, ref or "HEAD")

    def claim_texts(self, oids: Collection[str]) -> dict[str, str]:
        return claim_reads.read_blobs(self.client, self.owner, self.name, oids)

    def claim_files(self, commit: str, roots: Collection[str]) -> ClaimFiles:
        return claim_reads.read_claim_files(self.client, self.owner, self.name, commit, roots)

    def changes(self, status: str | None = None) -> list[Change]:
        """dbvend's changes as the ledger records them (reconciled first when that is due); without
        a ledger, found by a search for its label. Never a listing of every pull request."""
        if self.changes_store is None:
            return [c for c in self._searched_changes() if status is None or c.status == status]
        self._reconcile_when_due()
        return self.changes_store.recorded_changes(status)

    def open_changes_of(self, environment: str, identifier: str) -> list[Change]:
        """The open changes of one database: its request's and every later one's (branches
        dbvend/<env>/<id> and dbvend/<env>/<id>.<kind>)."""
        if self.changes_store is None:
            return changes_of_database(self.changes("open"), environment, identifier)
        self._reconcile_when_due()
        return self.changes_store.open_changes_of(environment, identifier)

    def change(self, change_id: int) -> Change:
        """One pull request as it stands on GitHub; one of dbvend's own is recorded as read."""
        try:
            answer = self.client.rest.pulls.get(self.owner, self.name, change_id)
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                raise ChangeNotFound(f"no pull request #{change_id}") from None
            raise github_error(f"read pull request #{change_id}", exc) from None
        pull = rest_json(answer)
        found = decode.change(pull)
        return self._recorded(found) if decode.own(pull, self.full_name) else found

    def reconcile_changes(self) -> int:
        """Record dbvend's pull requests the ledger missed or holds stale (a webhook lost, a change
        opened by a CI job): a search by dbvend's label, from a little before the last reconcile
        (all of them the first time). Returns how many changes were recorded."""
        store = self.changes_store
        if store is None:
            return 0
        started = datetime.now(UTC)
        last = store.changes_reconciled_at()
        since = None if last is None else datetime.fromisoformat(last) - SEARCH_LAG
        found = self._searched_changes(since)
        store.record_changes(found)
        store.mark_changes_reconciled(started.isoformat())
        log.info("changes reconciled: %d recorded (since %s)", len(found), since or "the beginning")
        return len(found)

    # -- writing

    def open_change(self, proposal: Proposal, seen: Sighting | None = None) -> Change:
        """Branch dbvend/<env>/<id> (a later change: ...<id>.<kind>), one commit, one pull request
        with labels; idempotent on the change key."""
        key, branch = proposal.key, proposal.branch
        body = f"{proposal.description}\n{MARKER.format(key)}\n"
        if seen is not None and seen.key != key:
            seen = None  # read for another change: not a reading of this one
        for attempt in range(3):
            now = seen or self._sight(proposal.claim, proposal.kind)
            seen = None  # a retry after a race reads again
            if now.mine is not None:
                return self.change(now.mine)  # a redelivery: this request's pull request
            try:
                made = now.branch.commit if now.branch is not None and now.branch.key == key else None
                commit = made or self._commit(now, proposal)
                return self._pull_request(now, proposal, commit, body)
            except RefRace as race:
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
        step = ANNOTATIONS_PER_REQUEST
        batches = [annotations[i : i + step] for i in range(0, len(annotations), step)] or [[]]
        checks = self.client.rest.checks
        try:
            run = checks.create(
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
                output = {"title": title, "summary": summary, "annotations": batch}
                checks.update(self.owner, self.name, run.id, data=cast(Any, {"output": output}))
        except RequestFailed as exc:
            raise github_error(f"report the policy check on {change.commit[:12]}", exc) from None

    def merge(self, change_id: int) -> Change:
        pulls = self.client.rest.pulls
        return self._settle(
            change_id, "merge", lambda: pulls.merge(self.owner, self.name, change_id, merge_method="merge")
        )

    def close(self, change_id: int) -> Change:
        pulls = self.client.rest.pulls
        return self._settle(
            change_id, "close", lambda: pulls.update(self.owner, self.name, change_id, state="closed")
        )

    def reconcile_quietly(self) -> int:
        """reconcile_changes for the periodic pass (engine.aws): a failure is logged, not raised,
        and tried again by the next pass or the next read that finds it due."""
        try:
            return self.reconcile_changes()
        except Exception:
            log.exception("changes not reconciled")
            return 0

    # -- inside

    def _recorded(self, change: Change) -> Change:
        """`change`, recorded in the ledger first (when there is one)."""
        if self.changes_store is not None:
            self.changes_store.record_change(change)
        return change

    def _reconcile_when_due(self) -> None:
        """Reconcile before a read when the ledger never was, or not for RECONCILE_EVERY (`dbvend
        serve` has no periodic pass of its own; the Lambda's periodic pass keeps this from being due)."""
        assert self.changes_store is not None
        last = self.changes_store.changes_reconciled_at()
        if last is None or datetime.now(UTC) - datetime.fromisoformat(last) > RECONCILE_EVERY:
            self.reconcile_changes()

    def _searched_changes(self, since: datetime | None = None) -> list[Change]:
        """dbvend's own changes among the pull requests with its label (updated since `since`)."""
        return search_changes(self.client, self.full_name, self.labels[0], since)

    def _settle(self, change_id: int, verb: str, call: Callable[[], object]) -> Change:
        """Merge or close a pull request, then read it as it stands."""
        try:
            call()
        except RequestFailed as exc:
            raise github_error(f"{verb} pull request #{change_id}", exc) from None
        return self.change(change_id)

    def _sight(self, claim: Claim, kind: str | None) -> Sighting:
        """The repository's state for this change (one GraphQL call); Conflict (engine.gitops.conflict)
        unless the database is free or this very change's."""
        key, branch = key_and_branch(claim, kind)
        seen = self._state(branch, f"{claim.root}/request.json").sighting(key)
        refused = conflict(claim, kind, seen)
        if refused is not None:
            raise refused
        return seen

    def _state(self, branch: str, claim_path: str | None) -> RepositoryState:
        variables = {
            "owner": self.owner,
            "name": self.name,
            "branch": f"refs/heads/{branch}",
            "head": branch,
            "catalog": f"HEAD:{CATALOG_FILE}",
            "claim": f"HEAD:{claim_path or CATALOG_FILE}",
        }
        data = graphql(self.client, STATE_QUERY, variables)
        return decode.repository_state(data, self.full_name, claim_wanted=claim_path is not None)

    def _commit(self, seen: Sighting, proposal: Proposal) -> str:
        """The branch at main's head and the claim's files in one commit on it: one GraphQL call."""
        files = sorted(proposal.rendered.files.items())
        additions = [
            {
                "path": proposal.rendered.relative(name),
                "contents": base64.b64encode(text.encode()).decode("ascii"),
            }
            for name, text in files
        ]
        branch = proposal.branch
        commit_input = {
            "branch": {"repositoryNameWithOwner": self.full_name, "branchName": branch},
            "expectedHeadOid": seen.main_commit,
            "message": {"headline": proposal.title, "body": f"Request-Id: {seen.key}"},
            "fileChanges": {"additions": additions},
        }
        if seen.branch is not None:  # our branch without our commit: a crash came between
            variables = {"input": {**commit_input, "expectedHeadOid": seen.branch.commit}}
            data = graphql(self.client, COMMIT_MUTATION, variables, races=True)
        else:
            ref = {"repositoryId": seen.repository, "name": f"refs/heads/{branch}", "oid": seen.main_commit}
            data = graphql(self.client, BRANCH_MUTATION, {"ref": ref, "commit": commit_input}, races=True)
        return decode.made_commit(data, branch)

    def _pull_request(self, seen: Sighting, proposal: Proposal, commit: str, body: str) -> Change:
        rest, branch, title = self.client.rest, proposal.branch, proposal.title
        try:
            pull = rest_json(
                rest.pulls.create(self.owner, self.name, title=title, head=branch, base=seen.main, body=body)
            )
        except RequestFailed as exc:
            if exc.response.status_code == 422 and "already exists" in exc.response.text:
                found = self._pull_of_request(branch, seen.key)
                if found is not None:
                    return self._recorded(found)
                raise RefRace(f"a pull request for {branch} exists but is not this request's") from None
            raise github_error(f"open a pull request for {branch}", exc) from None
        made = self._recorded(decode.change(pull, commit=commit))  # recorded before the label a search needs
        labels = [*self.labels, proposal.claim.environment]
        try:
            rest.issues.add_labels(self.owner, self.name, made.id, labels=labels)
        except RequestFailed as exc:
            raise github_error(f"label pull request #{made.id}", exc) from None
        return made

    def _pull_of_request(self, branch: str, key: str) -> Change | None:
        """This request's pull request, when one exists already (found by its branch and marker)."""
        try:
            answer = self.client.rest.pulls.list(
                self.owner, self.name, state="all", head=f"{self.owner}:{branch}", per_page=100
            )
        except RequestFailed as exc:
            raise github_error(f"list pull requests of {branch}", exc) from None
        return decode.pull_of_request(rest_json(answer), key, self.full_name)


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
