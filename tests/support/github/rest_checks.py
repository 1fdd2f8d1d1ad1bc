"""REST endpoints of CI: check runs (create, update, list) and workflow dispatches."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from tests.support.github.errors import DOCS_URL, GitHubError, not_found, validation_failed
from tests.support.github.records import PullRequestRecord, iso, node_id, now, pull_database_id
from tests.support.github.rest import REPO, Call, Router, page_of
from tests.support.github.shapes import integration_json
from tests.support.github.state import GitHubState

DISPATCH_DOCS_URL = f"{DOCS_URL}/actions/workflows#create-a-workflow-dispatch-event"
MAX_ANNOTATIONS = 50  # per create/update request, as GitHub documents
MAX_DISPATCH_INPUTS = 25
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

router = Router()


def _check_run_json(github: GitHubState, run: dict[str, Any]) -> dict[str, Any]:
    api, run_id = github.api, run["id"]
    # "The Checks API only looks for pushes in the repository where the check suite or check run
    # were created": pull requests from forks never appear in pull_requests.
    pulls = [
        pull
        for pull in github.open_pulls()
        if pull.head_owner is None and github.current_head_sha(pull) == run["head_sha"]
    ]
    return {
        "id": run_id,
        "head_sha": run["head_sha"],
        "node_id": node_id("CR", run_id),
        "external_id": run["external_id"],
        "url": f"{api}/check-runs/{run_id}",
        "html_url": f"{github.web}/runs/{run_id}",
        "details_url": run["details_url"] or f"{github.web}/runs/{run_id}",
        "status": run["status"],
        "conclusion": run["conclusion"],
        "started_at": iso(run["started_at"]),
        "completed_at": iso(run["completed_at"]),
        "output": {
            **run["output"],
            "annotations_count": len(run["annotations"]),
            "annotations_url": f"{api}/check-runs/{run_id}/annotations",
        },
        "name": run["name"],
        "check_suite": {"id": run["check_suite_id"]},
        "app": integration_json(github, run["app"]),
        "pull_requests": [_minimal_pull_json(github, pull) for pull in pulls],
    }


def _minimal_pull_json(github: GitHubState, pull: PullRequestRecord) -> dict[str, Any]:
    repo = {"id": github.repository_id, "url": github.api, "name": github.repo}
    return {
        "id": pull_database_id(pull.number),
        "number": pull.number,
        "url": f"{github.api}/pulls/{pull.number}",
        "head": {"ref": pull.head_ref, "sha": pull.head_sha, "repo": repo},
        "base": {
            "ref": pull.base_ref,
            "sha": github.branch_sha(pull.base_ref) or pull.head_sha,
            "repo": repo,
        },
    }


def _checked_annotations(output: Any) -> list[dict[str, Any]]:
    """A create or update's `output` annotations, each with the fields GitHub requires."""
    if not isinstance(output, dict) or not output.get("title") or not output.get("summary"):
        raise validation_failed("CheckRun", field="output", code="missing_field")
    annotations: list[dict[str, Any]] = output.get("annotations") or []
    if len(annotations) > MAX_ANNOTATIONS:
        message = f"Only {MAX_ANNOTATIONS} annotations are allowed per request"
        raise validation_failed("CheckRun", field="annotations", code="custom", message=message)
    for annotation in annotations:
        missing = [name for name in ANNOTATION_FIELDS if annotation.get(name) in (None, "")]
        if missing or annotation["annotation_level"] not in ("notice", "warning", "failure"):
            raise validation_failed("CheckRun", field="annotations", code="invalid")
    return annotations


def _apply_check_fields(run: dict[str, Any], body: dict[str, Any]) -> None:
    """Validates everything first, then changes run: a 422 leaves it untouched."""
    status, conclusion = body.get("status"), body.get("conclusion")
    if status is not None and status not in CHECK_STATUSES:
        raise validation_failed("CheckRun", field="status", code="invalid")
    if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
        raise validation_failed("CheckRun", field="conclusion", code="invalid")
    if status == "completed" and conclusion is None and run["conclusion"] is None:
        raise validation_failed("CheckRun", field="conclusion", code="missing_field")
    output = body.get("output")
    annotations = [] if output is None else _checked_annotations(output)
    for name in ("external_id", "details_url", "name"):
        if name in body:
            run[name] = body[name]
    if status is not None:
        run["status"] = status
    if conclusion is not None:
        run["status"], run["conclusion"] = "completed", conclusion
        run["completed_at"] = now()
    if output is not None:
        run["output"] = {key: output.get(key) for key in ("title", "summary", "text")}
        run["annotations"].extend(annotations)


@router.route("POST", REPO + "/check-runs")
def _create_check_run(github: GitHubState, call: Call) -> Response:
    """POST /repos/{owner}/{repo}/check-runs {name, head_sha, status, conclusion, output}"""
    body = call.fields
    for name in ("name", "head_sha"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise validation_failed("CheckRun", field=name, code="missing_field")
    head_sha = github.git.commit_of_sha(body["head_sha"])
    if head_sha is None:
        raise GitHubError(422, f"No commit found for SHA: {body['head_sha']}")
    run = github.new_check_run(body["name"], head_sha, github.app_slug)
    try:
        _apply_check_fields(run, body)
    except GitHubError:
        github.check_runs.remove(run)
        raise
    return JSONResponse(_check_run_json(github, run), status_code=201)


@router.route("PATCH", REPO + r"/check-runs/(?P<check_run_id>\d+)")
def _update_check_run(github: GitHubState, call: Call) -> Response:
    """PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}: annotations accumulate across updates."""
    run_id = call.number("check_run_id")
    run = next((run for run in github.check_runs if run["id"] == run_id), None)
    if run is None:
        raise not_found()
    _apply_check_fields(run, call.fields)
    return JSONResponse(_check_run_json(github, run))


@router.route("GET", REPO + "/commits/(?P<ref>.+)/check-runs")
def _list_check_runs(github: GitHubState, call: Call) -> Response:
    """GET /repos/{owner}/{repo}/commits/{ref}/check-runs?check_name=&status=&filter=latest|all"""
    sha = github.git.resolve_commit(call.params["ref"])
    if sha is None:
        raise GitHubError(422, f"No commit found for SHA: {call.params['ref']}")
    runs = [run for run in github.check_runs if run["head_sha"] == sha]
    if call.query.get("check_name"):
        runs = [run for run in runs if run["name"] == call.query["check_name"]]
    if call.query.get("status"):
        runs = [run for run in runs if run["status"] == call.query["status"]]
    if call.query.get("filter", "latest") == "latest":
        runs = list({(run["app"], run["name"]): run for run in runs}.values())
    runs.sort(key=lambda run: run["id"], reverse=True)
    page, headers = page_of(github, call, runs)
    body = {"total_count": len(runs), "check_runs": [_check_run_json(github, run) for run in page]}
    return JSONResponse(body, headers=headers)


# -- actions ------------------------------------------------------------------------------------


@router.route("POST", REPO + "/actions/workflows/(?P<workflow_id>[^/]+)/dispatches")
def _dispatch_workflow(github: GitHubState, call: Call) -> Response:
    """POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches {ref, inputs}: 204."""
    body = call.fields
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise validation_failed("Dispatch", field="ref", code="missing_field")
    if not _dispatch_ref_exists(github, ref):
        raise GitHubError(422, f"No ref found for: {ref}", documentation_url=DISPATCH_DOCS_URL)
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise GitHubError(422, "Invalid value for inputs")
    if len(inputs) > MAX_DISPATCH_INPUTS:
        message = f"you may only define up to {MAX_DISPATCH_INPUTS} `inputs` for a workflow_dispatch event"
        raise GitHubError(422, message)
    github.dispatches.append({"workflow_id": call.params["workflow_id"], **body})
    if body.get("return_run_details") is True:
        run_id = github.new_id()
        details = {
            "workflow_run_id": run_id,
            "run_url": f"{github.api}/actions/runs/{run_id}",
            "html_url": f"{github.web}/actions/runs/{run_id}",
        }
        return JSONResponse(details)
    return Response(status_code=204)


def _dispatch_ref_exists(github: GitHubState, ref: str) -> bool:
    """A dispatch runs on a branch or a tag, by short or full name; a sha or a pull ref is refused."""
    if ref.startswith(("refs/heads/", "refs/tags/")):
        return github.git.ref_sha(ref) is not None
    return any(github.git.ref_sha(f"refs/{kind}/{ref}") is not None for kind in ("heads", "tags"))
