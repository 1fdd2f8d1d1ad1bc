"""REST endpoints of issues (a pull request is an issue too): issues, labels, comments, reactions."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from tests.support.github.errors import REOPEN_MERGED, GitHubError, validation_failed
from tests.support.github.records import IssueRecord, PullRequestRecord, crc_id, iso, node_id, now
from tests.support.github.rest import NUMBER, REPO, Call, Router, paged
from tests.support.github.shapes import label_json, user_json
from tests.support.github.state import GitHubState

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
MAX_BODY = 65536  # characters in an issue's or a comment's body
COMMENT = REPO + r"/issues/comments/(?P<comment_id>\d+)"

router = Router()


def _issue_json(github: GitHubState, issue: PullRequestRecord | IssueRecord) -> dict[str, Any]:
    """The `issue` schema; a pull request is an issue too, with a `pull_request` key (as GitHub lists)."""
    api, web, number = github.api, github.web, issue.number
    url = f"{api}/issues/{number}"
    is_pull = isinstance(issue, PullRequestRecord)
    issue_id = crc_id(f"issue/{number}", 3_000_000_000)
    closed_by = issue.merged_by if isinstance(issue, PullRequestRecord) else issue.closed_by
    data: dict[str, Any] = {
        "id": issue_id,
        "node_id": node_id("I", issue_id),
        "url": url,
        "repository_url": api,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{web}/{'pull' if is_pull else 'issues'}/{number}",
        "number": number,
        "state": issue.state,
        "state_reason": None if isinstance(issue, PullRequestRecord) else issue.state_reason,
        "title": issue.title,
        "body": issue.body,
        "user": user_json(github, issue.user),
        "labels": [label_json(github, name) for name in issue.labels],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": len(github.comment_bodies(number)),
        "closed_at": iso(issue.closed_at),
        "created_at": iso(issue.created_at),
        "updated_at": iso(issue.updated_at or issue.created_at),
        "closed_by": None if issue.state == "open" or closed_by is None else user_json(github, closed_by),
        "author_association": github.association(issue.user),
        "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
        "reactions": {"url": f"{url}/reactions", "total_count": 0, **dict.fromkeys(REACTIONS, 0)},
    }
    if isinstance(issue, PullRequestRecord):
        data["draft"] = issue.draft
        data["pull_request"] = {
            "url": f"{api}/pulls/{number}",
            "html_url": f"{web}/pull/{number}",
            "diff_url": f"{web}/pull/{number}.diff",
            "patch_url": f"{web}/pull/{number}.patch",
            "merged_at": iso(issue.merged_at),
        }
    return data


def _issue_body(text: Any) -> str | None:
    """An issue's body as sent: a string within GitHub's limit, or None."""
    if text is not None and not isinstance(text, str):
        raise validation_failed("Issue", field="body", code="invalid")
    if text is not None and len(text) > MAX_BODY:
        raise validation_failed("Issue", field="body", code="custom", message="body is too long")
    return text


def _labels(github: GitHubState, given: Any) -> list[str]:
    if not isinstance(given, list):
        raise validation_failed("Issue", field="labels", code="invalid")
    return github.label_names(given)


@router.route("POST", REPO + "/issues")
def _create_issue(github: GitHubState, call: Call) -> Response:
    """POST /repos/{owner}/{repo}/issues {title, body, labels}: 201, opened by the app's bot."""
    title = call.fields.get("title")
    if isinstance(title, int) and not isinstance(title, bool):
        title = str(title)
    if not isinstance(title, str) or not title.strip():
        raise validation_failed("Issue", field="title", code="missing_field")
    text = _issue_body(call.fields.get("body"))
    issue = github.open_issue(title, text, github.actor, _labels(github, call.fields.get("labels", [])))
    location = f"{github.api}/issues/{issue.number}"
    return JSONResponse(_issue_json(github, issue), status_code=201, headers={"Location": location})


@router.route("GET", REPO + "/issues")
def _list_issues(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/issues?state=&labels=a,b&sort=&direction= (pull requests included)"""
    state = call.query.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed("Issue", field="state", code="invalid")
    wanted = [name.strip() for name in call.query.get("labels", "").split(",") if name.strip()]
    sort = call.query.get("sort", "created")
    if sort not in ("created", "updated", "comments"):
        raise validation_failed("Issue", field="sort", code="invalid")
    items: list[PullRequestRecord | IssueRecord] = [*github.pulls.values(), *github.issues.values()]
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
            return len(github.comment_bodies(item.number)), item.number
        return item.created_at, item.number

    selected.sort(key=key, reverse=call.query.get("direction", "desc") != "asc")
    return paged(github, call, [_issue_json(github, item) for item in selected])


@router.route("GET", REPO + f"/issues/{NUMBER}")
def _get_issue(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/issues/{number} (a pull request's number answers too)"""
    return JSONResponse(_issue_json(github, github.issue(call.number())))


@router.route("PATCH", REPO + f"/issues/{NUMBER}")
def _update_issue(github: GitHubState, call: Call) -> Response:
    """PATCH /repos/{owner}/{repo}/issues/{number} {title, body, state, state_reason, labels}"""
    issue = github.issue(call.number())
    body = call.fields
    state, reason = body.get("state", issue.state), body.get("state_reason")
    if state not in ("open", "closed"):
        raise validation_failed("Issue", field="state", code="invalid")
    if reason not in (None, "completed", "not_planned", "duplicate", "reopened"):
        raise validation_failed("Issue", field="state_reason", code="invalid")
    if "title" in body and (not isinstance(body["title"], str) or not body["title"].strip()):
        raise validation_failed("Issue", field="title", code="missing_field")
    _issue_body(body.get("body"))
    if isinstance(issue, PullRequestRecord) and state == "open" and issue.merged_at is not None:
        raise validation_failed("PullRequest", code="custom", message=REOPEN_MERGED)
    if "title" in body:
        issue.title = body["title"]
    if "body" in body:
        issue.body = body["body"]
    if "labels" in body:
        issue.labels = _labels(github, body["labels"])
    if state != issue.state:
        github.change_state(issue, state)
        if isinstance(issue, IssueRecord):
            issue.closed_by = github.actor if state == "closed" else None
            issue.state_reason = reason or ("completed" if state == "closed" else "reopened")
    elif isinstance(issue, IssueRecord) and reason is not None and state == "closed":
        issue.state_reason = reason
    issue.updated_at = now()
    return JSONResponse(_issue_json(github, issue))


@router.route("POST", REPO + f"/issues/{NUMBER}/labels")
def _add_labels(github: GitHubState, call: Call) -> Response:
    """POST /repos/{owner}/{repo}/issues/{number}/labels {labels: [...]}: unknown labels are created."""
    issue = github.issue(call.number())
    given = call.body.get("labels") if isinstance(call.body, dict) else call.body
    if not isinstance(given, list) or not given:
        raise validation_failed("Label", field="labels", code="missing_field")
    issue.labels.extend(name for name in github.label_names(given) if name not in issue.labels)
    issue.updated_at = now()
    return JSONResponse([label_json(github, name) for name in issue.labels])


# -- comments and their reactions ---------------------------------------------------------------


def comment_json(github: GitHubState, comment: dict[str, Any]) -> dict[str, Any]:
    number, comment_id = comment["issue_number"], comment["id"]
    url = f"{github.api}/issues/comments/{comment_id}"
    kind = "pull" if number in github.pulls else "issues"
    reactions = [reaction["content"] for reaction in github.reactions if reaction["comment_id"] == comment_id]
    return {
        "id": comment_id,
        "node_id": node_id("IC", comment_id),
        "url": url,
        "html_url": f"{github.web}/{kind}/{number}#issuecomment-{comment_id}",
        "body": comment["body"],
        "user": user_json(github, comment["user"]),
        "created_at": iso(comment["created_at"]),
        "updated_at": iso(comment["updated_at"]),
        "issue_url": f"{github.api}/issues/{number}",
        "author_association": github.association(comment["user"]),
        "performed_via_github_app": None,
        "reactions": {
            "url": f"{url}/reactions",
            "total_count": len(reactions),
            **{content: reactions.count(content) for content in REACTIONS},
        },
    }


def _comment_body(call: Call) -> str:
    body = call.fields.get("body")
    if not isinstance(body, str) or not body:
        raise validation_failed("IssueComment", field="body", code="missing_field")
    if len(body) > MAX_BODY:
        raise validation_failed("IssueComment", field="body", code="custom", message="Body is too long")
    return body


def _refuse_others(github: GitHubState, comment: dict[str, Any]) -> None:
    """The App may change only its own comments."""
    if comment["user"] != github.actor:
        raise GitHubError(403, "Resource not accessible by integration")


@router.route("POST", REPO + f"/issues/{NUMBER}/comments")
def _create_comment(github: GitHubState, call: Call) -> Response:
    """POST /repos/{owner}/{repo}/issues/{number}/comments {body}"""
    number = call.number()
    github.issue(number)
    comment = github.new_comment(number, github.actor, _comment_body(call))
    location = f"{github.api}/issues/comments/{comment['id']}"
    return JSONResponse(comment_json(github, comment), status_code=201, headers={"Location": location})


@router.route("GET", REPO + f"/issues/{NUMBER}/comments")
def _list_comments(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/issues/{number}/comments (oldest first)"""
    number = call.number()
    github.issue(number)
    comments = [
        comment_json(github, comment) for comment in github.comments if comment["issue_number"] == number
    ]
    return paged(github, call, comments)


@router.route("PATCH", COMMENT)
def _update_comment(github: GitHubState, call: Call) -> Response:
    """PATCH /repos/{owner}/{repo}/issues/comments/{comment_id} {body}: only the app's own comments."""
    comment = github.comment(call.number("comment_id"))
    body = _comment_body(call)
    _refuse_others(github, comment)
    comment["body"], comment["updated_at"] = body, now()
    return JSONResponse(comment_json(github, comment))


@router.route("DELETE", COMMENT)
def _delete_comment(github: GitHubState, call: Call) -> Response:
    """DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}: 204; only the app's own comments."""
    comment = github.comment(call.number("comment_id"))
    _refuse_others(github, comment)
    github.comments.remove(comment)
    return Response(status_code=204)


@router.route("POST", COMMENT + "/reactions")
def _create_reaction(github: GitHubState, call: Call) -> Response:
    """POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions {content}; 200 when repeated."""
    comment = github.comment(call.number("comment_id"))
    content = call.fields.get("content")
    if content not in REACTIONS:
        raise validation_failed("Reaction", field="content", code="invalid")
    mine = (comment["id"], github.actor, content)
    reaction = next((r for r in github.reactions if (r["comment_id"], r["user"], r["content"]) == mine), None)
    status = 200
    if reaction is None:
        status = 201
        reaction = {
            "id": github.new_id(),
            "comment_id": comment["id"],
            "user": github.actor,
            "content": content,
            "created_at": now(),
        }
        github.reactions.append(reaction)
    return JSONResponse(
        {
            "id": reaction["id"],
            "node_id": node_id("REA", reaction["id"]),
            "user": user_json(github, reaction["user"]),
            "content": reaction["content"],
            "created_at": iso(reaction["created_at"]),
        },
        status_code=status,
    )
