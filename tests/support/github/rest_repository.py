"""REST endpoints of the App and the repository: installation tokens, the repository, git refs,
contents, collaborators' roles and team memberships."""

from __future__ import annotations

import base64
import secrets
import zlib
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from starlette.responses import JSONResponse, Response

from tests.support.github.errors import GitHubError, not_found
from tests.support.github.git import ZERO_OID
from tests.support.github.records import WEB, crc_id, iso, node_id, now
from tests.support.github.rest import REPO, Call, Router
from tests.support.github.shapes import (
    INSTALLATION_EVENTS,
    INSTALLATION_PERMISSIONS,
    repository_json,
    user_json,
)
from tests.support.github.state import PERMISSIONS, GitHubState

LEGACY_PERMISSION = {"triage": "read", "maintain": "write"}  # role_name -> the `permission` field

router = Router()


# -- apps -------------------------------------------------------------------------------------


@router.route("POST", r"/app/installations/(?P<installation_id>\d+)/access_tokens")
def _create_token(github: GitHubState, call: Call) -> Response:
    """POST /app/installations/{installation_id}/access_tokens"""
    if call.number("installation_id") != github.installation_id:
        raise not_found()
    token = "ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "B")[:36]
    github.issued_tokens.append(token)
    result: dict[str, Any] = {
        "token": token,
        "expires_at": iso(now() + timedelta(hours=1)),
        "permissions": call.fields.get("permissions") or INSTALLATION_PERMISSIONS,
        "repository_selection": "all",
    }
    if call.fields.get("repositories"):
        result["repository_selection"] = "selected"
        result["repositories"] = [repository_json(github)]
    return JSONResponse(result, status_code=201)


@router.route("GET", REPO + "/installation")
def _get_installation(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/installation"""
    iid = github.installation_id
    return JSONResponse(
        {
            "id": iid,
            "client_id": f"Iv1.{github.app_id:016x}",
            "account": user_json(github, github.owner, "Organization"),
            "repository_selection": "all",
            "access_tokens_url": f"{github.url}app/installations/{iid}/access_tokens",
            "repositories_url": f"{github.url}installation/repositories",
            "html_url": f"{WEB}/organizations/{github.owner}/settings/installations/{iid}",
            "app_id": github.app_id,
            "app_slug": github.app_slug,
            "target_id": crc_id(github.owner),
            "target_type": "Organization",
            "permissions": INSTALLATION_PERMISSIONS,
            "events": INSTALLATION_EVENTS,
            "created_at": iso(github.created_at),
            "updated_at": iso(github.created_at),
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": None,
        }
    )


# -- repository, refs, contents ---------------------------------------------------------------


@router.route("GET", REPO)
def _get_repository(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}"""
    organization = user_json(github, github.owner, "Organization")
    extra = {"subscribers_count": 0, "network_count": 0, "organization": organization}
    return JSONResponse({**repository_json(github), **extra, "security_and_analysis": None})


def ref_json(github: GitHubState, ref: str, sha: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "node_id": node_id("REF", zlib.crc32(ref.encode())),
        "url": f"{github.api}/git/{ref}",
        "object": {"type": "commit", "sha": sha, "url": f"{github.api}/git/commits/{sha}"},
    }


@router.route("GET", REPO + "/git/ref/(?P<ref>.+)")
def _get_ref(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/git/ref/{ref}: exact matches only."""
    ref = "refs/" + call.params["ref"]
    sha = github.git.ref_sha(ref)
    if sha is None:
        raise not_found()
    return JSONResponse(ref_json(github, ref, sha))


@router.route("POST", REPO + "/git/refs")
def _create_ref(github: GitHubState, call: Call) -> Response:
    """POST /repos/{owner}/{repo}/git/refs {ref, sha}"""
    ref, sha = call.fields.get("ref"), call.fields.get("sha")
    if not isinstance(ref, str) or not isinstance(sha, str):
        raise GitHubError(422, 'Invalid request.\n\n"ref", "sha" weren\'t supplied.')
    if not github.git.valid_ref(ref):
        raise GitHubError(422, "Reference name is invalid")
    commit = github.git.commit_of_sha(sha)
    if commit is None:
        raise GitHubError(422, "Object does not exist")
    if not github.git.update_ref(ref, commit, ZERO_OID):
        raise GitHubError(422, "Reference already exists")
    location = f"{github.api}/git/{ref}"
    return JSONResponse(ref_json(github, ref, commit), status_code=201, headers={"Location": location})


@router.route("DELETE", REPO + "/git/refs/(?P<ref>.+)")
def _delete_ref(github: GitHubState, call: Call) -> Response:
    """DELETE /repos/{owner}/{repo}/git/refs/{ref}; deleting a head branch closes its open pulls."""
    ref = "refs/" + call.params["ref"]
    if github.git.ref_sha(ref) is None:
        raise GitHubError(422, "Reference does not exist")
    if ref == f"refs/heads/{github.default_branch}":
        raise GitHubError(422, "Cannot delete the default branch")
    for pull in github.open_pulls():
        if github.head_ref(pull) == ref:
            github.change_state(pull, "closed")
    github.git.delete_ref(ref)
    return Response(status_code=204)


@router.route("GET", REPO + "/contents(?:/(?P<path>.*))?")
def _get_content(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/contents/{path}?ref= : a file (base64) or a directory listing."""
    ref = call.query.get("ref") or github.default_branch
    path = call.params.get("path", "").strip("/")
    commit = github.git.resolve_commit(ref)
    if commit is None:
        raise GitHubError(404, f"No commit found for the ref {ref}")
    oid = github.git.resolve(f"{commit}:{path}")
    if oid is None:
        raise not_found()
    if github.git.object_type(oid) == "tree":
        entries = github.git.tree_entries(f"{commit}:{path}")
        listing = [
            _content_entry(
                github, ref, f"{path}/{name}".lstrip("/"), entry_oid, "dir" if kind == "tree" else "file"
            )
            for kind, entry_oid, name in entries
        ]
        return JSONResponse(listing)
    data = github.git.blob(oid)
    encoded = base64.b64encode(data).decode()
    content = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
    entry = _content_entry(github, ref, path, oid, "file", len(data))
    return JSONResponse({**entry, "content": content, "encoding": "base64"})


def _content_entry(
    github: GitHubState, ref: str, path: str, oid: str, kind: str, size: int = 0
) -> dict[str, Any]:
    url = f"{github.api}/contents/{quote(path)}?ref={quote(ref, safe='')}"
    git_url = f"{github.api}/git/{'trees' if kind == 'dir' else 'blobs'}/{oid}"
    html_url = f"{github.web}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
    raw_url = f"https://raw.githubusercontent.com/{github.owner}/{github.repo}/{ref}/{path}"
    return {
        "type": kind,
        "size": size,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": oid,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": None if kind == "dir" else raw_url,
        "_links": {"self": url, "git": git_url, "html": html_url},
    }


# -- collaborators and teams ------------------------------------------------------------------


@router.route("GET", REPO + "/collaborators/(?P<username>[^/]+)/permission")
def _get_permission(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/collaborators/{username}/permission"""
    user = call.params["username"]
    role = github.role(user)
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
            "user": {**user_json(github, user), "permissions": flags, "role_name": role},
        }
    )


@router.route("GET", r"/orgs/(?P<org>[^/]+)/teams/(?P<team>[^/]+)/memberships/(?P<username>[^/]+)")
def _get_team_membership(github: GitHubState, call: Call) -> Response:
    """GET /orgs/{org}/teams/{team_slug}/memberships/{username}: 404 unless a member."""
    org, team, user = call.params["org"], call.params["team"], call.params["username"]
    members = {login.casefold(): state for login, state in github.teams.get(team, {}).items()}
    if org.casefold() != github.owner.casefold() or user.casefold() not in members:
        raise not_found()
    return JSONResponse(
        {
            "url": f"{github.url}organizations/1/team/{crc_id(team)}/memberships/{user}",
            "role": "member",
            "state": members[user.casefold()],
        }
    )
