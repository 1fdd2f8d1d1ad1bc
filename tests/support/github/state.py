"""GitHub's state for one repository and its App: commits and refs in a bare git repository, pull
requests, issues, comments, reactions, reviews, check runs, labels, roles, teams and tokens, with the
controls tests use to act as people and other apps do."""

from __future__ import annotations

import importlib.resources
import secrets
import threading
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support import github_permissions
from tests.support.github.errors import not_found, validation_failed
from tests.support.github.git import ZERO_OID, BareRepository, GitCommandError, as_bytes
from tests.support.github.records import WEB, IssueRecord, PullRequestRecord, crc_id, now, short_branch
from tests.support.github_payloads import stable_id

PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
PERSON = ("Octo Cat", "octocat@example.com")  # who pushes commits() and the initial commit
README = b"# Terraform\n\ndbvend writes one directory per database claim under terraform/.\n"


class GitHubState:
    """One repository (owner/repo) on GitHub with one App installed on it, acting as `<app_slug>[bot]`.

    Seeded with one commit on the default branch: dbvend.yaml (the packaged default catalog) and
    terraform/README.md, plus any `files` given. The bare repository's HEAD names the default branch.
    """

    def __init__(
        self,
        root: Path,
        *,
        owner: str,
        repo: str,
        app_id: int,
        app_slug: str,
        installation_id: int,
        app_public_key: str | bytes | None,
        files: Mapping[str, str | bytes] | None,
        default_branch: str,
    ) -> None:
        if not BareRepository.valid_ref(f"refs/heads/{default_branch}"):
            raise ValueError(f"not a valid branch name: {default_branch!r}")
        self.owner = owner
        self.repo = repo
        self.app_id = app_id
        self.app_slug = app_slug
        self.installation_id = installation_id
        self.app_public_key = app_public_key
        self.actor = f"{app_slug}[bot]"  # who the API calls act as: the app's bot user
        self.git_dir = Path(root) / f"{repo}.git"
        self.default_branch = default_branch
        self.git = BareRepository(self.git_dir, initial_branch=default_branch)
        self.base_url: str | None = None  # where the API is served, once it is
        self.issued_tokens: list[str] = []
        self.job_tokens: dict[str, dict[str, str]] = {}  # a workflow job's GITHUB_TOKEN -> its permissions
        from tests.support.github.rest_oauth import OAuthApp  # it imports this module: here, not above

        self.oauth = OAuthApp()  # sign in with GitHub: the OAuth app and its people (rest_oauth.py)
        self.permissions: dict[str, str] = {}
        self.teams: dict[str, dict[str, str]] = {}  # team slug -> login -> membership state
        self.pulls: dict[int, PullRequestRecord] = {}
        self.issues: dict[int, IssueRecord] = {}  # plain issues; pulls and issues share numbers
        self.labels: dict[str, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.reactions: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.check_runs: list[dict[str, Any]] = []
        self.dispatches: list[dict[str, Any]] = []
        self.created_at = now()
        self._ids = iter(range(100_001, 10**9))
        self._next_issue_number = 1
        self._lock = threading.RLock()
        if self.branch_sha(default_branch) is None:
            catalog = importlib.resources.files("engine.data").joinpath("dbvend.yaml").read_bytes()
            seed = {"dbvend.yaml": catalog, "terraform/README.md": README, **(files or {})}
            self.commit(default_branch, seed, "Initial commit")
        # HEAD names the default branch, as on GitHub: `HEAD:terraform` and `HEAD` resolve there.
        self.git.git("symbolic-ref", "HEAD", f"refs/heads/{default_branch}")

    # -- where it is served -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base URL, ending in "/" (githubkit's base_url)."""
        if self.base_url is None:
            raise RuntimeError("GitHubServer.url: not started")
        return self.base_url

    @property
    def git_url(self) -> str:
        """The repository's git URL over smart HTTP (GitHub's https://github.com/<owner>/<repo>.git)."""
        return f"{self.url}{self.owner}/{self.repo}.git"

    @property
    def api(self) -> str:
        return f"{self.url}repos/{self.owner}/{self.repo}"

    @property
    def web(self) -> str:
        return f"{WEB}/{self.owner}/{self.repo}"

    @property
    def repository_id(self) -> int:
        """The repository's number: REST `id`, GraphQL `databaseId`, and `repository.id` in the
        webhook payloads tests.support.github_payloads builds for it."""
        return self.repository_id_of(self.owner)

    def repository_id_of(self, owner: str) -> int:
        return stable_id("repository", f"{owner}/{self.repo}")

    @property
    def bot_identity(self) -> tuple[str, str]:
        """The author of the commits the App makes through the API."""
        return self.actor, f"{self.app_id}+{self.actor}@users.noreply.github.com"

    # -- test controls ------------------------------------------------------------------------

    def job_token(self, permissions: Mapping[str, str]) -> str:
        """A workflow job's GITHUB_TOKEN holding `permissions` (its `permissions:` block, capped by
        the caller's): REST, GraphQL and git refuse what they do not grant
        (tests/support/github_permissions.py)."""
        levels = set(permissions.values()) - {"none"}
        if not levels <= {"read", "write"} or not set(permissions) <= set(github_permissions.SCOPES):
            raise ValueError(f"not a job's permissions: {dict(permissions)}")
        token = "ghs_job" + secrets.token_hex(16)
        with self._lock:
            self.job_tokens[token] = {k: v for k, v in permissions.items() if v != "none"}
        return token

    def set_permission(self, user: str, permission: str) -> None:
        """The role `user` has on the repository; unknown users have "read"."""
        if permission not in PERMISSIONS:
            raise ValueError(f"permission must be one of {PERMISSIONS}")
        with self._lock:
            self.permissions[user] = permission

    def add_team_member(self, team: str, user: str, state: str = "active") -> None:
        """`user` belongs to team `team` of the owner organisation (state active or pending)."""
        if state not in ("active", "pending"):
            raise ValueError("state must be active or pending")
        with self._lock:
            self.teams.setdefault(team, {})[user] = state

    def add_review(self, pr_number: int, user: str, state: str, body: str = "") -> dict[str, Any]:
        if state not in REVIEW_STATES:
            raise ValueError(f"state must be one of {REVIEW_STATES}")
        with self._lock:
            pull = self.pull(pr_number)
            review = {
                "id": self.new_id(),
                "pr_number": pr_number,
                "user": user,
                "state": state,
                "body": body,
                "commit_id": self.current_head_sha(pull),
                "submitted_at": now(),
            }
            self.reviews.append(review)
            return review

    def create_issue(
        self, title: str, body: str = "", user: str = "octocat", labels: tuple[str, ...] = ()
    ) -> int:
        """A plain issue opened by someone (e.g. an issue-form request); its number."""
        with self._lock:
            return self.open_issue(title, body, user, self.label_names(list(labels))).number

    def set_check(self, sha: str, name: str, conclusion: str | None, app: str = "github-actions") -> int:
        """A check run by another app (CI) on a commit; conclusion None means still in progress."""
        with self._lock:
            head_sha = self.git.resolve_commit(sha)
            if head_sha is None:
                raise ValueError(f"no commit {sha}")
            run = self.new_check_run(name, head_sha, app)
            run["status"] = "in_progress" if conclusion is None else "completed"
            run["conclusion"] = conclusion
            run["completed_at"] = None if conclusion is None else now()
            return int(run["id"])

    def set_mergeable(self, pr_number: int, mergeable: bool | None, state: str | None = None) -> None:
        """Override what GitHub computes: None is "not computed yet" (mergeable_state "unknown")."""
        if state is None:
            state = {True: "clean", False: "dirty", None: "unknown"}[mergeable]
        with self._lock:
            self.pull(pr_number).mergeable_override = (mergeable, state)

    def commit(
        self,
        branch: str,
        files: Mapping[str, str | bytes | None],
        message: str = "Update files",
        author: tuple[str, str] = PERSON,
    ) -> str:
        """Push one commit to a branch (made from the default branch when missing), as a person would;
        the new sha."""
        ref = f"refs/heads/{short_branch(branch)}"
        with self._lock:
            parent = self.git.ref_sha(ref) or self.branch_sha(self.default_branch)
            sha = self.git.commit_files(parent, as_bytes(files), message, author, committer=author)
            if not self.git.update_ref(ref, sha, self.git.ref_sha(ref) or ZERO_OID):
                raise GitCommandError(f"{ref} moved while committing")
            return sha

    def create_fork_pull(
        self,
        head_owner: str,
        branch: str,
        *,
        title: str,
        body: str,
        files: Mapping[str, str | bytes | None],
        user: str | None = None,
    ) -> int:
        """A pull request into the default branch from `branch` of the fork `<head_owner>/<repo>`,
        opened by `user` (default head_owner); its number. As on GitHub, the fork's commits live in
        this repository only as `refs/pull/<n>/head`: no branch appears here."""
        if head_owner.casefold() == self.owner.casefold():
            raise ValueError("a fork belongs to someone else: use commit() for this repository's branches")
        if not self.git.valid_ref(f"refs/heads/{branch}") or not files:
            raise ValueError("a fork pull request needs a valid branch name and at least one file")
        author = user or head_owner
        identity = (author, f"{author}@users.noreply.github.com")
        with self._lock:
            for pull in self.open_pulls():
                if pull.head_owner == head_owner and pull.head_ref == branch:
                    raise ValueError(f"A pull request already exists for {head_owner}:{branch}.")
            base = self.branch_sha(self.default_branch)
            sha = self.git.commit_files(base, as_bytes(files), title, identity, committer=identity)
            pull = self.open_pull(
                title, body, branch, self.default_branch, sha, author, head_owner=head_owner
            )
            self.git.update_ref(f"refs/pull/{pull.number}/head", sha, ZERO_OID)
            return pull.number

    def set_head_repository_deleted(self, pr_number: int) -> None:
        """The fork a pull request came from is deleted: its head.repo becomes null, the pull stays."""
        with self._lock:
            pull = self.pull(pr_number)
            if pull.head_owner is None:
                raise ValueError(f"pull request #{pr_number} is not from a fork")
            pull.head_repository_deleted = True

    # -- inspection ---------------------------------------------------------------------------

    def branches(self) -> dict[str, str]:
        """Branch name -> head sha."""
        return {short_branch(ref): sha for ref, sha in self.git.refs("refs/heads/").items()}

    def branch_sha(self, branch: str) -> str | None:
        return self.git.ref_sha(f"refs/heads/{short_branch(branch)}")

    def read_file(self, ref: str, path: str) -> str | None:
        """A file's text at a branch or commit, or None when absent."""
        oid = self.git.resolve(f"{ref}:{path}")
        if oid is None or self.git.object_type(oid) != "blob":
            return None
        return self.git.blob(oid).decode()

    def log(self, ref: str | None = None) -> list[str]:
        """`<sha> <subject>` of each commit reachable from ref (the default branch), newest first."""
        return self.git.log(ref or self.default_branch)

    def open_pulls(self) -> list[PullRequestRecord]:
        return [pull for pull in self.pulls.values() if pull.state == "open"]

    def comment_bodies(self, issue_number: int) -> list[str]:
        return [comment["body"] for comment in self.comments if comment["issue_number"] == issue_number]

    # -- the model the handlers change ----------------------------------------------------------

    def new_id(self) -> int:
        return next(self._ids)

    def _take_issue_number(self) -> int:
        number = self._next_issue_number
        self._next_issue_number += 1
        return number

    def open_issue(self, title: str, body: str | None, user: str, labels: list[str]) -> IssueRecord:
        """A new plain issue; issues and pull requests share one sequence of numbers."""
        issue = IssueRecord(self._take_issue_number(), title, body, user, now(), labels=labels)
        self.issues[issue.number] = issue
        return issue

    def open_pull(
        self,
        title: str,
        body: str | None,
        head_ref: str,
        base_ref: str,
        head_sha: str,
        user: str,
        draft: bool = False,
        head_owner: str | None = None,
    ) -> PullRequestRecord:
        """A new open pull request, numbered in the same sequence as issues."""
        number = self._take_issue_number()
        pull = PullRequestRecord(
            number, title, body, head_ref, base_ref, head_sha, user, draft, now(), head_owner=head_owner
        )
        self.pulls[number] = pull
        return pull

    def issue(self, number: int) -> PullRequestRecord | IssueRecord:
        """A pull request or a plain issue: the /issues/{number} endpoints take both."""
        found = self.pulls.get(number) or self.issues.get(number)
        if found is None:
            raise not_found()
        return found

    def pull(self, number: int) -> PullRequestRecord:
        pull = self.pulls.get(number)
        if pull is None:
            raise not_found()
        return pull

    def comment(self, comment_id: int) -> dict[str, Any]:
        for comment in self.comments:
            if comment["id"] == comment_id:
                return comment
        raise not_found()

    @staticmethod
    def head_ref(pull: PullRequestRecord) -> str:
        """Where a pull's head lives here: its branch, or for a fork's pull only `refs/pull/<n>/head`."""
        return f"refs/heads/{pull.head_ref}" if pull.head_owner is None else f"refs/pull/{pull.number}/head"

    def current_head_sha(self, pull: PullRequestRecord) -> str:
        """An open pull follows its head branch; a closed one keeps the last head it saw."""
        if pull.state == "open":
            pull.head_sha = self.git.ref_sha(self.head_ref(pull)) or pull.head_sha
        return pull.head_sha

    def change_state(self, item: PullRequestRecord | IssueRecord, state: str) -> None:
        """Open or close a pull request or an issue; a closed pull request keeps the head it had."""
        if isinstance(item, PullRequestRecord):
            self.current_head_sha(item)
        item.state, moment = state, now()
        item.closed_at = moment if state == "closed" else None
        item.updated_at = moment

    def mergeability(self, pull: PullRequestRecord) -> tuple[bool | None, str]:
        if pull.state != "open":
            return None, "unknown"
        if pull.mergeable_override is not None:
            return pull.mergeable_override
        base = self.branch_sha(pull.base_ref)
        if base is None or self.git.merge_tree(base, self.current_head_sha(pull)) is None:
            return False, "dirty"
        return True, "draft" if pull.draft else "clean"

    def label_names(self, given: list[Any]) -> list[str]:
        """Label names from a request body's `labels` (strings or {"name": ...}); unknown ones are created.
        A name that is not a non-empty string is a 422."""
        names: list[str] = []
        for item in given:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name.strip():
                raise validation_failed("Label", field="name", code="invalid")
            names.append(name)
        for name in names:
            if name not in self.labels:
                self.labels[name] = {
                    "id": self.new_id(),
                    "color": f"{zlib.crc32(name.encode()) & 0xFFFFFF:06x}",
                }
        return list(dict.fromkeys(names))

    def new_comment(self, number: int, user: str, body: str) -> dict[str, Any]:
        moment = now()
        comment = {
            "id": self.new_id(),
            "issue_number": number,
            "user": user,
            "body": body,
            "created_at": moment,
            "updated_at": moment,
        }
        self.comments.append(comment)
        return comment

    def new_check_run(self, name: str, head_sha: str, app: str) -> dict[str, Any]:
        run: dict[str, Any] = {
            "id": self.new_id(),
            "check_suite_id": crc_id(f"{app}/{head_sha}"),
            "app": app,
            "name": name,
            "head_sha": head_sha,
            "external_id": "",
            "details_url": None,
            "status": "queued",
            "conclusion": None,
            "started_at": now(),
            "completed_at": None,
            "output": {"title": None, "summary": None, "text": None},
            "annotations": [],
        }
        self.check_runs.append(run)
        return run

    def role(self, user: str) -> str:
        return self.permissions.get(user, "read")

    def association(self, user: str) -> str:
        if user.endswith("[bot]") or user not in self.permissions:
            return "NONE"
        return "MEMBER" if self.role(user) in ("write", "maintain", "admin") else "COLLABORATOR"

    def publish_pull_refs(self) -> None:
        """refs/pull/<n>/head of every open pull request at its head, as GitHub keeps them for git."""
        for pull in self.open_pulls():
            ref, sha = f"refs/pull/{pull.number}/head", self.current_head_sha(pull)
            current = self.git.ref_sha(ref)
            if current != sha:
                self.git.update_ref(ref, sha, current or ZERO_OID)
