"""A fake GitHub on a free loopback port: the REST and GraphQL subset dbvend's GitHub App uses.

Commits live in a real bare git repository written with plumbing only (hash-object, update-index on a
temporary index, write-tree, commit-tree, update-ref), so tests can check history with `git log`.
Responses follow GitHub's OpenAPI description closely enough that githubkit's models parse them.
GraphQL is not parsed: `query DbvendState`, `query DbvendClaims`, `query DbvendRepository`,
`mutation DbvendCommit` and `mutation DbvendBranch` are recognised by name and answered from their
variables. The default branch is `main` unless `default_branch=` says otherwise; the bare repository's
HEAD names it, so `HEAD:path` expressions resolve there. Pull requests from forks
(`create_fork_pull()`) keep their head under `refs/pull/<n>/head` only. Every request is recorded in
`calls`; faults (502, 403 + Retry-After, 429, ...) can be injected per method and path with `fail()`.

    with GitHubServer(tmp_path) as github:
        with GitHub(TokenAuthStrategy("t"), base_url=github.url, cache_strategy=MemCacheStrategy()) as gh:
            ...

A fresh MemCacheStrategy per client: githubkit's default cache is process-wide, so a JWT or an
installation token from another test's server would be reused. Inside `with`, githubkit keeps one
httpx client; outside, it builds one per call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import importlib.resources
import json
import os
import re
import secrets
import socket
import subprocess
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import uvicorn
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support import github_git_http, github_permissions
from tests.support.github_payloads import APP_PERMISSIONS, stable_id

HOST = "127.0.0.1"
DOCS_URL = "https://docs.github.com/rest"
DISPATCH_DOCS_URL = f"{DOCS_URL}/actions/workflows#create-a-workflow-dispatch-event"
WEB = "https://github.com"
ZERO_OID = "0" * 40
BAD_REF_CHARACTERS = frozenset(" ~^:?*[\\")
MAX_ANNOTATIONS = 50  # per create/update request, as GitHub documents
MAX_DISPATCH_INPUTS = 25
BLOB_TEXT_LIMIT = 512_000  # GraphQL Blob.text is cut here (bytes), with isTruncated: true
PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")
LEGACY_PERMISSION = {"triage": "read", "maintain": "write"}  # role_name -> the `permission` field
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
ANNOTATION_FIELDS = ("path", "start_line", "end_line", "annotation_level", "message")
INSTALLATION_PERMISSIONS = APP_PERMISSIONS  # what the manifest asks for
INSTALLATION_EVENTS = ["check_run", "issue_comment", "pull_request", "pull_request_review", "push"]
GRAPHQL_OPERATION = re.compile(r"\b(query|mutation)\s+(\w+)")
JWT_SHAPE = re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+$")
DEFAULT_FAULT_MESSAGES = {
    403: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    429: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stable_id(text: str, base: int = 1_000_000) -> int:
    return base + zlib.crc32(text.encode())


def _node_id(prefix: str, number: int) -> str:
    return f"{prefix}_kw{base64.b64encode(str(number).encode()).decode().rstrip('=')}"


def _operation_name(body: Mapping[str, Any]) -> str | None:
    """A GraphQL request's operation: its operationName, else the document's first `query X` or
    `mutation X` (the fake recognises operations by name; it does not parse documents)."""
    query = body.get("query")
    names = [match.group(2) for match in GRAPHQL_OPERATION.finditer(query if isinstance(query, str) else "")]
    return body.get("operationName") or (names[0] if names else None)


def _short_branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def _pull_database_id(number: int) -> int:
    return _stable_id(f"pull/{number}", 2_000_000_000)


def _asks(query: str, field_name: str) -> bool:
    """Whether a GraphQL document mentions a field; the fake does not parse queries, so extra fields
    are answered when their name appears anywhere (an answer with more fields than asked is harmless)."""
    return re.search(rf"\b{re.escape(field_name)}\b", query) is not None


class GitHubError(Exception):
    """An HTTP error answered in GitHub's shape: {"message", "documentation_url", "status"[, "errors"]}."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        documentation_url: str = DOCS_URL,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})
        self.documentation_url = documentation_url

    def response(self) -> Response:
        body: dict[str, Any] = {"message": self.message, "documentation_url": self.documentation_url}
        if self.errors is not None:
            body["errors"] = self.errors
        body["status"] = str(self.status)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class GraphQLForbidden(GitHubError):
    """A GraphQL operation the token may not do: GitHub answers 200, data null, a FORBIDDEN error."""

    def response(self) -> Response:
        error = {"type": "FORBIDDEN", "path": [], "locations": [], "message": self.message}
        return JSONResponse({"data": None, "errors": [error]})


def _validation_failed(resource: str, **error: Any) -> GitHubError:
    return GitHubError(422, "Validation Failed", [{"resource": resource, **error}])


class GitCommandError(RuntimeError):
    """A git command failed; carries its stderr."""


@dataclass
class Fault:
    """An injected failure: the next `remaining` requests matching method and path get this answer."""

    method: str
    path: re.Pattern[str]
    status: int
    remaining: int
    headers: dict[str, str]
    body: Any

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.method in ("*", method) and bool(self.path.fullmatch(path))

    def response(self) -> Response:
        self.remaining -= 1
        if self.status == 204:
            return Response(status_code=204, headers=self.headers)
        if isinstance(self.body, str | bytes):
            return Response(self.body, status_code=self.status, headers=self.headers)
        body = self.body
        if body is None:
            message = DEFAULT_FAULT_MESSAGES.get(self.status) or HTTPStatus(self.status).phrase
            body = {"message": message, "documentation_url": DOCS_URL, "status": str(self.status)}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: for asserting what the client sent."""

    method: str
    path: str
    query: str
    body: Any
    authorization: str | None


@dataclass
class PullRequestRecord:
    """The server's state for one pull request; `GitHubServer.pull_request(n)` gives the JSON."""

    number: int
    title: str
    body: str | None
    head_ref: str
    base_ref: str
    head_sha: str
    user: str
    draft: bool
    created_at: datetime
    state: str = "open"
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    mergeable_override: tuple[bool | None, str] | None = None
    head_owner: str | None = None  # the owner of the fork the head branch is on; None: this repository
    head_repository_deleted: bool = False  # the fork is gone: head.repo is null


@dataclass
class IssueRecord:
    """A plain issue (not a pull request): it takes comments, labels and reactions."""

    number: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    state: str = "open"
    updated_at: datetime | None = None
    labels: list[str] = field(default_factory=list)
    closed_at: datetime | None = None
    closed_by: str | None = None
    state_reason: str | None = None


@dataclass
class _Call:
    """What a handler needs from a request."""

    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: Any


class BareRepository:
    """A bare git repository changed only through plumbing, never a working tree."""

    def __init__(self, path: Path, initial_branch: str = "main") -> None:
        self.path = path
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(path),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "LC_ALL": "C",
        }
        if not (path / "HEAD").exists():
            path.mkdir(parents=True, exist_ok=True)
            self.git("init", "--quiet", "--bare", f"--initial-branch={initial_branch}", str(path))

    def git(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None, check: bool = True
    ) -> str:
        result = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=stdin,
            capture_output=True,
            env={**self.env, **(env or {})},
            check=False,
            timeout=30,
        )
        if check and result.returncode != 0:
            raise GitCommandError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode(errors="replace").strip()

    def succeeds(self, *args: str) -> bool:
        """Whether a git command exits 0 (for predicates such as check-ref-format, merge-base)."""
        command = ["git", "--git-dir", str(self.path), *args]
        return (
            subprocess.run(command, capture_output=True, env=self.env, check=False, timeout=30).returncode
            == 0
        )

    @staticmethod
    def valid_ref(ref: str) -> bool:
        """`git check-ref-format` rules, in Python: ref lookups are the hottest path."""
        parts = ref.split("/")
        return (
            ref.startswith("refs/")
            and len(parts) >= 3
            and not any(part == "" or part.startswith(".") or part.endswith(".lock") for part in parts)
            and not ref.endswith(".")
            and ".." not in ref
            and "@{" not in ref
            and not any(char in BAD_REF_CHARACTERS or ord(char) < 0x20 or ord(char) == 0x7F for char in ref)
        )

    def ref_sha(self, ref: str) -> str | None:
        """The commit a full ref name (refs/heads/x) points to, or None; no abbreviation or guessing."""
        if not self.valid_ref(ref):
            return None
        sha = self.git("show-ref", "--verify", "--hash", ref, check=False)
        return sha or None

    def resolve(self, expression: str) -> str | None:
        """The object a revision expression (main, a sha, main:dbvend.yaml) names, or None."""
        if not expression or expression.startswith("-") or "\n" in expression:
            return None
        return self.git("rev-parse", "--verify", "--quiet", expression, check=False) or None

    def resolve_commit(self, ref: str) -> str | None:
        return self.resolve(f"{ref}^{{commit}}") if self.resolve(ref) else None

    def object_type(self, oid: str) -> str:
        return self.git("cat-file", "-t", oid)

    def blob(self, oid: str) -> bytes:
        return subprocess.run(
            ["git", "--git-dir", str(self.path), "cat-file", "blob", oid],
            capture_output=True,
            env=self.env,
            check=True,
            timeout=30,
        ).stdout

    def tree_entries(self, treeish: str) -> list[tuple[str, str, str]]:
        """(type, oid, name) of each entry of a tree, e.g. `main:terraform`."""
        listing = self.git("ls-tree", "-z", treeish).split("\0")
        entries = []
        for line in filter(None, listing):
            meta, name = line.split("\t", 1)
            _mode, kind, oid = meta.split()
            entries.append((kind, oid, name))
        return entries

    def refs(self, prefix: str = "refs/heads/") -> dict[str, str]:
        listing = self.git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        return dict(line.split(" ", 1) for line in listing.splitlines())

    def update_ref(self, ref: str, new: str, old: str) -> bool:
        """Compare-and-swap: moves ref from old (ZERO_OID: must not exist) to new; False when it moved."""
        return self.succeeds("update-ref", ref, new, old)

    def delete_ref(self, ref: str) -> None:
        self.git("update-ref", "-d", ref)

    def commit_files(
        self,
        parent: str | None,
        changes: Mapping[str, bytes | None],
        message: str,
        author: tuple[str, str],
        committer: tuple[str, str] = ("GitHub", "noreply@github.com"),
    ) -> str:
        """One commit on top of parent: bytes add or replace a file, None deletes it."""
        lines = []
        for path, content in changes.items():
            if content is None:
                lines.append(f"0 {ZERO_OID}\t{path}")
            else:
                oid = self.git("hash-object", "-w", "--stdin", stdin=content)
                lines.append(f"100644 {oid}\t{path}")
        with tempfile.TemporaryDirectory(prefix="fake-github-index-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if parent is not None:
                self.git("read-tree", f"{parent}^{{tree}}", env=index)
            self.git("update-index", "--index-info", stdin="\n".join(lines).encode() + b"\n", env=index)
            tree = self.git("write-tree", env=index)
        return self.commit_tree(tree, [parent] if parent else [], message, author, committer)

    def commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: tuple[str, str],
        committer: tuple[str, str] = ("GitHub", "noreply@github.com"),
    ) -> str:
        identity = {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1],
        }
        parent_args = [arg for parent in parents for arg in ("-p", parent)]
        return self.git("commit-tree", tree, *parent_args, "-F", "-", stdin=message.encode(), env=identity)

    def merge_tree(self, base: str, head: str) -> str | None:
        """The tree of merging head into base, or None on conflicts (git merge-tree --write-tree)."""
        result = subprocess.run(
            ["git", "--git-dir", str(self.path), "merge-tree", "--write-tree", "--no-messages", base, head],
            capture_output=True,
            env=self.env,
            check=False,
            timeout=30,
        )
        if result.returncode == 1:
            return None
        if result.returncode != 0:
            raise GitCommandError(f"git merge-tree: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode().splitlines()[0]

    def count_commits(self, base: str, head: str) -> int:
        return int(self.git("rev-list", "--count", f"{base}..{head}"))

    def diff_stats(self, base: str, head: str) -> tuple[int, int, int]:
        """(additions, deletions, changed files) of head against its merge base with base."""
        additions = deletions = files = 0
        for line in self.git("diff", "--numstat", f"{base}...{head}").splitlines():
            added, deleted, _path = line.split("\t", 2)
            additions += int(added) if added != "-" else 0
            deletions += int(deleted) if deleted != "-" else 0
            files += 1
        return additions, deletions, files

    def log(self, ref: str) -> list[str]:
        return self.git("log", "--format=%H %s", ref).splitlines()


class _PromptServer(uvicorn.Server):
    """uvicorn polls should_exit every 0.1 s; this one wakes as soon as exit() is called."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        ticks = 0
        while not self.should_exit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            ticks += 1
            if await self.on_tick(ticks):
                break

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown sleeps a fixed 0.1 s; every handler here finishes in one step, so poll."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + 2
        while (self.server_state.connections or self.server_state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)

    def exit(self) -> None:
        self.should_exit = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)


class GitHubServer:
    """A fake api.github.com for one repository (owner/repo), served on 127.0.0.1 from a thread.

    Seeded with one commit on the default branch (`main` unless `default_branch`): dbvend.yaml (the
    packaged default catalog) and terraform/README.md, plus any `files` given. Start with `start()`
    or `with GitHubServer(...)`.
    With `app_public_key` (PEM), app JWTs are verified (RS256, iss == app_id) and only issued
    installation tokens are accepted; without it any well-formed JWT and any token pass.
    """

    def __init__(
        self,
        root: Path,
        owner: str = "acme",
        repo: str = "infra",
        *,
        app_id: int = 1234,
        app_slug: str = "dbvend",
        installation_id: int = 4242,
        app_public_key: str | bytes | None = None,
        files: Mapping[str, str | bytes] | None = None,
        default_branch: str = "main",
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
        self.calls: list[tuple[str, str]] = []
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[tuple[str, str]] = []  # requests no route answered (404)
        self.server_errors: list[str] = []  # tracebacks of handler crashes (answered 500)
        self.faults: list[Fault] = []
        self.issued_tokens: list[str] = []
        self.job_tokens: dict[str, dict[str, str]] = {}  # a workflow job's GITHUB_TOKEN -> its permissions
        self.git_requests: list[tuple[str, str, int]] = []  # (service, token's kind, status) per git request
        self._token: str | None = None  # the token of the request being answered
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
        self.created_at = _now()
        self._ids = iter(range(100_001, 10**9))
        self._next_issue_number = 1
        self._lock = threading.RLock()
        self._server: _PromptServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._routes = self._route_table()
        if self.branch_sha(default_branch) is None:
            self._seed(files or {})
        # HEAD names the default branch, as on GitHub: `HEAD:terraform` and `HEAD` resolve there.
        self.git.git("symbolic-ref", "HEAD", f"refs/heads/{default_branch}")

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> GitHubServer:
        if self._server is not None:
            raise RuntimeError("GitHubServer.start(): already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = _PromptServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-github", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake GitHub server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving; idempotent. The bare repository stays for inspection."""
        if self._server is not None:
            self._server.exit()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API base URL, ending in "/" (githubkit's base_url)."""
        if self._port is None:
            raise RuntimeError("GitHubServer.url: not started")
        return f"http://{HOST}:{self._port}/"

    @property
    def git_url(self) -> str:
        """The repository's git URL over smart HTTP (GitHub's https://github.com/<owner>/<repo>.git)."""
        return f"{self.url}{self.owner}/{self.repo}.git"

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

    # -- test controls ------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Fault:
        """Answer the next `times` requests whose path fully matches path_regex with `status`.

        method "*" matches any method. body: JSON-able value, or str/bytes sent as is; by default
        a GitHub error body. Faults apply before authentication and routing, GraphQL included.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = Fault(method.upper(), re.compile(path_regex), status, times, dict(headers or {}), body)
        with self._lock:
            self.faults.append(fault)
        return fault

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
            pull = self._pull(pr_number)
            review = {
                "id": next(self._ids),
                "pr_number": pr_number,
                "user": user,
                "state": state,
                "body": body,
                "commit_id": self._current_head_sha(pull),
                "submitted_at": _now(),
            }
            self.reviews.append(review)
            return review

    def create_issue(
        self, title: str, body: str = "", user: str = "octocat", labels: tuple[str, ...] = ()
    ) -> int:
        """A plain issue opened by someone (e.g. an issue-form request); its number."""
        with self._lock:
            number = self._take_issue_number()
            self.issues[number] = IssueRecord(
                number, title, body, user, _now(), labels=self._label_names(list(labels))
            )
            return number

    def add_comment(self, issue_number: int, user: str, body: str) -> dict[str, Any]:
        """A comment by someone else (a human typing a command) on a pull request or issue; its JSON."""
        with self._lock:
            self._issue(issue_number)
            return self._comment_json(self._new_comment(issue_number, user, body))

    def set_check(self, sha: str, name: str, conclusion: str | None, app: str = "github-actions") -> int:
        """A check run by another app (CI) on a commit; conclusion None means still in progress."""
        with self._lock:
            head_sha = self.git.resolve_commit(sha)
            if head_sha is None:
                raise ValueError(f"no commit {sha}")
            run = self._new_check_run(name, head_sha, app)
            run["status"] = "in_progress" if conclusion is None else "completed"
            run["conclusion"] = conclusion
            run["completed_at"] = None if conclusion is None else _now()
            return int(run["id"])

    def set_mergeable(self, pr_number: int, mergeable: bool | None, state: str | None = None) -> None:
        """Override what GitHub computes: None is "not computed yet" (mergeable_state "unknown")."""
        if state is None:
            state = {True: "clean", False: "dirty", None: "unknown"}[mergeable]
        with self._lock:
            self._pull(pr_number).mergeable_override = (mergeable, state)

    def commit(
        self,
        branch: str,
        files: Mapping[str, str | bytes | None],
        message: str = "Update files",
        author: tuple[str, str] = ("Octo Cat", "octocat@example.com"),
    ) -> str:
        """Push one commit to a branch (made from the default branch when missing), as a person would;
        the new sha."""
        ref = f"refs/heads/{_short_branch(branch)}"
        changes = {
            path: content.encode() if isinstance(content, str) else content for path, content in files.items()
        }
        with self._lock:
            parent = self.git.ref_sha(ref) or self.branch_sha(self.default_branch)
            sha = self.git.commit_files(parent, changes, message, author, committer=author)
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
        changes = {
            path: content.encode() if isinstance(content, str) else content for path, content in files.items()
        }
        with self._lock:
            for pull in self.open_pulls():
                if pull.head_owner == head_owner and pull.head_ref == branch:
                    raise ValueError(f"A pull request already exists for {head_owner}:{branch}.")
            base = self.branch_sha(self.default_branch)
            sha = self.git.commit_files(base, changes, title, identity, committer=identity)
            number = self._take_issue_number()
            self.git.update_ref(f"refs/pull/{number}/head", sha, ZERO_OID)
            self.pulls[number] = PullRequestRecord(
                number=number,
                title=title,
                body=body,
                head_ref=branch,
                base_ref=self.default_branch,
                head_sha=sha,
                user=author,
                draft=False,
                created_at=_now(),
                head_owner=head_owner,
            )
            return number

    def set_head_repository_deleted(self, pr_number: int) -> None:
        """The fork a pull request came from is deleted: its head.repo becomes null, the pull stays."""
        with self._lock:
            pull = self._pull(pr_number)
            if pull.head_owner is None:
                raise ValueError(f"pull request #{pr_number} is not from a fork")
            pull.head_repository_deleted = True

    # -- inspection ---------------------------------------------------------------------------

    def branches(self) -> dict[str, str]:
        """Branch name -> head sha."""
        return {_short_branch(ref): sha for ref, sha in self.git.refs("refs/heads/").items()}

    def branch_sha(self, branch: str) -> str | None:
        return self.git.ref_sha(f"refs/heads/{_short_branch(branch)}")

    def read_file(self, ref: str, path: str) -> str | None:
        """A file's text at a branch or commit, or None when absent."""
        oid = self.git.resolve(f"{ref}:{path}")
        if oid is None or self.git.object_type(oid) != "blob":
            return None
        return self.git.blob(oid).decode()

    def log(self, ref: str | None = None) -> list[str]:
        """`<sha> <subject>` of each commit reachable from ref (the default branch), newest first."""
        return self.git.log(ref or self.default_branch)

    def pull_request(self, number: int) -> dict[str, Any]:
        """The pull request as GET /pulls/{number} would return it."""
        with self._lock:
            return self._pull_json(self._pull(number))

    def open_pulls(self) -> list[PullRequestRecord]:
        return [pull for pull in self.pulls.values() if pull.state == "open"]

    def comment_bodies(self, issue_number: int) -> list[str]:
        return [comment["body"] for comment in self.comments if comment["issue_number"] == issue_number]

    def count(self, method: str, path_regex: str) -> int:
        """How many requests matched method ("*" for any) and the whole path."""
        pattern = re.compile(path_regex)
        return sum(1 for m, p in self.calls if method.upper() in ("*", m) and pattern.fullmatch(p))

    # -- HTTP plumbing ------------------------------------------------------------------------

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        raw_body = await request.body()
        git = github_git_http.GIT_PATH.match(scope["path"])
        if git is not None:
            headers = {name: value for name, value in request.headers.items()}
            with self._lock:
                self._publish_pull_refs()
                response = github_git_http.serve(
                    self.git_dir, request.method, git.group("rest"), request.url.query, headers, raw_body,
                    self._authorize_git,
                )  # fmt: skip
            await response(scope, receive, send)
            return
        response = self._respond(
            request.method, scope["path"], request.url.query, request.headers.get("authorization"), raw_body
        )
        await response(scope, receive, send)

    def _respond(self, method: str, path: str, query: str, authorization: str | None, raw: bytes) -> Response:
        with self._lock:
            body: Any = None
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = raw.decode(errors="replace")
            self.calls.append((method, path))
            self.requests.append(RecordedRequest(method, path, query, body, authorization))
            for fault in self.faults:
                if fault.matches(method, path):
                    return fault.response()
            try:
                self._authenticate(path, authorization)
                self._token = authorization.partition(" ")[2] if authorization else None
                if isinstance(body, str):
                    raise GitHubError(400, "Problems parsing JSON")
                return self._route(method, path, query, body)
            except GitHubError as error:
                return error.response()
            except Exception:
                self.server_errors.append(traceback.format_exc())
                return GitHubError(500, "fake GitHub crashed; see GitHubServer.server_errors").response()

    def _route(self, method: str, path: str, query: str, body: Any) -> Response:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None or route_method != method:
                continue
            params = {key: value for key, value in match.groupdict().items() if value is not None}
            if "owner" in params and (params["owner"].lower(), params["repo"].lower()) != (
                self.owner.lower(),
                self.repo.lower(),
            ):
                raise GitHubError(404, "Not Found")
            self._check_job_token(handler.__name__, params, body)
            return handler(_Call(method, path, params, QueryParams(query), body))
        self.unhandled.append((method, path))
        raise GitHubError(404, "Not Found")

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Callable[[_Call], Response]]]:
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        number = r"(?P<number>\d+)"
        table: list[tuple[str, str, Callable[[_Call], Response]]] = [
            ("POST", r"/app/installations/(?P<installation_id>\d+)/access_tokens", self._create_token),
            ("GET", repo + "/installation", self._get_installation),
            ("GET", repo, self._get_repository),
            ("GET", repo + "/git/ref/(?P<ref>.+)", self._get_ref),
            ("POST", repo + "/git/refs", self._create_ref),
            ("DELETE", repo + "/git/refs/(?P<ref>.+)", self._delete_ref),
            ("GET", repo + "/contents(?:/(?P<path>.*))?", self._get_content),
            ("POST", repo + "/pulls", self._create_pull),
            ("GET", repo + "/pulls", self._list_pulls),
            ("GET", repo + f"/pulls/{number}", self._get_pull),
            ("PATCH", repo + f"/pulls/{number}", self._update_pull),
            ("PUT", repo + f"/pulls/{number}/merge", self._merge_pull),
            ("GET", repo + f"/pulls/{number}/reviews", self._list_reviews),
            ("POST", repo + "/issues", self._create_issue),
            ("GET", repo + "/issues", self._list_issues),
            ("GET", repo + f"/issues/{number}", self._get_issue),
            ("PATCH", repo + f"/issues/{number}", self._update_issue),
            ("POST", repo + f"/issues/{number}/labels", self._add_labels),
            ("POST", repo + f"/issues/{number}/comments", self._create_comment),
            ("GET", repo + f"/issues/{number}/comments", self._list_comments),
            ("PATCH", repo + r"/issues/comments/(?P<comment_id>\d+)", self._update_comment),
            ("DELETE", repo + r"/issues/comments/(?P<comment_id>\d+)", self._delete_comment),
            ("POST", repo + r"/issues/comments/(?P<comment_id>\d+)/reactions", self._create_reaction),
            ("GET", repo + "/collaborators/(?P<username>[^/]+)/permission", self._get_permission),
            (
                "GET",
                r"/orgs/(?P<org>[^/]+)/teams/(?P<team>[^/]+)/memberships/(?P<username>[^/]+)",
                self._get_team_membership,
            ),
            ("POST", repo + "/check-runs", self._create_check_run),
            ("PATCH", repo + r"/check-runs/(?P<check_run_id>\d+)", self._update_check_run),
            ("GET", repo + "/commits/(?P<ref>.+)/check-runs", self._list_check_runs),
            ("POST", repo + "/actions/workflows/(?P<workflow_id>[^/]+)/dispatches", self._dispatch_workflow),
            ("POST", "/graphql", self._graphql),
        ]
        return [(method, re.compile(pattern), handler) for method, pattern, handler in table]

    # -- authentication -----------------------------------------------------------------------

    def _authenticate(self, path: str, authorization: str | None) -> None:
        """App endpoints take the app's JWT; everything else an installation token (or any token)."""
        if not authorization:
            raise GitHubError(401, "Requires authentication")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not credential:
            raise GitHubError(401, "Bad credentials")
        app_endpoint = path.startswith("/app/") or bool(
            re.fullmatch(r"/repos/[^/]+/[^/]+/installation", path)
        )
        if app_endpoint:
            self._verify_jwt(credential)
        elif JWT_SHAPE.match(credential):
            raise GitHubError(401, "Bad credentials")  # a JWT only authenticates the app's own endpoints
        elif self.app_public_key is not None and credential not in (*self.issued_tokens, *self.job_tokens):
            raise GitHubError(401, "Bad credentials")

    def _check_job_token(self, handler: str, params: dict[str, str], body: Any) -> None:
        """A job's GITHUB_TOKEN does only what its permissions grant: 403 otherwise, as GitHub answers."""
        granted = self.job_tokens.get(self._token or "")
        if granted is None:
            return  # the App's installation tokens hold what the App was granted
        if handler in github_permissions.ON_ISSUE_OR_PULL:
            number = params.get("number")
            if number is None:
                found = [c for c in self.comments if str(c["id"]) == params.get("comment_id")]
                number = str(found[0]["issue_number"]) if found else None
            need = github_permissions.issue_or_pull(handler, number is not None and int(number) in self.pulls)
        elif handler == "_graphql":
            name = _operation_name(body if isinstance(body, dict) else {})
            need = github_permissions.GRAPHQL.get(name or "", (("contents", "write"),))
            if not github_permissions.allows(granted, need):
                raise GraphQLForbidden(200, github_permissions.NOT_ACCESSIBLE)
        else:
            need = github_permissions.ROUTES[handler]
        if not github_permissions.allows(granted, need):
            raise GitHubError(403, github_permissions.NOT_ACCESSIBLE)

    def _publish_pull_refs(self) -> None:
        """refs/pull/<n>/head of every open pull request at its head, as GitHub keeps them for git."""
        for pull in self.open_pulls():
            ref, sha = f"refs/pull/{pull.number}/head", self._current_head_sha(pull)
            current = self.git.ref_sha(ref)
            if current != sha:
                self.git.update_ref(ref, sha, current or ZERO_OID)

    def _authorize_git(self, token: str | None, service: str) -> str | None:
        """A git request's refusal ("401", or GitHub's 403 message), or None to serve it."""
        kind = "none" if token is None else "job" if token in self.job_tokens else "other"
        refusal: str | None = None
        if token is None:
            refusal = "401"
        elif kind == "job":
            if not github_permissions.allows(self.job_tokens[token], github_permissions.GIT[service]):
                refusal = f"Permission to {self.owner}/{self.repo}.git denied to github-actions[bot]."
        elif self.app_public_key is not None and token not in self.issued_tokens:
            refusal = "401"
        self.git_requests.append(
            (service, kind, 200 if refusal is None else 401 if refusal == "401" else 403)
        )
        return refusal

    def _verify_jwt(self, token: str) -> None:
        undecodable = GitHubError(401, "A JSON web token could not be decoded")
        try:
            if jwt.get_unverified_header(token).get("alg") != "RS256":
                raise undecodable
            if self.app_public_key is None:
                claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": True})
            else:
                claims = jwt.decode(token, self.app_public_key, algorithms=["RS256"], leeway=60)
        except jwt.PyJWTError as error:
            raise undecodable from error
        for claim in ("iat", "exp", "iss"):
            if claim not in claims:
                raise GitHubError(401, f"Missing '{claim}' claim in the JWT")
        if claims["exp"] - time.time() > 600 + 60:
            raise GitHubError(401, "'Expiration time' claim ('exp') is too far in the future")
        if self.app_public_key is not None and str(claims["iss"]) != str(self.app_id):
            raise GitHubError(401, "Integration not found")  # a JWT for another app

    # -- JSON shapes --------------------------------------------------------------------------

    @property
    def _api(self) -> str:
        return f"{self.url}repos/{self.owner}/{self.repo}"

    @property
    def _web(self) -> str:
        return f"{WEB}/{self.owner}/{self.repo}"

    def _user_json(self, login: str, kind: str | None = None) -> dict[str, Any]:
        kind = kind or ("Bot" if login.endswith("[bot]") else "User")
        user_id = _stable_id(login)
        api = f"{self.url}users/{quote(login)}"
        return {
            "login": login,
            "id": user_id,
            "node_id": _node_id("U", user_id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{WEB}/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": kind,
            "user_view_type": "public",
            "site_admin": False,
        }

    @property
    def repository_id(self) -> int:
        """The repository's number: REST `id`, GraphQL `databaseId`, and `repository.id` in the
        webhook payloads tests.support.github_payloads builds for it."""
        return self._repository_id_of(self.owner)

    def _repository_id_of(self, owner: str) -> int:
        return stable_id("repository", f"{owner}/{self.repo}")

    def _repository_json(self, owner: str | None = None) -> dict[str, Any]:
        """The `repository` schema (as in pull request heads and bases); with another `owner`, that
        user's fork of this repository (a fork of a private repository is private too)."""
        owner = owner or self.owner
        fork = owner.casefold() != self.owner.casefold()
        api, web = f"{self.url}repos/{owner}/{self.repo}", f"{WEB}/{owner}/{self.repo}"
        repo_id = self._repository_id_of(owner)
        open_issues = 0 if fork else len(self.open_pulls())
        pushed = max(
            (pull.updated_at or pull.created_at for pull in self.pulls.values()), default=self.created_at
        )
        return {
            "id": repo_id,
            "node_id": _node_id("R", repo_id),
            "name": self.repo,
            "full_name": f"{owner}/{self.repo}",
            "private": True,
            "owner": self._user_json(owner, "User" if fork else "Organization"),
            "html_url": web,
            "description": "Infrastructure as code",
            "fork": fork,
            "url": api,
            "archive_url": f"{api}/{{archive_format}}{{/ref}}",
            "assignees_url": f"{api}/assignees{{/user}}",
            "blobs_url": f"{api}/git/blobs{{/sha}}",
            "branches_url": f"{api}/branches{{/branch}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}",
            "comments_url": f"{api}/comments{{/number}}",
            "commits_url": f"{api}/commits{{/sha}}",
            "compare_url": f"{api}/compare/{{base}}...{{head}}",
            "contents_url": f"{api}/contents/{{+path}}",
            "contributors_url": f"{api}/contributors",
            "deployments_url": f"{api}/deployments",
            "downloads_url": f"{api}/downloads",
            "events_url": f"{api}/events",
            "forks_url": f"{api}/forks",
            "git_commits_url": f"{api}/git/commits{{/sha}}",
            "git_refs_url": f"{api}/git/refs{{/sha}}",
            "git_tags_url": f"{api}/git/tags{{/sha}}",
            "git_url": f"git://github.com/{owner}/{self.repo}.git",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "issue_events_url": f"{api}/issues/events{{/number}}",
            "issues_url": f"{api}/issues{{/number}}",
            "keys_url": f"{api}/keys{{/key_id}}",
            "labels_url": f"{api}/labels{{/name}}",
            "languages_url": f"{api}/languages",
            "merges_url": f"{api}/merges",
            "milestones_url": f"{api}/milestones{{/number}}",
            "notifications_url": f"{api}/notifications{{?since,all,participating}}",
            "pulls_url": f"{api}/pulls{{/number}}",
            "releases_url": f"{api}/releases{{/id}}",
            "ssh_url": f"git@github.com:{owner}/{self.repo}.git",
            "stargazers_url": f"{api}/stargazers",
            "statuses_url": f"{api}/statuses/{{sha}}",
            "subscribers_url": f"{api}/subscribers",
            "subscription_url": f"{api}/subscription",
            "tags_url": f"{api}/tags",
            "teams_url": f"{api}/teams",
            "trees_url": f"{api}/git/trees{{/sha}}",
            "clone_url": f"{web}.git",
            "mirror_url": None,
            "hooks_url": f"{api}/hooks",
            "svn_url": web,
            "homepage": None,
            "language": "HCL",
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "size": 0,
            "default_branch": self.default_branch,
            "open_issues_count": open_issues,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private",
            "pushed_at": _iso(pushed),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(pushed),
            "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": False,
            "allow_auto_merge": False,
            "delete_branch_on_merge": False,
            "allow_forking": False,
            "web_commit_signoff_required": False,
            "license": None,
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
        }

    def _full_repository_json(self) -> dict[str, Any]:
        return {
            **self._repository_json(),
            "subscribers_count": 0,
            "network_count": 0,
            "organization": self._user_json(self.owner, "Organization"),
            "security_and_analysis": None,
        }

    def _integration_json(self, slug: str) -> dict[str, Any]:
        app_id = self.app_id if slug == self.app_slug else _stable_id(slug, 10_000)
        return {
            "id": app_id,
            "slug": slug,
            "node_id": _node_id("A", app_id),
            "client_id": f"Iv1.{app_id:016x}",
            "owner": self._user_json(self.owner, "Organization"),
            "name": slug,
            "description": None,
            "external_url": f"{WEB}/apps/{slug}",
            "html_url": f"{WEB}/apps/{slug}",
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.created_at),
            "permissions": INSTALLATION_PERMISSIONS,
            "events": INSTALLATION_EVENTS,
        }

    def _label_json(self, name: str) -> dict[str, Any]:
        label = self.labels[name]
        return {
            "id": label["id"],
            "node_id": _node_id("LA", label["id"]),
            "url": f"{self._api}/labels/{quote(name)}",
            "name": name,
            "description": None,
            "color": label["color"],
            "default": False,
            "archived_at": None,
            "archived_by": None,
        }

    def _ref_json(self, ref: str, sha: str) -> dict[str, Any]:
        return {
            "ref": ref,
            "node_id": _node_id("REF", zlib.crc32(ref.encode())),
            "url": f"{self._api}/git/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{self._api}/git/commits/{sha}"},
        }

    # -- seed ---------------------------------------------------------------------------------

    def _seed(self, files: Mapping[str, str | bytes]) -> None:
        catalog = importlib.resources.files("engine.data").joinpath("dbvend.yaml").read_bytes()
        readme = b"# Terraform\n\ndbvend writes one directory per database claim under terraform/.\n"
        seed: dict[str, bytes | None] = {"dbvend.yaml": catalog, "terraform/README.md": readme}
        seed.update(
            {
                path: content.encode() if isinstance(content, str) else content
                for path, content in files.items()
            }
        )
        author = ("Octo Cat", "octocat@example.com")
        sha = self.git.commit_files(None, seed, "Initial commit", author, committer=author)
        self.git.update_ref(f"refs/heads/{self.default_branch}", sha, ZERO_OID)

    # -- apps ---------------------------------------------------------------------------------

    def _create_token(self, call: _Call) -> Response:
        """POST /app/installations/{installation_id}/access_tokens"""
        if int(call.params["installation_id"]) != self.installation_id:
            raise GitHubError(404, "Not Found")
        body = call.body or {}
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "B")[:36]
        self.issued_tokens.append(token)
        result: dict[str, Any] = {
            "token": token,
            "expires_at": _iso(_now() + timedelta(hours=1)),
            "permissions": body.get("permissions") or INSTALLATION_PERMISSIONS,
            "repository_selection": "all",
        }
        if body.get("repositories"):
            result["repository_selection"] = "selected"
            result["repositories"] = [self._repository_json()]
        return JSONResponse(result, status_code=201)

    def _get_installation(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/installation"""
        iid = self.installation_id
        return JSONResponse(
            {
                "id": iid,
                "client_id": f"Iv1.{self.app_id:016x}",
                "account": self._user_json(self.owner, "Organization"),
                "repository_selection": "all",
                "access_tokens_url": f"{self.url}app/installations/{iid}/access_tokens",
                "repositories_url": f"{self.url}installation/repositories",
                "html_url": f"{WEB}/organizations/{self.owner}/settings/installations/{iid}",
                "app_id": self.app_id,
                "app_slug": self.app_slug,
                "target_id": _stable_id(self.owner),
                "target_type": "Organization",
                "permissions": INSTALLATION_PERMISSIONS,
                "events": INSTALLATION_EVENTS,
                "created_at": _iso(self.created_at),
                "updated_at": _iso(self.created_at),
                "single_file_name": None,
                "has_multiple_single_files": False,
                "single_file_paths": [],
                "suspended_by": None,
                "suspended_at": None,
            }
        )

    # -- repository, refs, contents -----------------------------------------------------------

    def _get_repository(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}"""
        return JSONResponse(self._full_repository_json())

    def _get_ref(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/git/ref/{ref}: exact matches only."""
        ref = "refs/" + call.params["ref"]
        sha = self.git.ref_sha(ref)
        if sha is None:
            raise GitHubError(404, "Not Found")
        return JSONResponse(self._ref_json(ref, sha))

    def _create_ref(self, call: _Call) -> Response:
        """POST /repos/{owner}/{repo}/git/refs {ref, sha}"""
        body = call.body if isinstance(call.body, dict) else {}
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not isinstance(sha, str):
            raise GitHubError(422, 'Invalid request.\n\n"ref", "sha" weren\'t supplied.')
        if not self.git.valid_ref(ref):
            raise GitHubError(422, "Reference name is invalid")
        commit = self.git.resolve_commit(sha) if re.fullmatch(r"[0-9a-f]{40}", sha) else None
        if commit is None:
            raise GitHubError(422, "Object does not exist")
        if not self.git.update_ref(ref, commit, ZERO_OID):
            raise GitHubError(422, "Reference already exists")
        location = f"{self._api}/git/{ref}"
        return JSONResponse(self._ref_json(ref, commit), status_code=201, headers={"Location": location})

    def _delete_ref(self, call: _Call) -> Response:
        """DELETE /repos/{owner}/{repo}/git/refs/{ref}; deleting a head branch closes its open pulls."""
        ref = "refs/" + call.params["ref"]
        if self.git.ref_sha(ref) is None:
            raise GitHubError(422, "Reference does not exist")
        if ref == f"refs/heads/{self.default_branch}":
            raise GitHubError(422, "Cannot delete the default branch")
        for pull in self.open_pulls():
            if self._head_ref(pull) == ref:
                self._current_head_sha(pull)
                pull.state, pull.closed_at, pull.updated_at = "closed", _now(), _now()
        self.git.delete_ref(ref)
        return Response(status_code=204)

    def _get_content(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/contents/{path}?ref= : a file (base64) or a directory listing."""
        ref = call.query.get("ref") or self.default_branch
        path = call.params.get("path", "").strip("/")
        commit = self.git.resolve_commit(ref)
        if commit is None:
            raise GitHubError(404, f"No commit found for the ref {ref}")
        oid = self.git.resolve(f"{commit}:{path}")
        if oid is None:
            raise GitHubError(404, "Not Found")
        if self.git.object_type(oid) == "tree":
            entries = self.git.tree_entries(f"{commit}:{path}")
            listing = [
                self._content_entry(
                    ref, f"{path}/{name}".lstrip("/"), entry_oid, "dir" if kind == "tree" else "file"
                )
                for kind, entry_oid, name in entries
            ]
            return JSONResponse(listing)
        data = self.git.blob(oid)
        encoded = base64.b64encode(data).decode()
        content = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
        return JSONResponse(
            {
                **self._content_entry(ref, path, oid, "file", len(data)),
                "content": content,
                "encoding": "base64",
            }
        )

    def _content_entry(self, ref: str, path: str, oid: str, kind: str, size: int = 0) -> dict[str, Any]:
        url = f"{self._api}/contents/{quote(path)}?ref={quote(ref, safe='')}"
        git_url = f"{self._api}/git/{'trees' if kind == 'dir' else 'blobs'}/{oid}"
        html_url = f"{self._web}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
        return {
            "type": kind,
            "size": size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": oid,
            "url": url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": None
            if kind == "dir"
            else f"https://raw.githubusercontent.com/{self.owner}/{self.repo}/{ref}/{path}",
            "_links": {"self": url, "git": git_url, "html": html_url},
        }

    # -- pull requests ------------------------------------------------------------------------

    def _take_issue_number(self) -> int:
        number = self._next_issue_number
        self._next_issue_number += 1
        return number

    def _issue(self, number: int) -> PullRequestRecord | IssueRecord:
        """A pull request or a plain issue: the /issues/{number} endpoints take both."""
        found = self.pulls.get(number) or self.issues.get(number)
        if found is None:
            raise GitHubError(404, "Not Found")
        return found

    def _pull(self, number: int) -> PullRequestRecord:
        pull = self.pulls.get(number)
        if pull is None:
            raise GitHubError(404, "Not Found")
        return pull

    @staticmethod
    def _head_ref(pull: PullRequestRecord) -> str:
        """Where a pull's head lives here: its branch, or for a fork's pull only `refs/pull/<n>/head`."""
        return f"refs/heads/{pull.head_ref}" if pull.head_owner is None else f"refs/pull/{pull.number}/head"

    def _current_head_sha(self, pull: PullRequestRecord) -> str:
        """An open pull follows its head branch; a closed one keeps the last head it saw."""
        if pull.state == "open":
            pull.head_sha = self.git.ref_sha(self._head_ref(pull)) or pull.head_sha
        return pull.head_sha

    def _head_json(self, pull: PullRequestRecord, sha: str) -> dict[str, Any]:
        """A pull's `head`: a fork's carries its owner and repository (null once the fork is deleted)."""
        owner = pull.head_owner or self.owner
        return {
            "label": f"{owner}:{pull.head_ref}",
            "ref": pull.head_ref,
            "sha": sha,
            "user": self._user_json(owner, "Organization" if pull.head_owner is None else None),
            "repo": None if pull.head_repository_deleted else self._repository_json(owner),
        }

    def _head_filter_matches(self, pull: PullRequestRecord, head: str) -> bool:
        """REST `?head=user:ref` (a bare ref means this repository's owner): GitHub matches the owner
        too, so a fork's pull with the same branch name is not listed (unlike GraphQL headRefName)."""
        owner, _, ref = head.rpartition(":")
        return (owner or self.owner).casefold() == (pull.head_owner or self.owner).casefold() and (
            ref == pull.head_ref
        )

    def _mergeability(self, pull: PullRequestRecord) -> tuple[bool | None, str]:
        if pull.state != "open":
            return None, "unknown"
        if pull.mergeable_override is not None:
            return pull.mergeable_override
        base = self.branch_sha(pull.base_ref)
        if base is None or self.git.merge_tree(base, self._current_head_sha(pull)) is None:
            return False, "dirty"
        return True, "draft" if pull.draft else "clean"

    def _pull_json(self, pull: PullRequestRecord, simple: bool = False) -> dict[str, Any]:
        api, number = self._api, pull.number
        head_sha = self._current_head_sha(pull)
        base_sha = self.branch_sha(pull.base_ref) or head_sha
        pull_id = _pull_database_id(number)
        owner = self._user_json(self.owner, "Organization")
        repository = self._repository_json()
        data: dict[str, Any] = {
            "url": f"{api}/pulls/{number}",
            "id": pull_id,
            "node_id": _node_id("PR", pull_id),
            "html_url": f"{self._web}/pull/{number}",
            "diff_url": f"{self._web}/pull/{number}.diff",
            "patch_url": f"{self._web}/pull/{number}.patch",
            "issue_url": f"{api}/issues/{number}",
            "commits_url": f"{api}/pulls/{number}/commits",
            "review_comments_url": f"{api}/pulls/{number}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{number}/comments",
            "statuses_url": f"{api}/statuses/{head_sha}",
            "number": number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self._user_json(pull.user),
            "body": pull.body,
            "labels": [self._label_json(name) for name in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(pull.created_at),
            "updated_at": _iso(pull.updated_at or pull.created_at),
            "closed_at": _iso(pull.closed_at),
            "merged_at": _iso(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._head_json(pull, head_sha),
            "base": {
                "label": f"{self.owner}:{pull.base_ref}",
                "ref": pull.base_ref,
                "sha": base_sha,
                "user": owner,
                "repo": repository,
            },
            "_links": {
                "self": {"href": f"{api}/pulls/{number}"},
                "html": {"href": f"{self._web}/pull/{number}"},
                "issue": {"href": f"{api}/issues/{number}"},
                "comments": {"href": f"{api}/issues/{number}/comments"},
                "review_comments": {"href": f"{api}/pulls/{number}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{api}/pulls/{number}/commits"},
                "statuses": {"href": f"{api}/statuses/{head_sha}"},
            },
            "author_association": self._association(pull.user),
            "auto_merge": None,
            "draft": pull.draft,
        }
        if simple:
            return data
        mergeable, mergeable_state = self._mergeability(pull)
        additions, deletions, changed_files = self.git.diff_stats(base_sha, head_sha)
        return {
            **data,
            "merged": pull.merged_at is not None,
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": mergeable_state,
            "merged_by": None if pull.merged_by is None else self._user_json(pull.merged_by),
            "comments": len(self.comment_bodies(number)),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": self.git.count_commits(base_sha, head_sha) if pull.merged_at is None else 1,
            "additions": additions,
            "deletions": deletions,
            "changed_files": changed_files,
        }

    def _create_pull(self, call: _Call) -> Response:
        """POST /repos/{owner}/{repo}/pulls {title, head, base, body, draft}"""
        body = call.body if isinstance(call.body, dict) else {}
        for name in ("title", "head", "base"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise _validation_failed("PullRequest", field=name, code="missing_field")
        head_ref = body["head"].split(":", 1)[1] if ":" in body["head"] else body["head"]
        if ":" in body["head"] and body["head"].split(":", 1)[0].lower() != self.owner.lower():
            raise _validation_failed("PullRequest", field="head", code="invalid")
        head_sha, base_sha = self.branch_sha(head_ref), self.branch_sha(body["base"])
        if head_sha is None:
            raise _validation_failed("PullRequest", field="head", code="invalid")
        if base_sha is None:
            raise _validation_failed("PullRequest", field="base", code="invalid")
        for pull in self.open_pulls():
            if pull.head_owner is None and pull.head_ref == head_ref and pull.base_ref == body["base"]:
                message = f"A pull request already exists for {self.owner}:{head_ref}."
                raise _validation_failed("PullRequest", code="custom", message=message)
        if self.git.count_commits(base_sha, head_sha) == 0:
            message = f"No commits between {body['base']} and {head_ref}"
            raise _validation_failed("PullRequest", code="custom", message=message)
        number = self._take_issue_number()
        pull = PullRequestRecord(
            number=number,
            title=body["title"],
            body=body.get("body"),
            head_ref=head_ref,
            base_ref=body["base"],
            head_sha=head_sha,
            user=self.actor,
            draft=bool(body.get("draft", False)),
            created_at=_now(),
        )
        self.pulls[number] = pull
        return JSONResponse(
            self._pull_json(pull), status_code=201, headers={"Location": f"{self._api}/pulls/{number}"}
        )

    def _list_pulls(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/pulls?state=&head=owner:branch&base= (newest first)"""
        state = call.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _validation_failed("PullRequest", field="state", code="invalid")
        head = call.query.get("head")
        base = call.query.get("base")
        pulls = sorted(self.pulls.values(), key=lambda pull: pull.number, reverse=True)
        if call.query.get("direction") == "asc":
            pulls.reverse()
        selected = []
        for pull in pulls:
            if state != "all" and pull.state != state:
                continue
            if head is not None and not self._head_filter_matches(pull, head):
                continue
            if base is not None and pull.base_ref != base:
                continue
            selected.append(self._pull_json(pull, simple=True))
        return self._page(call, selected)

    def _get_pull(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/pulls/{number}"""
        return JSONResponse(self._pull_json(self._pull(int(call.params["number"]))))

    def _update_pull(self, call: _Call) -> Response:
        """PATCH /repos/{owner}/{repo}/pulls/{number} {title, body, state, base}"""
        pull = self._pull(int(call.params["number"]))
        body = call.body if isinstance(call.body, dict) else {}
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                raise _validation_failed("PullRequest", field="state", code="invalid")
            if body["state"] == "open" and pull.merged_at is not None:
                raise _validation_failed(
                    "PullRequest", code="custom", message="Cannot reopen a merged pull request"
                )
            if body["state"] != pull.state:
                self._current_head_sha(pull)
                pull.state = body["state"]
                pull.closed_at = _now() if pull.state == "closed" else None
        if "title" in body:
            pull.title = body["title"]
        if "body" in body:
            pull.body = body["body"]
        if "base" in body:
            if self.branch_sha(body["base"]) is None:
                raise _validation_failed("PullRequest", field="base", code="invalid")
            pull.base_ref = body["base"]
        pull.updated_at = _now()
        return JSONResponse(self._pull_json(pull))

    def _merge_pull(self, call: _Call) -> Response:
        """PUT /repos/{owner}/{repo}/pulls/{number}/merge: a real merge (or squash) commit on the base."""
        pull = self._pull(int(call.params["number"]))
        body = call.body if isinstance(call.body, dict) else {}
        method = body.get("merge_method", "merge")
        if method == "rebase":
            raise GitHubError(405, "Rebase merges are not allowed on this repository.")
        if method not in ("merge", "squash"):
            raise _validation_failed("PullRequest", field="merge_method", code="invalid")
        mergeable, _state = self._mergeability(pull)
        if pull.state != "open" or mergeable is not True:
            raise GitHubError(405, "Pull Request is not mergeable")
        head_sha = self._current_head_sha(pull)
        if body.get("sha") not in (None, head_sha):
            raise GitHubError(409, "Head branch was modified. Review and try the merge again.")
        base_ref = f"refs/heads/{pull.base_ref}"
        base_sha = self.git.ref_sha(base_ref)
        tree = None if base_sha is None else self.git.merge_tree(base_sha, head_sha)
        if base_sha is None or tree is None:
            raise GitHubError(405, "Pull Request is not mergeable")
        if method == "merge":
            title = (
                body.get("commit_title")
                or f"Merge pull request #{pull.number} from {pull.head_owner or self.owner}/{pull.head_ref}"
            )
            message = body.get("commit_message", pull.title)
            parents = [base_sha, head_sha]
        else:
            title = body.get("commit_title") or f"{pull.title} (#{pull.number})"
            message = body.get("commit_message") or self.git.git(
                "log", "--reverse", "--format=* %s", f"{base_sha}..{head_sha}"
            )
            parents = [base_sha]
        author = (self.actor, f"{self.app_id}+{self.actor}@users.noreply.github.com")
        full_message = f"{title}\n\n{message}".rstrip() + "\n"
        sha = self.git.commit_tree(tree, parents, full_message, author)
        if not self.git.update_ref(base_ref, sha, base_sha):
            raise GitHubError(409, "Base branch was modified. Review and try the merge again.")
        now = _now()
        pull.state, pull.closed_at, pull.merged_at, pull.updated_at = "closed", now, now, now
        pull.merged_by, pull.merge_commit_sha = self.actor, sha
        return JSONResponse({"sha": sha, "merged": True, "message": "Pull Request successfully merged"})

    def _list_reviews(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/pulls/{number}/reviews (oldest first)"""
        number = int(call.params["number"])
        self._pull(number)
        reviews = [self._review_json(review) for review in self.reviews if review["pr_number"] == number]
        return self._page(call, reviews)

    def _review_json(self, review: dict[str, Any]) -> dict[str, Any]:
        number = review["pr_number"]
        html = f"{self._web}/pull/{number}#pullrequestreview-{review['id']}"
        return {
            "id": review["id"],
            "node_id": _node_id("PRR", review["id"]),
            "user": self._user_json(review["user"]),
            "body": review["body"],
            "state": review["state"],
            "html_url": html,
            "pull_request_url": f"{self._api}/pulls/{number}",
            "_links": {"html": {"href": html}, "pull_request": {"href": f"{self._api}/pulls/{number}"}},
            "submitted_at": _iso(review["submitted_at"]),
            "commit_id": review["commit_id"],
            "author_association": self._association(review["user"]),
        }

    # -- issues -------------------------------------------------------------------------------

    def _issue_json(self, issue: PullRequestRecord | IssueRecord) -> dict[str, Any]:
        """The `issue` schema; a pull request is an issue too, with a `pull_request` key (as GitHub lists)."""
        api, number = self._api, issue.number
        url = f"{api}/issues/{number}"
        is_pull = isinstance(issue, PullRequestRecord)
        issue_id = _stable_id(f"issue/{number}", 3_000_000_000)
        closed_by = issue.merged_by if isinstance(issue, PullRequestRecord) else issue.closed_by
        data: dict[str, Any] = {
            "id": issue_id,
            "node_id": _node_id("I", issue_id),
            "url": url,
            "repository_url": api,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self._web}/{'pull' if is_pull else 'issues'}/{number}",
            "number": number,
            "state": issue.state,
            "state_reason": None if isinstance(issue, PullRequestRecord) else issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": self._user_json(issue.user),
            "labels": [self._label_json(name) for name in issue.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": len(self.comment_bodies(number)),
            "closed_at": _iso(issue.closed_at),
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at or issue.created_at),
            "closed_by": None if issue.state == "open" or closed_by is None else self._user_json(closed_by),
            "author_association": self._association(issue.user),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "reactions": {"url": f"{url}/reactions", "total_count": 0, **dict.fromkeys(REACTIONS, 0)},
        }
        if isinstance(issue, PullRequestRecord):
            data["draft"] = issue.draft
            data["pull_request"] = {
                "url": f"{api}/pulls/{number}",
                "html_url": f"{self._web}/pull/{number}",
                "diff_url": f"{self._web}/pull/{number}.diff",
                "patch_url": f"{self._web}/pull/{number}.patch",
                "merged_at": _iso(issue.merged_at),
            }
        return data

    def _label_names(self, given: Any) -> list[str]:
        """Label names from a request body's `labels` (strings or {"name": ...}); unknown ones are created."""
        if not isinstance(given, list):
            raise _validation_failed("Issue", field="labels", code="invalid")
        names: list[str] = []
        for item in given:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name.strip():
                raise _validation_failed("Label", field="name", code="invalid")
            names.append(name)
        for name in names:
            if name not in self.labels:
                self.labels[name] = {
                    "id": next(self._ids),
                    "color": f"{zlib.crc32(name.encode()) & 0xFFFFFF:06x}",
                }
        return list(dict.fromkeys(names))

    def _create_issue(self, call: _Call) -> Response:
        """POST /repos/{owner}/{repo}/issues {title, body, labels}: 201, opened by the app's bot."""
        body = call.body if isinstance(call.body, dict) else {}
        title = body.get("title")
        if isinstance(title, int) and not isinstance(title, bool):
            title = str(title)
        if not isinstance(title, str) or not title.strip():
            raise _validation_failed("Issue", field="title", code="missing_field")
        text = body.get("body")
        if text is not None and not isinstance(text, str):
            raise _validation_failed("Issue", field="body", code="invalid")
        if text is not None and len(text) > 65536:
            raise _validation_failed("Issue", field="body", code="custom", message="body is too long")
        labels = self._label_names(body.get("labels", []))
        number = self._take_issue_number()
        issue = IssueRecord(number, title, text, self.actor, _now(), labels=labels)
        self.issues[number] = issue
        location = f"{self._api}/issues/{number}"
        return JSONResponse(self._issue_json(issue), status_code=201, headers={"Location": location})

    def _list_issues(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/issues?state=&labels=a,b&sort=&direction= (pull requests included)"""
        state = call.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _validation_failed("Issue", field="state", code="invalid")
        wanted = [name.strip() for name in call.query.get("labels", "").split(",") if name.strip()]
        sort = call.query.get("sort", "created")
        if sort not in ("created", "updated", "comments"):
            raise _validation_failed("Issue", field="sort", code="invalid")
        items: list[PullRequestRecord | IssueRecord] = [*self.pulls.values(), *self.issues.values()]
        selected = [
            item
            for item in items
            if (state == "all" or item.state == state)
            and all(name.casefold() in {label.casefold() for label in item.labels} for name in wanted)
        ]

        def key(item: PullRequestRecord | IssueRecord) -> tuple[Any, int]:
            if sort == "updated":
                return item.updated_at or item.created_at, item.number
            if sort == "comments":
                return len(self.comment_bodies(item.number)), item.number
            return item.created_at, item.number

        selected.sort(key=key, reverse=call.query.get("direction", "desc") != "asc")
        return self._page(call, [self._issue_json(item) for item in selected])

    def _get_issue(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/issues/{number} (a pull request's number answers too)"""
        return JSONResponse(self._issue_json(self._issue(int(call.params["number"]))))

    def _update_issue(self, call: _Call) -> Response:
        """PATCH /repos/{owner}/{repo}/issues/{number} {title, body, state, state_reason, labels}"""
        issue = self._issue(int(call.params["number"]))
        body = call.body if isinstance(call.body, dict) else {}
        state, reason = body.get("state", issue.state), body.get("state_reason")
        if state not in ("open", "closed"):
            raise _validation_failed("Issue", field="state", code="invalid")
        if reason not in (None, "completed", "not_planned", "duplicate", "reopened"):
            raise _validation_failed("Issue", field="state_reason", code="invalid")
        if "title" in body and (not isinstance(body["title"], str) or not body["title"].strip()):
            raise _validation_failed("Issue", field="title", code="missing_field")
        if "body" in body and body["body"] is not None:
            if not isinstance(body["body"], str):
                raise _validation_failed("Issue", field="body", code="invalid")
            if len(body["body"]) > 65536:
                raise _validation_failed("Issue", field="body", code="custom", message="body is too long")
        if isinstance(issue, PullRequestRecord) and state == "open" and issue.merged_at is not None:
            raise _validation_failed(
                "PullRequest", code="custom", message="Cannot reopen a merged pull request"
            )
        if "title" in body:
            issue.title = body["title"]
        if "body" in body:
            issue.body = body["body"]
        if "labels" in body:
            issue.labels = self._label_names(body["labels"])
        if state != issue.state:
            if isinstance(issue, PullRequestRecord):
                self._current_head_sha(issue)
            issue.state = state
            issue.closed_at = _now() if state == "closed" else None
            if isinstance(issue, IssueRecord):
                issue.closed_by = self.actor if state == "closed" else None
                issue.state_reason = reason or ("completed" if state == "closed" else "reopened")
        elif isinstance(issue, IssueRecord) and reason is not None and state == "closed":
            issue.state_reason = reason
        issue.updated_at = _now()
        return JSONResponse(self._issue_json(issue))

    # -- issues: labels, comments, reactions --------------------------------------------------

    def _add_labels(self, call: _Call) -> Response:
        """POST /repos/{owner}/{repo}/issues/{number}/labels {labels: [...]}: unknown labels are created."""
        issue = self._issue(int(call.params["number"]))
        given = call.body.get("labels") if isinstance(call.body, dict) else call.body
        if not isinstance(given, list) or not given:
            raise _validation_failed("Label", field="labels", code="missing_field")
        given_names = [item.get("name") if isinstance(item, dict) else item for item in given]
        names = [name for name in given_names if isinstance(name, str) and name.strip()]
        if len(names) != len(given_names):
            raise _validation_failed("Label", field="name", code="invalid")
        for name in names:
            if name not in self.labels:
                self.labels[name] = {
                    "id": next(self._ids),
                    "color": f"{zlib.crc32(name.encode()) & 0xFFFFFF:06x}",
                }
            if name not in issue.labels:
                issue.labels.append(name)
        issue.updated_at = _now()
        return JSONResponse([self._label_json(name) for name in issue.labels])

    def _new_comment(self, number: int, user: str, body: str) -> dict[str, Any]:
        now = _now()
        comment = {
            "id": next(self._ids),
            "issue_number": number,
            "user": user,
            "body": body,
            "created_at": now,
            "updated_at": now,
        }
        self.comments.append(comment)
        return comment

    def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        number, comment_id = comment["issue_number"], comment["id"]
        url = f"{self._api}/issues/comments/{comment_id}"
        kind = "pull" if number in self.pulls else "issues"
        reactions = [
            reaction["content"] for reaction in self.reactions if reaction["comment_id"] == comment_id
        ]
        return {
            "id": comment_id,
            "node_id": _node_id("IC", comment_id),
            "url": url,
            "html_url": f"{self._web}/{kind}/{number}#issuecomment-{comment_id}",
            "body": comment["body"],
            "user": self._user_json(comment["user"]),
            "created_at": _iso(comment["created_at"]),
            "updated_at": _iso(comment["updated_at"]),
            "issue_url": f"{self._api}/issues/{number}",
            "author_association": self._association(comment["user"]),
            "performed_via_github_app": None,
            "reactions": {
                "url": f"{url}/reactions",
                "total_count": len(reactions),
                **{content: reactions.count(content) for content in REACTIONS},
            },
        }

    def _comment(self, comment_id: int) -> dict[str, Any]:
        for comment in self.comments:
            if comment["id"] == comment_id:
                return comment
        raise GitHubError(404, "Not Found")

    def _comment_body(self, call: _Call) -> str:
        body = call.body.get("body") if isinstance(call.body, dict) else None
        if not isinstance(body, str) or not body:
            raise _validation_failed("IssueComment", field="body", code="missing_field")
        if len(body) > 65536:
            raise _validation_failed("IssueComment", field="body", code="custom", message="Body is too long")
        return body

    def _create_comment(self, call: _Call) -> Response:
        """POST /repos/{owner}/{repo}/issues/{number}/comments {body}"""
        number = int(call.params["number"])
        self._issue(number)
        comment = self._new_comment(number, self.actor, self._comment_body(call))
        location = f"{self._api}/issues/comments/{comment['id']}"
        return JSONResponse(self._comment_json(comment), status_code=201, headers={"Location": location})

    def _list_comments(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/issues/{number}/comments (oldest first)"""
        number = int(call.params["number"])
        self._issue(number)
        comments = [
            self._comment_json(comment) for comment in self.comments if comment["issue_number"] == number
        ]
        return self._page(call, comments)

    def _update_comment(self, call: _Call) -> Response:
        """PATCH /repos/{owner}/{repo}/issues/comments/{comment_id} {body}: only the app's own comments."""
        comment = self._comment(int(call.params["comment_id"]))
        body = self._comment_body(call)
        if comment["user"] != self.actor:
            raise GitHubError(403, "Resource not accessible by integration")
        comment["body"], comment["updated_at"] = body, _now()
        return JSONResponse(self._comment_json(comment))

    def _delete_comment(self, call: _Call) -> Response:
        """DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}: 204; only the app's own comments."""
        comment = self._comment(int(call.params["comment_id"]))
        if comment["user"] != self.actor:
            raise GitHubError(403, "Resource not accessible by integration")
        self.comments.remove(comment)
        return Response(status_code=204)

    def _create_reaction(self, call: _Call) -> Response:
        """POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions {content}; 200 when repeated."""
        comment = self._comment(int(call.params["comment_id"]))
        content = call.body.get("content") if isinstance(call.body, dict) else None
        if content not in REACTIONS:
            raise _validation_failed("Reaction", field="content", code="invalid")
        status = 200
        reaction = next(
            (
                r
                for r in self.reactions
                if (r["comment_id"], r["user"], r["content"]) == (comment["id"], self.actor, content)
            ),
            None,
        )
        if reaction is None:
            status = 201
            reaction = {
                "id": next(self._ids),
                "comment_id": comment["id"],
                "user": self.actor,
                "content": content,
                "created_at": _now(),
            }
            self.reactions.append(reaction)
        return JSONResponse(
            {
                "id": reaction["id"],
                "node_id": _node_id("REA", reaction["id"]),
                "user": self._user_json(reaction["user"]),
                "content": reaction["content"],
                "created_at": _iso(reaction["created_at"]),
            },
            status_code=status,
        )

    # -- collaborators ------------------------------------------------------------------------

    def _role(self, user: str) -> str:
        return self.permissions.get(user, "read")

    def _association(self, user: str) -> str:
        if user.endswith("[bot]") or user not in self.permissions:
            return "NONE"
        return "MEMBER" if self._role(user) in ("write", "maintain", "admin") else "COLLABORATOR"

    def _get_permission(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/collaborators/{username}/permission"""
        user = call.params["username"]
        role = self._role(user)
        rank = PERMISSIONS.index(role)
        flags = {
            "pull": rank >= PERMISSIONS.index("read"),
            "triage": rank >= PERMISSIONS.index("triage"),
            "push": rank >= PERMISSIONS.index("write"),
            "maintain": rank >= PERMISSIONS.index("maintain"),
            "admin": rank >= PERMISSIONS.index("admin"),
        }
        return JSONResponse(
            {
                "permission": LEGACY_PERMISSION.get(role, role),
                "role_name": role,
                "user": {**self._user_json(user), "permissions": flags, "role_name": role},
            }
        )

    def _get_team_membership(self, call: _Call) -> Response:
        """GET /orgs/{org}/teams/{team_slug}/memberships/{username}: 404 unless a member."""
        org, team, user = call.params["org"], call.params["team"], call.params["username"]
        members = {login.casefold(): state for login, state in self.teams.get(team, {}).items()}
        if org.casefold() != self.owner.casefold() or user.casefold() not in members:
            raise GitHubError(404, "Not Found")
        return JSONResponse(
            {
                "url": f"{self.url}organizations/1/team/{_stable_id(team)}/memberships/{user}",
                "role": "member",
                "state": members[user.casefold()],
            }
        )

    # -- checks -------------------------------------------------------------------------------

    def _new_check_run(self, name: str, head_sha: str, app: str) -> dict[str, Any]:
        run: dict[str, Any] = {
            "id": next(self._ids),
            "check_suite_id": _stable_id(f"{app}/{head_sha}"),
            "app": app,
            "name": name,
            "head_sha": head_sha,
            "external_id": "",
            "details_url": None,
            "status": "queued",
            "conclusion": None,
            "started_at": _now(),
            "completed_at": None,
            "output": {"title": None, "summary": None, "text": None},
            "annotations": [],
        }
        self.check_runs.append(run)
        return run

    def _check_run_json(self, run: dict[str, Any]) -> dict[str, Any]:
        api, run_id = self._api, run["id"]
        # "The Checks API only looks for pushes in the repository where the check suite or check run
        # were created": pull requests from forks never appear in pull_requests.
        pulls = [
            pull
            for pull in self.open_pulls()
            if pull.head_owner is None and self._current_head_sha(pull) == run["head_sha"]
        ]
        return {
            "id": run_id,
            "head_sha": run["head_sha"],
            "node_id": _node_id("CR", run_id),
            "external_id": run["external_id"],
            "url": f"{api}/check-runs/{run_id}",
            "html_url": f"{self._web}/runs/{run_id}",
            "details_url": run["details_url"] or f"{self._web}/runs/{run_id}",
            "status": run["status"],
            "conclusion": run["conclusion"],
            "started_at": _iso(run["started_at"]),
            "completed_at": _iso(run["completed_at"]),
            "output": {
                **run["output"],
                "annotations_count": len(run["annotations"]),
                "annotations_url": f"{api}/check-runs/{run_id}/annotations",
            },
            "name": run["name"],
            "check_suite": {"id": run["check_suite_id"]},
            "app": self._integration_json(run["app"]),
            "pull_requests": [self._minimal_pull_json(pull) for pull in pulls],
        }

    def _minimal_pull_json(self, pull: PullRequestRecord) -> dict[str, Any]:
        repo = {"id": self.repository_id, "url": self._api, "name": self.repo}
        return {
            "id": _pull_database_id(pull.number),
            "number": pull.number,
            "url": f"{self._api}/pulls/{pull.number}",
            "head": {"ref": pull.head_ref, "sha": pull.head_sha, "repo": repo},
            "base": {
                "ref": pull.base_ref,
                "sha": self.branch_sha(pull.base_ref) or pull.head_sha,
                "repo": repo,
            },
        }

    def _apply_check_fields(self, run: dict[str, Any], body: dict[str, Any]) -> None:
        """Validates everything first, then changes run: a 422 leaves it untouched."""
        status, conclusion = body.get("status"), body.get("conclusion")
        if status is not None and status not in CHECK_STATUSES:
            raise _validation_failed("CheckRun", field="status", code="invalid")
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            raise _validation_failed("CheckRun", field="conclusion", code="invalid")
        if status == "completed" and conclusion is None and run["conclusion"] is None:
            raise _validation_failed("CheckRun", field="conclusion", code="missing_field")
        output = body.get("output")
        annotations: list[dict[str, Any]] = []
        if output is not None:
            if not isinstance(output, dict) or not output.get("title") or not output.get("summary"):
                raise _validation_failed("CheckRun", field="output", code="missing_field")
            annotations = output.get("annotations") or []
            if len(annotations) > MAX_ANNOTATIONS:
                message = f"Only {MAX_ANNOTATIONS} annotations are allowed per request"
                raise _validation_failed("CheckRun", field="annotations", code="custom", message=message)
            for annotation in annotations:
                missing = [name for name in ANNOTATION_FIELDS if annotation.get(name) in (None, "")]
                if missing or annotation["annotation_level"] not in ("notice", "warning", "failure"):
                    raise _validation_failed("CheckRun", field="annotations", code="invalid")
        for name in ("external_id", "details_url", "name"):
            if name in body:
                run[name] = body[name]
        if status is not None:
            run["status"] = status
        if conclusion is not None:
            run["status"], run["conclusion"] = "completed", conclusion
            run["completed_at"] = _now()
        if output is not None:
            run["output"] = {key: output.get(key) for key in ("title", "summary", "text")}
            run["annotations"].extend(annotations)

    def _create_check_run(self, call: _Call) -> Response:
        """POST /repos/{owner}/{repo}/check-runs {name, head_sha, status, conclusion, output}"""
        body = call.body if isinstance(call.body, dict) else {}
        for name in ("name", "head_sha"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise _validation_failed("CheckRun", field=name, code="missing_field")
        head_sha = (
            self.git.resolve_commit(body["head_sha"])
            if re.fullmatch(r"[0-9a-f]{40}", body["head_sha"])
            else None
        )
        if head_sha is None:
            raise GitHubError(422, f"No commit found for SHA: {body['head_sha']}")
        run = self._new_check_run(body["name"], head_sha, self.app_slug)
        try:
            self._apply_check_fields(run, body)
        except GitHubError:
            self.check_runs.remove(run)
            raise
        return JSONResponse(self._check_run_json(run), status_code=201)

    def _update_check_run(self, call: _Call) -> Response:
        """PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}: annotations accumulate across updates."""
        run_id = int(call.params["check_run_id"])
        run = next((run for run in self.check_runs if run["id"] == run_id), None)
        if run is None:
            raise GitHubError(404, "Not Found")
        self._apply_check_fields(run, call.body if isinstance(call.body, dict) else {})
        return JSONResponse(self._check_run_json(run))

    def _list_check_runs(self, call: _Call) -> Response:
        """GET /repos/{owner}/{repo}/commits/{ref}/check-runs?check_name=&status=&filter=latest|all"""
        sha = self.git.resolve_commit(call.params["ref"])
        if sha is None:
            raise GitHubError(422, f"No commit found for SHA: {call.params['ref']}")
        runs = [run for run in self.check_runs if run["head_sha"] == sha]
        if call.query.get("check_name"):
            runs = [run for run in runs if run["name"] == call.query["check_name"]]
        if call.query.get("status"):
            runs = [run for run in runs if run["status"] == call.query["status"]]
        if call.query.get("filter", "latest") == "latest":
            latest: dict[tuple[str, str], dict[str, Any]] = {}
            for run in runs:
                latest[(run["app"], run["name"])] = run
            runs = list(latest.values())
        runs.sort(key=lambda run: run["id"], reverse=True)
        page, headers = self._slice(call, runs)
        body = {"total_count": len(runs), "check_runs": [self._check_run_json(run) for run in page]}
        return JSONResponse(body, headers=headers)

    # -- actions ------------------------------------------------------------------------------

    def _dispatch_workflow(self, call: _Call) -> Response:
        """POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches {ref, inputs}: 204."""
        body = call.body if isinstance(call.body, dict) else {}
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            raise _validation_failed("Dispatch", field="ref", code="missing_field")
        if not self._dispatch_ref_exists(ref):
            raise GitHubError(422, f"No ref found for: {ref}", documentation_url=DISPATCH_DOCS_URL)
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise GitHubError(422, "Invalid value for inputs")
        if len(inputs) > MAX_DISPATCH_INPUTS:
            raise GitHubError(
                422, f"you may only define up to {MAX_DISPATCH_INPUTS} `inputs` for a workflow_dispatch event"
            )
        self.dispatches.append({"workflow_id": call.params["workflow_id"], **body})
        if body.get("return_run_details") is True:
            run_id = next(self._ids)
            details = {
                "workflow_run_id": run_id,
                "run_url": f"{self._api}/actions/runs/{run_id}",
                "html_url": f"{self._web}/actions/runs/{run_id}",
            }
            return JSONResponse(details)
        return Response(status_code=204)

    def _dispatch_ref_exists(self, ref: str) -> bool:
        """A dispatch runs on a branch or a tag, by short or full name; a sha or a pull ref is refused."""
        if ref.startswith(("refs/heads/", "refs/tags/")):
            return self.git.ref_sha(ref) is not None
        return any(self.git.ref_sha(f"refs/{kind}/{ref}") is not None for kind in ("heads", "tags"))

    # -- pagination ---------------------------------------------------------------------------

    def _slice(self, call: _Call, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of items (per_page default 30, max 100) and GitHub's Link header."""
        try:
            per_page = min(max(int(call.query.get("per_page", 30)), 1), 100)
            page = max(int(call.query.get("page", 1)), 1)
        except ValueError as error:
            raise _validation_failed("Pagination", field="page", code="invalid") from error
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []

        def link(number: int, rel: str) -> str:
            query = urlencode({**dict(call.query), "per_page": per_page, "page": number})
            return f'<{self.url.rstrip("/")}{call.path}?{query}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return items[(page - 1) * per_page : page * per_page], ({"Link": ", ".join(links)} if links else {})

    def _page(self, call: _Call, items: list[Any]) -> Response:
        page, headers = self._slice(call, items)
        return JSONResponse(page, headers=headers)

    # -- GraphQL ------------------------------------------------------------------------------

    def _graphql(self, call: _Call) -> Response:
        """POST /graphql: the operation is recognised by name (`query DbvendState`), not parsed."""
        body = call.body if isinstance(call.body, dict) else {}
        query = body.get("query")
        if not isinstance(query, str):
            return JSONResponse(
                {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
            )
        name = _operation_name(body)
        variables = body.get("variables") or {}
        operations: dict[str | None, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "DbvendState": lambda given: self._dbvend_state(given, query),
            "DbvendRepository": self._dbvend_repository,
            "DbvendCommit": self._dbvend_commit,
            "DbvendBranch": self._dbvend_branch,
            "DbvendClaims": self._dbvend_claims,
        }
        operation = operations.get(name)
        if operation is None:
            message = f"The fake GitHub knows only {sorted(map(str, operations))}, not {name!r}"
            return JSONResponse({"errors": [{"message": message}]})
        return JSONResponse(operation(variables))

    def _object_field(self, expression: Any, selection: str) -> dict[str, Any] | None:
        """`object(expression:) { ... on Blob { text|oid } }`: null if absent, {} if not a blob."""
        oid = self.git.resolve(expression) if isinstance(expression, str) else None
        if oid is None:
            return None
        if self.git.object_type(oid) != "blob":
            return {}
        return {"oid": oid} if selection == "oid" else {"text": _text(self.git.blob(oid))}

    def _unknown_repository(self, variables: dict[str, Any]) -> dict[str, Any] | None:
        """GitHub's answer to a query naming another repository (`$owner`, `$name`), else None."""
        owner, name = variables.get("owner"), variables.get("name")
        if (str(owner).lower(), str(name).lower()) == (self.owner.lower(), self.repo.lower()):
            return None
        return {
            "data": {"repository": None},
            "errors": [
                {
                    "type": "NOT_FOUND",
                    "path": ["repository"],
                    "locations": [{"line": 2, "column": 3}],
                    "message": f"Could not resolve to a Repository with the name '{owner}/{name}'.",
                }
            ],
        }

    def _dbvend_state(self, variables: dict[str, Any], query: str) -> dict[str, Any]:
        unknown = self._unknown_repository(variables)
        if unknown is not None:
            return unknown
        default = self._default_branch_ref()
        if default is not None:
            default["target"]["tree"] = {"oid": self.git.resolve(f"{default['target']['oid']}^{{tree}}")}
        repository = {
            "id": _node_id("R", self.repository_id),
            **self._repository_identity(query),
            "defaultBranchRef": default,
            "catalog": self._object_field(variables.get("catalog"), "text"),
            "claim": self._object_field(variables.get("claim"), "oid"),
            "branch": self._graphql_ref(variables.get("branch")),
            "pulls": self._graphql_pulls(variables.get("head"), query),
            "labels": {
                "nodes": [
                    {"id": _node_id("LA", label["id"]), "name": label_name}
                    for label_name, label in self.labels.items()
                ]
            },
        }
        return {"data": {"repository": repository}}

    def _dbvend_repository(self, variables: dict[str, Any]) -> dict[str, Any]:
        """query DbvendRepository($owner, $name): databaseId, nameWithOwner, defaultBranchRef."""
        unknown = self._unknown_repository(variables)
        if unknown is not None:
            return unknown
        identity = self._repository_identity("databaseId nameWithOwner")
        return {"data": {"repository": {**identity, "defaultBranchRef": self._default_branch_ref()}}}

    def _repository_identity(self, query: str) -> dict[str, Any]:
        """`databaseId` (REST's `id`) and `nameWithOwner` (as GitHub spells it, whatever the query's
        case), each when the query asks for it."""
        identity = {"databaseId": self.repository_id, "nameWithOwner": f"{self.owner}/{self.repo}"}
        return {name: value for name, value in identity.items() if _asks(query, name)}

    def _default_branch_ref(self) -> dict[str, Any] | None:
        """`defaultBranchRef { name target { oid } }`: null in a repository without commits."""
        sha = self.branch_sha(self.default_branch)
        return None if sha is None else {"name": self.default_branch, "target": {"oid": sha}}

    def _dbvend_claims(self, variables: dict[str, Any]) -> dict[str, Any]:
        """query DbvendClaims($owner, $name, $ref, $tree): `refObject: object(expression: $ref) { oid }`
        and `object(expression: $tree)` as a Tree three levels deep, the third level's blobs with
        `byteSize text isTruncated`. Fragments that do not match the object's type are `{}`."""
        unknown = self._unknown_repository(variables)
        if unknown is not None:
            return unknown
        ref, tree = variables.get("ref"), variables.get("tree")
        ref_oid = self.git.resolve(f"{ref}^{{object}}") if isinstance(ref, str) and ref else None  # existing
        tree_oid = self.git.resolve(tree) if isinstance(tree, str) else None
        found: dict[str, Any] | None = None
        if tree_oid is not None:
            found = self._graphql_tree(tree_oid, 3) if self.git.object_type(tree_oid) == "tree" else {}
        ref_object = None if ref_oid is None else {"oid": ref_oid}
        return {"data": {"repository": {"refObject": ref_object, "object": found}}}

    def _graphql_tree(self, tree: str, depth: int) -> dict[str, Any]:
        """`... on Tree { entries { name type object { ... } } }` nested `depth` levels, read with one
        `ls-tree -r -t` and one `cat-file --batch`; the last level's blobs have text, trees are `{}`.
        Submodule entries (type commit) have object null, as on GitHub."""
        listing = self.git.git("ls-tree", "-r", "-t", "-z", tree)
        rows: list[tuple[list[str], str, str]] = []  # (path parts, kind, oid): parents before children
        for line in filter(None, listing.split("\0")):
            meta, path = line.split("\t", 1)
            _mode, kind, oid = meta.split()
            parts = path.split("/")
            if len(parts) <= depth:
                rows.append((parts, kind, oid))
        texts = self._blob_texts([oid for parts, kind, oid in rows if kind == "blob" and len(parts) == depth])
        root: dict[str, Any] = {"entries": []}
        nodes: dict[tuple[str, ...], dict[str, Any]] = {(): root}
        for parts, kind, oid in rows:
            node: dict[str, Any] | None = {}
            if kind == "commit":
                node = None
            elif kind == "tree" and len(parts) < depth:
                node = {"entries": []}
                nodes[tuple(parts)] = node
            elif kind == "blob" and len(parts) == depth:
                node = texts[oid]
            nodes[tuple(parts[:-1])]["entries"].append({"name": parts[-1], "type": kind, "object": node})
        return root

    def _blob_texts(self, oids: list[str]) -> dict[str, dict[str, Any]]:
        """`... on Blob { byteSize text isTruncated }` for blobs by id, in one `git cat-file --batch`."""
        if not oids:
            return {}
        out = subprocess.run(
            ["git", "--git-dir", str(self.git.path), "cat-file", "--batch"],
            input="".join(f"{oid}\n" for oid in oids).encode(),
            capture_output=True,
            env=self.git.env,
            check=True,
            timeout=30,
        ).stdout
        found: dict[str, dict[str, Any]] = {}
        position = 0
        for oid in oids:
            end = out.index(b"\n", position)
            size = int(out[position:end].rsplit(b" ", 1)[1])
            data = out[end + 1 : end + 1 + size]
            position = end + 1 + size + 1
            text = _text(data)
            if text is not None and size > BLOB_TEXT_LIMIT:
                text = data[:BLOB_TEXT_LIMIT].decode(errors="ignore")
            found[oid] = {"byteSize": size, "text": text, "isTruncated": size > BLOB_TEXT_LIMIT}
        return found

    def _graphql_pulls(self, head: Any, query: str) -> dict[str, Any]:
        """`pullRequests(headRefName: $head, first: 10, states: [...], orderBy: CREATED_AT DESC)`.
        headRefName is the branch name alone: GitHub lists pull requests from forks whose branch has
        that name too (REST's `?head=owner:ref` does not)."""
        pulls = [p for p in self.pulls.values() if isinstance(head, str) and p.head_ref == head]
        pulls.sort(key=lambda p: p.number, reverse=True)
        return {"nodes": [self._graphql_pull(pull, query) for pull in pulls[:10]]}

    def _graphql_pull(self, pull: PullRequestRecord, query: str) -> dict[str, Any]:
        """A PullRequest node: number url state body, and the head's fields when the query names them."""
        state = {"open": "OPEN", "closed": "CLOSED"}
        owner = None if pull.head_repository_deleted else (pull.head_owner or self.owner)
        node: dict[str, Any] = {
            "number": pull.number,
            "url": f"{self._web}/pull/{pull.number}",
            "state": "MERGED" if pull.merged_at else state[pull.state],
            "body": pull.body or "",
        }
        optional = {
            "databaseId": _pull_database_id(pull.number),
            "headRefName": pull.head_ref,
            "headRefOid": self._current_head_sha(pull),
            "baseRefName": pull.base_ref,
            "isCrossRepository": pull.head_owner is not None,
            "headRepositoryOwner": None if owner is None else {"login": owner},
            "headRepository": None if owner is None else {"nameWithOwner": f"{owner}/{self.repo}"},
        }
        return {**node, **{name: value for name, value in optional.items() if _asks(query, name)}}

    def _graphql_ref(self, qualified: Any) -> dict[str, Any] | None:
        if not isinstance(qualified, str) or not qualified:
            return None
        ref = qualified if qualified.startswith("refs/") else f"refs/heads/{qualified}"
        sha = self.git.ref_sha(ref)
        if sha is None:
            return None
        branch = _short_branch(ref)
        pulls = [  # this repository's ref: pull requests from forks' same-named branches are not its own
            pull
            for pull in sorted(self.pulls.values(), key=lambda p: p.number)
            if pull.head_owner is None and pull.head_ref == branch
        ]
        state = {"open": "OPEN", "closed": "CLOSED"}
        return {
            "name": branch,
            "target": {"oid": sha, "message": self.git.git("log", "-1", "--format=%B", sha)},
            "associatedPullRequests": {
                "nodes": [
                    {
                        "number": pull.number,
                        "url": f"{self._web}/pull/{pull.number}",
                        "state": "MERGED" if pull.merged_at else state[pull.state],
                    }
                    for pull in pulls[:5]
                ]
            },
        }

    def _dbvend_commit(self, variables: dict[str, Any]) -> dict[str, Any]:
        """mutation DbvendCommit($input): createCommitOnBranch alone."""
        return self._mutation(("createCommitOnBranch", self._create_commit_on_branch, variables.get("input")))

    def _dbvend_branch(self, variables: dict[str, Any]) -> dict[str, Any]:
        """mutation DbvendBranch($ref, $commit): createRef, then createCommitOnBranch, as GitHub runs them."""
        return self._mutation(
            ("createRef", self._create_ref_field, variables.get("ref")),
            ("createCommitOnBranch", self._create_commit_on_branch, variables.get("commit")),
        )

    def _mutation(
        self, *fields: tuple[str, Callable[[dict[str, Any]], dict[str, Any]], Any]
    ) -> dict[str, Any]:
        """Top-level mutation fields run in order; a failed one is null with an error, the next still runs."""
        data: dict[str, Any] = {}
        errors = []
        for name, resolve, given in fields:
            try:
                if not isinstance(given, dict):
                    raise _GraphQLError("INVALID_INPUT", f"The input of {name} was not provided.")
                data[name] = resolve(given)
            except _GraphQLError as error:
                data[name] = None
                errors.append(error.json(name))
        return {"data": data, "errors": errors} if errors else {"data": data}

    def _create_ref_field(self, given: dict[str, Any]) -> dict[str, Any]:
        """createRef(input: {repositoryId, name, oid}) { ref { name target { oid } } }"""
        if given.get("repositoryId") != _node_id("R", self.repository_id):
            raise _GraphQLError(
                "NOT_FOUND",
                f"Could not resolve to a node with the global id of '{given.get('repositoryId')}'",
            )
        name, oid = str(given.get("name", "")), str(given.get("oid", ""))
        if not self.git.valid_ref(name):
            raise _GraphQLError("UNPROCESSABLE", f"{name} is not a valid ref name.")
        if not re.fullmatch(r"[0-9a-f]{40}", oid) or self.git.resolve_commit(oid) is None:
            raise _GraphQLError("UNPROCESSABLE", f"Could not resolve to a commit with the oid '{oid}'.")
        if not self.git.update_ref(name, oid, ZERO_OID):
            raise _GraphQLError("UNPROCESSABLE", f'A ref named "{name}" already exists in the repository.')
        return {"ref": {"name": _short_branch(name), "target": {"oid": oid}}}

    def _create_commit_on_branch(self, given: dict[str, Any]) -> dict[str, Any]:
        """createCommitOnBranch: one commit whose parent is the branch head, which must be expectedHeadOid."""
        branch, parent, message, changes = self._commit_input(given)
        author = (self.actor, f"{self.app_id}+{self.actor}@users.noreply.github.com")
        sha = self.git.commit_files(parent, changes, message, author)
        if not self.git.update_ref(f"refs/heads/{branch}", sha, parent):
            raise _GraphQLError(
                "STALE_DATA", f'Expected branch to point to "{parent}" but it did not. Pull and try again.'
            )
        return {"commit": {"oid": sha, "url": f"{self._web}/commit/{sha}"}}

    def _commit_input(self, given: dict[str, Any]) -> tuple[str, str, str, dict[str, bytes | None]]:
        """(branch, parent, message, changes) from CreateCommitOnBranchInput, or a _GraphQLError."""
        target = given.get("branch") or {}
        name_with_owner = str(target.get("repositoryNameWithOwner", ""))
        if name_with_owner.lower() != f"{self.owner}/{self.repo}".lower():
            raise _GraphQLError(
                "NOT_FOUND", f"Could not resolve to a Repository with the name '{name_with_owner}'."
            )
        branch = _short_branch(str(target.get("branchName", "")))
        head = self.git.ref_sha(f"refs/heads/{branch}") if branch else None
        if head is None:
            raise _GraphQLError(
                "NOT_FOUND", f"Could not resolve to a Ref with the name 'refs/heads/{branch}'."
            )
        expected = given.get("expectedHeadOid")
        if expected != head:
            raise _GraphQLError(
                "STALE_DATA", f'Expected branch to point to "{expected}" but it did not. Pull and try again.'
            )
        headline = (given.get("message") or {}).get("headline")
        if not isinstance(headline, str) or not headline.strip():
            raise _GraphQLError("INVALID_INPUT", "A commit message headline is required")
        message = headline + (f"\n\n{given['message']['body']}" if given["message"].get("body") else "")
        file_changes = given.get("fileChanges") or {}
        changes: dict[str, bytes | None] = {}
        for deletion in file_changes.get("deletions") or []:
            path = _checked_path(deletion.get("path"))
            if self.git.resolve(f"{head}:{path}") is None:
                raise _GraphQLError(
                    "UNPROCESSABLE",
                    f"A path was requested for deletion which does not exist as of commit oid `{head}`",
                )
            changes[path] = None
        for addition in file_changes.get("additions") or []:
            path = _checked_path(addition.get("path"))
            try:
                changes[path] = base64.b64decode(addition.get("contents") or "", validate=True)
            except (binascii.Error, ValueError) as error:
                raise _GraphQLError(
                    "UNPROCESSABLE", f"The contents of {path} are not valid base64"
                ) from error
        return branch, head, message + "\n", changes


class _GraphQLError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def json(self, field_name: str) -> dict[str, Any]:
        return {
            "type": self.kind,
            "path": [field_name],
            "locations": [{"line": 2, "column": 3}],
            "message": self.message,
        }


def _checked_path(path: Any) -> str:
    """A repository path as GitHub accepts it: relative, no empty, `.` or `..` parts, nothing under .git."""
    parts = path.split("/") if isinstance(path, str) else [""]
    if any(part in ("", ".", "..") for part in parts) or parts[0] == ".git" or "\0" in path:
        raise _GraphQLError("UNPROCESSABLE", f"Invalid path: {path!r}")
    return str(path)


def _text(data: bytes) -> str | None:
    """Blob.text: null for binary content."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None
