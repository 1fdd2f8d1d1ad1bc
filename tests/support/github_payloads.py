"""GitHub webhook payloads as GitHub delivers them to dbvend's App, built as plain dicts.

Every builder returns the full body of one delivery: the same keys, nesting and types as GitHub's
documented example payloads (@octokit/webhooks-examples; tests/unit/test_octokit_payloads.py compares them
key by key), with the fields GitHub has added since (user_view_type, timeline_url, state_reason, ...).
URLs are derived from the repository's full name like GitHub's: API under https://api.github.com, pages
under https://github.com. Ids are stable per name (a hash), node ids use GitHub's legacy encoding
(base64 of "0<len>:<Kind><id>") and timestamps are fixed, so a payload is the same on every run.

    payload = issues("opened", 12, "[dbvend] orders", body, labels=("database-request",))
    githubkit.webhooks.parse_obj("issues", payload)  # validates against GitHub's schema

App deliveries carry `installation`; deliveries for an organization's repository carry
`organization`. The repository owner (the part of full_name before "/") is that organization.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from tests.support.paths import ROOT

API = "https://api.github.com"
WEB = "https://github.com"
AVATARS = "https://avatars.githubusercontent.com"

Payload = dict[str, Any]

DEFAULT_REPOSITORY = "acme/infra"
DEFAULT_BRANCH = "main"
HEAD_SHA = "5a1d2f7c9e3b4d6a8c0e2f4a6b8d0c1e3f5a7b9d"

# Fixed moments, oldest first: the repository, the issue or pull request, the event itself.
REPO_CREATED_AT = "2024-01-15T09:30:00Z"
REPO_PUSHED_AT = "2024-06-03T09:55:00Z"
CREATED_AT = "2024-06-03T10:00:00Z"
EVENT_AT = "2024-06-03T10:05:00Z"

# The App as github-app/app-manifest.json declares it: its permissions and the events it gets.
MANIFEST: Payload = json.loads((ROOT / "github-app/app-manifest.json").read_text())
HOOK_EVENTS: tuple[str, ...] = tuple(MANIFEST["default_events"])
APP_PERMISSIONS: dict[str, str] = dict(MANIFEST["default_permissions"])
# Apps whose public identity is known; any other app name gets a stable made-up identity.
KNOWN_APPS: dict[str, Payload] = {
    "GitHub Actions": {
        "id": 15368,
        "slug": "github-actions",
        "owner": "github",
        "description": "Automate your workflow from idea to production",
        "external_url": "https://help.github.com/en/actions",
        "created_at": "2018-07-30T09:30:17Z",
        "updated_at": "2019-12-10T19:04:12Z",
    }
}

# The URL families of a repository: key -> path under /repos/<full_name>, with GitHub's URI templates.
REPO_URLS = {
    "forks_url": "/forks",
    "keys_url": "/keys{/key_id}",
    "collaborators_url": "/collaborators{/collaborator}",
    "teams_url": "/teams",
    "hooks_url": "/hooks",
    "issue_events_url": "/issues/events{/number}",
    "events_url": "/events",
    "assignees_url": "/assignees{/user}",
    "branches_url": "/branches{/branch}",
    "tags_url": "/tags",
    "blobs_url": "/git/blobs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "trees_url": "/git/trees{/sha}",
    "statuses_url": "/statuses/{sha}",
    "languages_url": "/languages",
    "stargazers_url": "/stargazers",
    "contributors_url": "/contributors",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "commits_url": "/commits{/sha}",
    "git_commits_url": "/git/commits{/sha}",
    "comments_url": "/comments{/number}",
    "issue_comment_url": "/issues/comments{/number}",
    "contents_url": "/contents/{+path}",
    "compare_url": "/compare/{base}...{head}",
    "merges_url": "/merges",
    "archive_url": "/{archive_format}{/ref}",
    "downloads_url": "/downloads",
    "issues_url": "/issues{/number}",
    "pulls_url": "/pulls{/number}",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "labels_url": "/labels{/name}",
    "releases_url": "/releases{/id}",
    "deployments_url": "/deployments",
}
# A user's URL families: key -> path under /users/<login>.
USER_URLS = {
    "followers_url": "/followers",
    "following_url": "/following{/other_user}",
    "gists_url": "/gists{/gist_id}",
    "starred_url": "/starred{/owner}{/repo}",
    "subscriptions_url": "/subscriptions",
    "organizations_url": "/orgs",
    "repos_url": "/repos",
    "events_url": "/events{/privacy}",
    "received_events_url": "/received_events",
}


# ---- helpers


def stable_id(*parts: object) -> int:
    """A 9-digit id, the same for the same parts on every run."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return 100_000_000 + int(digest[:12], 16) % 900_000_000


def node_id(kind: str, database_id: int) -> str:
    """GitHub's legacy global node id: base64 of "0<len(kind)>:<kind><id>" (e.g. MDQ6VXNlcjE=)."""
    return base64.b64encode(f"0{len(kind)}:{kind}{database_id}".encode()).decode()


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(str(part) for part in parts).encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _owner(full_name: str) -> str:
    return full_name.split("/", 1)[0]


def _repo_api(full_name: str) -> str:
    return f"{API}/repos/{full_name}"


def _reactions(url: str) -> Payload:
    counts = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
    return {"url": f"{url}/reactions", "total_count": 0, **dict.fromkeys(counts, 0)}


def _author(login: str) -> Payload:
    """A commit's author or committer, with the user's noreply address."""
    return {"name": login, "email": f"{stable_id('user', login)}+{login}@users.noreply.github.com"}


def _account_author(login: str) -> Payload:
    """A commit's author or committer as check_suite.head_commit names it: with the account's login."""
    return {**_author(login), "username": login}


def _envelope(payload: Payload, full_name: str, sender: Payload) -> Payload:
    """The keys every App delivery for an organization's repository ends with."""
    return {
        **payload,
        "repository": repository(full_name),
        "organization": organization(_owner(full_name)),
        "sender": sender,
        "installation": installation(),
    }


# ---- accounts


def user(login: str, type: str = "User") -> Payload:
    """A simple user, as in sender, issue.user, owner. Bots ("name[bot]") link to their App's page."""
    account_id = stable_id("user", login)
    api = f"{API}/users/{quote(login)}"
    html = f"{WEB}/apps/{login.removesuffix('[bot]')}" if type == "Bot" else f"{WEB}/{login}"
    return {
        "login": login,
        "id": account_id,
        "node_id": node_id(type, account_id),
        "avatar_url": f"{AVATARS}/u/{account_id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        **{key: api + path for key, path in USER_URLS.items()},
        "type": type,
        "user_view_type": "public",
        "site_admin": False,
    }


def organization(login: str = "acme") -> Payload:
    """The organization shape of webhooks; the same id as user(login, "Organization")."""
    account_id = stable_id("user", login)
    api = f"{API}/orgs/{login}"
    return {
        "login": login,
        "id": account_id,
        "node_id": node_id("Organization", account_id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{AVATARS}/u/{account_id}?v=4",
        "description": "",
    }


def installation(id: int = 42) -> Payload:
    """The installation reference GitHub adds to every delivery for a GitHub App."""
    return {"id": id, "node_id": node_id("IntegrationInstallation", id)}


def _app(name: str, owner: str) -> Payload:
    """A GitHub App (check_suite.app, performed_via_github_app)."""
    known = KNOWN_APPS.get(name, {})
    slug = str(known.get("slug", _slug(name)))
    app_id = int(known.get("id", stable_id("app", slug)))
    return {
        "id": app_id,
        "slug": slug,
        "node_id": node_id("App", app_id),
        "owner": user(str(known.get("owner", owner)), "Organization"),
        "name": name,
        "description": known.get("description", ""),
        "external_url": known.get("external_url", f"{WEB}/apps/{slug}"),
        "html_url": f"{WEB}/apps/{slug}",
        "created_at": known.get("created_at", REPO_CREATED_AT),
        "updated_at": known.get("updated_at", REPO_CREATED_AT),
        "permissions": dict(APP_PERMISSIONS),
        "events": list(HOOK_EVENTS),
    }


# ---- repositories


def _repository_core(full_name: str) -> Payload:
    """The minimal repository (workflow_run.repository, head_repository): identity and URL families."""
    owner, name = full_name.split("/", 1)
    repo_id = stable_id("repository", full_name)
    api = _repo_api(full_name)
    return {
        "id": repo_id,
        "node_id": node_id("Repository", repo_id),
        "name": name,
        "full_name": full_name,
        "private": True,
        "owner": user(owner, "Organization"),
        "html_url": f"{WEB}/{full_name}",
        "description": None,
        "fork": False,
        "url": api,
        **{key: api + path for key, path in REPO_URLS.items()},
    }


def repository(full_name: str = DEFAULT_REPOSITORY) -> Payload:
    """The repository of every delivery: a private repository of an organization, default branch main."""
    return {
        **_repository_core(full_name),
        "created_at": REPO_CREATED_AT,
        "updated_at": REPO_PUSHED_AT,
        "pushed_at": REPO_PUSHED_AT,
        "git_url": f"git://github.com/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "clone_url": f"{WEB}/{full_name}.git",
        "svn_url": f"{WEB}/{full_name}",
        "homepage": None,
        "size": 128,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": "HCL",
        "has_issues": True,
        "has_projects": True,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": 1,
        "license": None,
        "allow_forking": False,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private",
        "forks": 0,
        "open_issues": 1,
        "watchers": 0,
        "default_branch": DEFAULT_BRANCH,
        "custom_properties": {},
    }


def _pull_repository(full_name: str) -> Payload:
    """pull_request.head.repo and base.repo: the repository with its merge settings."""
    return {
        **repository(full_name),
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "allow_rebase_merge": True,
        "allow_auto_merge": False,
        "delete_branch_on_merge": True,
        "allow_update_branch": False,
        "squash_merge_commit_message": "COMMIT_MESSAGES",
        "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
        "merge_commit_message": "PR_TITLE",
        "merge_commit_title": "MERGE_MESSAGE",
    }


def label(name: str, full_name: str = DEFAULT_REPOSITORY) -> Payload:
    label_id = stable_id("label", full_name, name)
    return {
        "id": label_id,
        "node_id": node_id("Label", label_id),
        "url": f"{_repo_api(full_name)}/labels/{quote(name)}",
        "name": name,
        "color": fake_sha("color", name)[:6],
        "default": False,
        "description": None,
        "archived_at": None,
        "archived_by": None,
    }


# ---- issues


def _pull_id(full_name: str, number: int) -> int:
    return stable_id("pull", full_name, number)


def _issue(
    full_name: str,
    number: int,
    title: str,
    body: str | None,
    labels: Sequence[str],
    author: Payload,
    *,
    state: str,
    state_reason: str | None,
    updated_at: str,
    on_pull_request: bool = False,
    comments: int = 0,
) -> Payload:
    """An issue (or a pull request seen as an issue, with its `pull_request` key)."""
    api = f"{_repo_api(full_name)}/issues/{number}"
    html = f"{WEB}/{full_name}/{'pull' if on_pull_request else 'issues'}/{number}"
    issue_id = stable_id("issue", full_name, number)
    issue: Payload = {
        "url": api,
        "repository_url": _repo_api(full_name),
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": html,
        "id": issue_id,
        "node_id": node_id("Issue", issue_id),
        "number": number,
        "title": title,
        "user": author,
        "labels": [label(name, full_name) for name in labels],
        "state": state,
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": comments,
        "created_at": CREATED_AT,
        "updated_at": updated_at,
        "closed_at": EVENT_AT if state == "closed" else None,
        "author_association": _association(author),
        "type": None,
        "active_lock_reason": None,
        "draft": False,  # GitHub sends it on plain issues too
        "sub_issues_summary": {"total": 0, "completed": 0, "percent_completed": 0},
        "issue_dependencies_summary": {
            "blocked_by": 0,
            "total_blocked_by": 0,
            "blocking": 0,
            "total_blocking": 0,
        },
    }
    if on_pull_request:
        pull_api = f"{_repo_api(full_name)}/pulls/{number}"
        issue["pull_request"] = {
            "url": pull_api,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": None,
        }
    return {
        **issue,
        "body": body,
        "reactions": _reactions(api),
        "timeline_url": f"{api}/timeline",
        "performed_via_github_app": None,
        "state_reason": state_reason,
    }


def _association(account: Payload) -> str:
    return "NONE" if account["type"] == "Bot" else "MEMBER"


def issues(
    action: str,
    number: int,
    title: str,
    body: str | None,
    labels: Sequence[str] = ("database-request",),
    sender: str = "alice",
    full_name: str = DEFAULT_REPOSITORY,
    state: str | None = None,
    *,
    previous_body: str | None = None,
    previous_title: str | None = None,
    added_label: str | None = None,
) -> Payload:
    """An `issues` delivery: opened, edited (`changes`), closed, reopened, labeled (`label`).

    The issue's author is the sender. `state` overrides the state the action implies (closed for
    "closed", open otherwise). For "labeled", `added_label` (default: the last of `labels`) is the
    label just added.
    """
    state = state or ("closed" if action == "closed" else "open")
    state_reason = "completed" if state == "closed" else ("reopened" if action == "reopened" else None)
    author = user(sender)
    payload: Payload = {"action": action}
    if action == "edited":
        changes: Payload = {}
        if previous_title is not None:
            changes["title"] = {"from": previous_title}
        if previous_body is not None or not changes:
            changes["body"] = {"from": previous_body or ""}
        payload["changes"] = changes
    payload["issue"] = _issue(
        full_name,
        number,
        title,
        body,
        labels,
        author,
        state=state,
        state_reason=state_reason,
        updated_at=CREATED_AT if action == "opened" else EVENT_AT,
    )
    if action == "labeled":
        name = added_label or (labels[-1] if labels else None)
        if name is None:
            raise ValueError("a labeled delivery needs a label: pass labels or added_label")
        payload["label"] = label(name, full_name)
    return _envelope(payload, full_name, author)


def issue_comment(
    action: str,
    number: int,
    body: str,
    commenter: str,
    comment_id: int = 900,
    on_pull_request: bool = True,
    commenter_type: str = "User",
    full_name: str = DEFAULT_REPOSITORY,
    *,
    previous_body: str | None = None,
    title: str = "dbvend: orders (dev)",
    issue_body: str | None = None,
    issue_author: str = "alice",
    labels: Sequence[str] = (),
) -> Payload:
    """An `issue_comment` delivery: created, edited (`changes.body.from`), deleted.

    On a pull request the issue carries `pull_request` (GitHub sends issue_comment for both). A bot
    commenter ("name[bot]", commenter_type "Bot") comments through its App: performed_via_github_app.
    """
    author = user(commenter, commenter_type)
    issue = _issue(
        full_name,
        number,
        title,
        issue_body,
        labels,
        user(issue_author),
        state="open",
        state_reason=None,
        updated_at=EVENT_AT,
        on_pull_request=on_pull_request,
        comments=1,
    )
    api = f"{_repo_api(full_name)}/issues/comments/{comment_id}"
    via_app = _app(commenter.removesuffix("[bot]"), _owner(full_name)) if commenter_type == "Bot" else None
    comment = {
        "url": api,
        "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
        "issue_url": issue["url"],
        "id": comment_id,
        "node_id": node_id("IssueComment", comment_id),
        "user": author,
        "created_at": EVENT_AT,
        "updated_at": EVENT_AT,
        "author_association": _association(author),
        "body": body,
        "reactions": _reactions(api),
        "performed_via_github_app": via_app,
    }
    payload: Payload = {"action": action}
    if action == "edited":
        payload["changes"] = {"body": {"from": previous_body or ""}}
    payload.update({"issue": issue, "comment": comment})
    return _envelope(payload, full_name, author)


# ---- pull requests


def _branch(full_name: str, ref: str, sha: str) -> Payload:
    """pull_request.head / base."""
    owner = _owner(full_name)
    return {
        "label": f"{owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user(owner, "Organization"),
        "repo": _pull_repository(full_name),
    }


def pull_request(
    action: str,
    number: int,
    head_ref: str,
    merged: bool = False,
    head_sha: str = HEAD_SHA,
    full_name: str = DEFAULT_REPOSITORY,
    sender: str = "alice",
    *,
    title: str | None = None,
    body: str | None = None,
    author: str = "dbvend[bot]",
    base_ref: str = DEFAULT_BRANCH,
    labels: Sequence[str] = (),
) -> Payload:
    """A `pull_request` delivery: opened, reopened, synchronize (`before`/`after`), closed.

    "closed" closes the pull request; with merged=True it is merged by the sender (merged_at,
    merged_by). dbvend's pull requests are opened by its App, so the author defaults to its bot.
    """
    closed = action == "closed"
    merged = merged and closed
    api = f"{_repo_api(full_name)}/pulls/{number}"
    html = f"{WEB}/{full_name}/pull/{number}"
    issue_api = f"{_repo_api(full_name)}/issues/{number}"
    statuses = f"{_repo_api(full_name)}/statuses/{head_sha}"
    pull_id = _pull_id(full_name, number)
    opener = user(author, "Bot" if author.endswith("[bot]") else "User")
    links = {
        "self": api,
        "html": html,
        "issue": issue_api,
        "comments": f"{issue_api}/comments",
        "review_comments": f"{api}/comments",
        "review_comment": f"{_repo_api(full_name)}/pulls/comments{{/number}}",
        "commits": f"{api}/commits",
        "statuses": statuses,
    }
    pull = {
        "url": api,
        "id": pull_id,
        "node_id": node_id("PullRequest", pull_id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_api,
        "number": number,
        "state": "closed" if closed else "open",
        "locked": False,
        "title": title if title is not None else f"dbvend: {head_ref.removeprefix('dbvend/')}",
        "user": opener,
        "body": body,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT if action == "opened" else EVENT_AT,
        "closed_at": EVENT_AT if closed else None,
        "merged_at": EVENT_AT if merged else None,
        "merge_commit_sha": fake_sha("merge", full_name, number, head_sha),
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [label(name, full_name) for name in labels],
        "milestone": None,
        "draft": False,
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": statuses,
        "head": _branch(full_name, head_ref, head_sha),
        "base": _branch(full_name, base_ref, fake_sha("base", full_name, base_ref)),
        "_links": {key: {"href": href} for key, href in links.items()},
        "author_association": _association(opener),
        "auto_merge": None,
        "active_lock_reason": None,
        "merged": merged,
        "mergeable": None if closed else True,
        "rebaseable": None if closed else True,
        "mergeable_state": "unknown" if closed else "clean",
        "merged_by": user(sender) if merged else None,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": 1,
        "additions": 12,
        "deletions": 0,
        "changed_files": 1,
    }
    payload: Payload = {"action": action, "number": number}
    if action == "synchronize":
        payload.update({"before": fake_sha("before", full_name, head_sha), "after": head_sha})
    payload["pull_request"] = pull
    return _envelope(payload, full_name, user(sender))


# ---- checks and runs


def _head_commit(sha: str, message: str, author: str, *, usernames: bool = False) -> Payload:
    """workflow_run.head_commit; check_suite's also names the accounts (usernames=True)."""
    person = _account_author if usernames else _author
    return {
        "id": sha,
        "tree_id": fake_sha("tree", sha),
        "message": message,
        "timestamp": REPO_PUSHED_AT,
        "author": person(author),
        "committer": person(author),
    }


def _pull_reference(full_name: str, number: int, head_ref: str, head_sha: str, base_ref: str) -> Payload:
    """A pull request as check_suite.pull_requests and workflow_run.pull_requests list it."""
    repo = {
        "id": stable_id("repository", full_name),
        "url": _repo_api(full_name),
        "name": full_name.split("/")[1],
    }
    return {
        "url": f"{_repo_api(full_name)}/pulls/{number}",
        "id": _pull_id(full_name, number),
        "number": number,
        "head": {"ref": head_ref, "sha": head_sha, "repo": repo},
        "base": {"ref": base_ref, "sha": fake_sha("base", full_name, base_ref), "repo": dict(repo)},
    }


def workflow_run(
    action: str,
    display_title: str,
    conclusion: str | None,
    run_id: int = 7,
    name: str = "dbvend",
    head_branch: str = DEFAULT_BRANCH,
    full_name: str = DEFAULT_REPOSITORY,
    *,
    head_sha: str = HEAD_SHA,
    event: str = "workflow_dispatch",
    sender: str = "alice",
    pull_numbers: Sequence[int] = (),
) -> Payload:
    """A `workflow_run` delivery (requested, in_progress, completed) with its `workflow`.

    The workflow file is .github/workflows/<name>.yml; `display_title` is the run's name as the
    workflow's run-name sets it (dbvend reads "dbvend <command> #<pull request>" from it).
    """
    api = _repo_api(full_name)
    path = f".github/workflows/{_slug(name)}.yml"
    workflow_id = stable_id("workflow", full_name, path)
    suite_id = stable_id("check_suite", full_name, "run", run_id)
    run_api = f"{api}/actions/runs/{run_id}"
    actor = user(sender)
    workflow = {
        "id": workflow_id,
        "node_id": node_id("Workflow", workflow_id),
        "name": name,
        "path": path,
        "state": "active",
        "created_at": REPO_CREATED_AT,
        "updated_at": REPO_CREATED_AT,
        "url": f"{api}/actions/workflows/{workflow_id}",
        "html_url": f"{WEB}/{full_name}/blob/{DEFAULT_BRANCH}/{path}",
        "badge_url": f"{WEB}/{full_name}/workflows/{quote(name)}/badge.svg",
    }
    status = {"requested": "queued", "in_progress": "in_progress"}.get(action, "completed")
    run = {
        "id": run_id,
        "name": name,
        "node_id": node_id("WorkflowRun", run_id),
        "head_branch": head_branch,
        "head_sha": head_sha,
        "path": path,
        "display_title": display_title,
        "run_number": run_id,
        "event": event,
        "status": status,
        "conclusion": conclusion,
        "workflow_id": workflow_id,
        "check_suite_id": suite_id,
        "check_suite_node_id": node_id("CheckSuite", suite_id),
        "url": run_api,
        "html_url": f"{WEB}/{full_name}/actions/runs/{run_id}",
        "pull_requests": [
            _pull_reference(full_name, number, head_branch, head_sha, DEFAULT_BRANCH)
            for number in pull_numbers
        ],
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT if action == "requested" else EVENT_AT,
        "actor": actor,
        "run_attempt": 1,
        "referenced_workflows": [],
        "run_started_at": CREATED_AT,
        "triggering_actor": actor,
        "jobs_url": f"{run_api}/jobs",
        "logs_url": f"{run_api}/logs",
        "check_suite_url": f"{api}/check-suites/{suite_id}",
        "artifacts_url": f"{run_api}/artifacts",
        "cancel_url": f"{run_api}/cancel",
        "rerun_url": f"{run_api}/rerun",
        "previous_attempt_url": None,
        "workflow_url": workflow["url"],
        "head_commit": _head_commit(head_sha, display_title, sender),
        "repository": _repository_core(full_name),
        "head_repository": _repository_core(full_name),
    }
    return _envelope({"action": action, "workflow_run": run, "workflow": workflow}, full_name, actor)


def check_suite(
    action: str,
    head_branch: str,
    head_sha: str,
    conclusion: str | None,
    pull_numbers: Sequence[int] = (),
    app_name: str = "GitHub Actions",
    full_name: str = DEFAULT_REPOSITORY,
    *,
    base_ref: str = DEFAULT_BRANCH,
    sender: str = "alice",
) -> Payload:
    """A `check_suite` delivery (requested, rerequested, completed) for `app_name`'s suite on head_sha."""
    suite_id = stable_id("check_suite", full_name, app_name, head_sha)
    api = f"{_repo_api(full_name)}/check-suites/{suite_id}"
    completed = action == "completed"
    suite = {
        "id": suite_id,
        "node_id": node_id("CheckSuite", suite_id),
        "head_branch": head_branch,
        "head_sha": head_sha,
        "status": "completed" if completed else "queued",
        "conclusion": conclusion,
        "url": api,
        "before": fake_sha("before", full_name, head_sha),
        "after": head_sha,
        "pull_requests": [
            _pull_reference(full_name, number, head_branch, head_sha, base_ref) for number in pull_numbers
        ],
        "app": _app(app_name, _owner(full_name)),
        "created_at": CREATED_AT,
        "updated_at": EVENT_AT if completed else CREATED_AT,
        "rerequestable": True,
        "runs_rerequestable": True,
        "latest_check_runs_count": 1 if completed else 0,
        "check_runs_url": f"{api}/check-runs",
        "head_commit": _head_commit(head_sha, f"dbvend: {head_branch}", sender, usernames=True),
    }
    return _envelope({"action": action, "check_suite": suite}, full_name, user(sender))


# ---- ping


def ping(
    hook_id: int = 1,
    full_name: str = DEFAULT_REPOSITORY,
    *,
    sender: str = "alice",
    url: str = "https://dbvend.example.com/github/webhook",
    events: Sequence[str] = HOOK_EVENTS,
) -> Payload:
    """The `ping` GitHub sends when a repository webhook is created."""
    api = f"{_repo_api(full_name)}/hooks/{hook_id}"
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": hook_id,
        "hook": {
            "type": "Repository",
            "id": hook_id,
            "name": "web",
            "active": True,
            "events": list(events),
            "config": {"content_type": "json", "insecure_ssl": "0", "secret": "********", "url": url},
            "updated_at": CREATED_AT,
            "created_at": CREATED_AT,
            "url": api,
            "test_url": f"{api}/test",
            "ping_url": f"{api}/pings",
            "deliveries_url": f"{api}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        },
        "repository": repository(full_name),
        "sender": user(sender),
    }
