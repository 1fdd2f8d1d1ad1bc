"""The JSON shapes several REST answers share, after GitHub's OpenAPI description: simple-user,
repository, integration (an app) and label."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.support.github.records import WEB, crc_id, iso, node_id
from tests.support.github.state import GitHubState
from tests.support.github_payloads import APP_PERMISSIONS

INSTALLATION_PERMISSIONS = APP_PERMISSIONS  # what the manifest asks for
INSTALLATION_EVENTS = ["check_run", "issue_comment", "pull_request", "pull_request_review", "push"]


def user_json(github: GitHubState, login: str, kind: str | None = None) -> dict[str, Any]:
    kind = kind or ("Bot" if login.endswith("[bot]") else "User")
    user_id = crc_id(login)
    api = f"{github.url}users/{quote(login)}"
    return {
        "login": login,
        "id": user_id,
        "node_id": node_id("U", user_id),
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


def repository_json(github: GitHubState, owner: str | None = None) -> dict[str, Any]:
    """The `repository` schema (as in pull request heads and bases); with another `owner`, that
    user's fork of this repository (a fork of a private repository is private too)."""
    owner = owner or github.owner
    fork = owner.casefold() != github.owner.casefold()
    api, web = f"{github.url}repos/{owner}/{github.repo}", f"{WEB}/{owner}/{github.repo}"
    repo_id = github.repository_id_of(owner)
    open_issues = 0 if fork else len(github.open_pulls())
    pushed = max(
        (pull.updated_at or pull.created_at for pull in github.pulls.values()), default=github.created_at
    )
    return {
        "id": repo_id,
        "node_id": node_id("R", repo_id),
        "name": github.repo,
        "full_name": f"{owner}/{github.repo}",
        "private": True,
        "owner": user_json(github, owner, "User" if fork else "Organization"),
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
        "git_url": f"git://github.com/{owner}/{github.repo}.git",
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
        "ssh_url": f"git@github.com:{owner}/{github.repo}.git",
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
        "default_branch": github.default_branch,
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
        "pushed_at": iso(pushed),
        "created_at": iso(github.created_at),
        "updated_at": iso(pushed),
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


def integration_json(github: GitHubState, slug: str) -> dict[str, Any]:
    app_id = github.app_id if slug == github.app_slug else crc_id(slug, 10_000)
    return {
        "id": app_id,
        "slug": slug,
        "node_id": node_id("A", app_id),
        "client_id": f"Iv1.{app_id:016x}",
        "owner": user_json(github, github.owner, "Organization"),
        "name": slug,
        "description": None,
        "external_url": f"{WEB}/apps/{slug}",
        "html_url": f"{WEB}/apps/{slug}",
        "created_at": iso(github.created_at),
        "updated_at": iso(github.created_at),
        "permissions": INSTALLATION_PERMISSIONS,
        "events": INSTALLATION_EVENTS,
    }


def label_json(github: GitHubState, name: str) -> dict[str, Any]:
    label = github.labels[name]
    return {
        "id": label["id"],
        "node_id": node_id("LA", label["id"]),
        "url": f"{github.api}/labels/{quote(name)}",
        "name": name,
        "description": None,
        "color": label["color"],
        "default": False,
        "archived_at": None,
        "archived_by": None,
    }
