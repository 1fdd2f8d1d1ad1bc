"""REST endpoints of pull requests: open, list, read, update, merge, and their reviews."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from tests.support.github.errors import REOPEN_MERGED, GitHubError, validation_failed
from tests.support.github.records import PullRequestRecord, iso, node_id, now, pull_database_id
from tests.support.github.rest import NUMBER, REPO, Call, Router, paged
from tests.support.github.shapes import label_json, repository_json, user_json
from tests.support.github.state import GitHubState

router = Router()


def pull_json(github: GitHubState, pull: PullRequestRecord, simple: bool = False) -> dict[str, Any]:
    """The `pull-request` schema; simple: the `pull-request-simple` one pull request lists hold."""
    api, web, number = github.api, github.web, pull.number
    head_sha = github.current_head_sha(pull)
    base_sha = github.branch_sha(pull.base_ref) or head_sha
    pull_id = pull_database_id(number)
    data: dict[str, Any] = {
        "url": f"{api}/pulls/{number}",
        "id": pull_id,
        "node_id": node_id("PR", pull_id),
        "html_url": f"{web}/pull/{number}",
        "diff_url": f"{web}/pull/{number}.diff",
        "patch_url": f"{web}/pull/{number}.patch",
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
        "user": user_json(github, pull.user),
        "body": pull.body,
        "labels": [label_json(github, name) for name in pull.labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(pull.created_at),
        "updated_at": iso(pull.updated_at or pull.created_at),
        "closed_at": iso(pull.closed_at),
        "merged_at": iso(pull.merged_at),
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": _head_json(github, pull, head_sha),
        "base": {
            "label": f"{github.owner}:{pull.base_ref}",
            "ref": pull.base_ref,
            "sha": base_sha,
            "user": user_json(github, github.owner, "Organization"),
            "repo": repository_json(github),
        },
        "_links": {
            "self": {"href": f"{api}/pulls/{number}"},
            "html": {"href": f"{web}/pull/{number}"},
            "issue": {"href": f"{api}/issues/{number}"},
            "comments": {"href": f"{api}/issues/{number}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{head_sha}"},
        },
        "author_association": github.association(pull.user),
        "auto_merge": None,
        "draft": pull.draft,
    }
    if simple:
        return data
    mergeable, mergeable_state = github.mergeability(pull)
    additions, deletions, changed_files = github.git.diff_stats(base_sha, head_sha)
    return {
        **data,
        "merged": pull.merged_at is not None,
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": mergeable_state,
        "merged_by": None if pull.merged_by is None else user_json(github, pull.merged_by),
        "comments": len(github.comment_bodies(number)),
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": github.git.count_commits(base_sha, head_sha) if pull.merged_at is None else 1,
        "additions": additions,
        "deletions": deletions,
        "changed_files": changed_files,
    }


def _head_json(github: GitHubState, pull: PullRequestRecord, sha: str) -> dict[str, Any]:
    """A pull's `head`: a fork's carries its owner and repository (null once the fork is deleted)."""
    owner = pull.head_owner or github.owner
    return {
        "label": f"{owner}:{pull.head_ref}",
        "ref": pull.head_ref,
        "sha": sha,
        "user": user_json(github, owner, "Organization" if pull.head_owner is None else None),
        "repo": None if pull.head_repository_deleted else repository_json(github, owner),
    }


def _head_filter_matches(github: GitHubState, pull: PullRequestRecord, head: str) -> bool:
    """REST `?head=user:ref` (a bare ref means this repository's owner): GitHub matches the owner
    too, so a fork's pull with the same branch name is not listed (unlike GraphQL headRefName)."""
    owner, _, ref = head.rpartition(":")
    same_owner = (owner or github.owner).casefold() == (pull.head_owner or github.owner).casefold()
    return same_owner and ref == pull.head_ref


@router.route("POST", REPO + "/pulls")
def _create_pull(github: GitHubState, call: Call) -> Response:
    """POST /repos/{owner}/{repo}/pulls {title, head, base, body, draft}"""
    body = call.fields
    for name in ("title", "head", "base"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise validation_failed("PullRequest", field=name, code="missing_field")
    head = body["head"]
    head_owner, head_ref = head.split(":", 1) if ":" in head else (github.owner, head)
    if head_owner.lower() != github.owner.lower():
        raise validation_failed("PullRequest", field="head", code="invalid")
    head_sha, base_sha = github.branch_sha(head_ref), github.branch_sha(body["base"])
    if head_sha is None:
        raise validation_failed("PullRequest", field="head", code="invalid")
    if base_sha is None:
        raise validation_failed("PullRequest", field="base", code="invalid")
    for pull in github.open_pulls():
        if pull.head_owner is None and pull.head_ref == head_ref and pull.base_ref == body["base"]:
            message = f"A pull request already exists for {github.owner}:{head_ref}."
            raise validation_failed("PullRequest", code="custom", message=message)
    if github.git.count_commits(base_sha, head_sha) == 0:
        message = f"No commits between {body['base']} and {head_ref}"
        raise validation_failed("PullRequest", code="custom", message=message)
    draft = bool(body.get("draft", False))
    pull = github.open_pull(
        body["title"], body.get("body"), head_ref, body["base"], head_sha, github.actor, draft
    )
    location = f"{github.api}/pulls/{pull.number}"
    return JSONResponse(pull_json(github, pull), status_code=201, headers={"Location": location})


@router.route("GET", REPO + "/pulls")
def _list_pulls(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/pulls?state=&head=owner:branch&base= (newest first)"""
    state = call.query.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed("PullRequest", field="state", code="invalid")
    head, base = call.query.get("head"), call.query.get("base")
    pulls = sorted(github.pulls.values(), key=lambda pull: pull.number, reverse=True)
    if call.query.get("direction") == "asc":
        pulls.reverse()
    selected = [
        pull_json(github, pull, simple=True)
        for pull in pulls
        if (state == "all" or pull.state == state)
        and (head is None or _head_filter_matches(github, pull, head))
        and (base is None or pull.base_ref == base)
    ]
    return paged(github, call, selected)


@router.route("GET", REPO + f"/pulls/{NUMBER}")
def _get_pull(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/pulls/{number}"""
    return JSONResponse(pull_json(github, github.pull(call.number())))


@router.route("PATCH", REPO + f"/pulls/{NUMBER}")
def _update_pull(github: GitHubState, call: Call) -> Response:
    """PATCH /repos/{owner}/{repo}/pulls/{number} {title, body, state, base}"""
    pull = github.pull(call.number())
    body = call.fields
    if "state" in body:
        if body["state"] not in ("open", "closed"):
            raise validation_failed("PullRequest", field="state", code="invalid")
        if body["state"] == "open" and pull.merged_at is not None:
            raise validation_failed("PullRequest", code="custom", message=REOPEN_MERGED)
        if body["state"] != pull.state:
            github.change_state(pull, body["state"])
    if "title" in body:
        pull.title = body["title"]
    if "body" in body:
        pull.body = body["body"]
    if "base" in body:
        if github.branch_sha(body["base"]) is None:
            raise validation_failed("PullRequest", field="base", code="invalid")
        pull.base_ref = body["base"]
    pull.updated_at = now()
    return JSONResponse(pull_json(github, pull))


@router.route("PUT", REPO + f"/pulls/{NUMBER}/merge")
def _merge_pull(github: GitHubState, call: Call) -> Response:
    """PUT /repos/{owner}/{repo}/pulls/{number}/merge: a real merge (or squash) commit on the base."""
    pull = github.pull(call.number())
    body = call.fields
    method = body.get("merge_method", "merge")
    if method == "rebase":
        raise GitHubError(405, "Rebase merges are not allowed on this repository.")
    if method not in ("merge", "squash"):
        raise validation_failed("PullRequest", field="merge_method", code="invalid")
    mergeable, _state = github.mergeability(pull)
    if pull.state != "open" or mergeable is not True:
        raise GitHubError(405, "Pull Request is not mergeable")
    head_sha = github.current_head_sha(pull)
    if body.get("sha") not in (None, head_sha):
        raise GitHubError(409, "Head branch was modified. Review and try the merge again.")
    base_ref = f"refs/heads/{pull.base_ref}"
    base_sha = github.git.ref_sha(base_ref)
    tree = None if base_sha is None else github.git.merge_tree(base_sha, head_sha)
    if base_sha is None or tree is None:
        raise GitHubError(405, "Pull Request is not mergeable")
    if method == "merge":
        head_label = f"{pull.head_owner or github.owner}/{pull.head_ref}"
        title = body.get("commit_title") or f"Merge pull request #{pull.number} from {head_label}"
        message = body.get("commit_message", pull.title)
        parents = [base_sha, head_sha]
    else:
        title = body.get("commit_title") or f"{pull.title} (#{pull.number})"
        message = body.get("commit_message") or github.git.git(
            "log", "--reverse", "--format=* %s", f"{base_sha}..{head_sha}"
        )
        parents = [base_sha]
    full_message = f"{title}\n\n{message}".rstrip() + "\n"
    sha = github.git.commit_tree(tree, parents, full_message, github.bot_identity)
    if not github.git.update_ref(base_ref, sha, base_sha):
        raise GitHubError(409, "Base branch was modified. Review and try the merge again.")
    github.change_state(pull, "closed")
    pull.merged_at, pull.merged_by, pull.merge_commit_sha = pull.closed_at, github.actor, sha
    return JSONResponse({"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


@router.route("GET", REPO + f"/pulls/{NUMBER}/reviews")
def _list_reviews(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/pulls/{number}/reviews (oldest first)"""
    number = call.number()
    github.pull(number)
    reviews = [_review_json(github, review) for review in github.reviews if review["pr_number"] == number]
    return paged(github, call, reviews)


def _review_json(github: GitHubState, review: dict[str, Any]) -> dict[str, Any]:
    number = review["pr_number"]
    html = f"{github.web}/pull/{number}#pullrequestreview-{review['id']}"
    return {
        "id": review["id"],
        "node_id": node_id("PRR", review["id"]),
        "user": user_json(github, review["user"]),
        "body": review["body"],
        "state": review["state"],
        "html_url": html,
        "pull_request_url": f"{github.api}/pulls/{number}",
        "_links": {"html": {"href": html}, "pull_request": {"href": f"{github.api}/pulls/{number}"}},
        "submitted_at": iso(review["submitted_at"]),
        "commit_id": review["commit_id"],
        "author_association": github.association(review["user"]),
    }
