"""`pull_request` closed, `workflow_run` and `check_suite` completed: the ledger and the request's issue.

Only dbvend's own pull requests count (engine.gitops.not_own_change: a branch of this repository,
a dbvend branch, a marker naming a change of that branch, and that change's request in the
ledger), merged into the default branch. A workflow run counts only when it is one of dbvend's
workflow files in this repository, started the way dbvend starts it, on the commit the ledger
expects:

- the dispatched workflow (`github.workflow`): event workflow_dispatch on the default branch,
  answering a dispatch the App recorded for that pull request and command (its title, `dbvend
  <command> #<pull request>`, only says which);
- the pull-request workflow (`github.plan_workflow`): event pull_request, at the change's head;
- the apply-on-merge workflow (`github.merge_workflow`): event push to the default branch, at the
  change's merge commit.

A successful run moves its request to planned or applied; a failure is noted. A check suite on a
dbvend pull request is noted in the request's history. The request's issue, when it came from one,
is told. A dbvend pull request opened, reopened, edited or closed is recorded as it now stands in the
ledger's change records (engine.store.changes), which the GitHub backend's changes() reads.
"""

from __future__ import annotations

import re
from typing import Any, Final

from engine.connection import connection_markdown, connection_or_none
from engine.description import md_escape
from engine.github import decode
from engine.gitops import PullHead, key_in_description, key_request, root_of_branch
from engine.identity import person
from engine.lifecycle import settle_change
from engine.queue.local import origin_of
from engine.queue.replies import ISSUE_REPLY_MARKER
from engine.roots import Root
from engine.store.records import RequestRecord
from engine.webhooks.context import WebhookContext

RECORDED_ACTIONS: Final = ("opened", "reopened", "edited", "closed")
RUN_TITLE: Final = re.compile(r"dbvend (plan|apply|destroy) #(\d{1,9})")
# A run's page, as GitHub gives it in html_url: nothing in it can end the markdown link around it.
_SAFE_URL: Final = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]+)?/[A-Za-z0-9._~/%+-]*")
AFTER_SUCCESS: Final = {"plan": "planned", "apply": "applied"}
WORKFLOWS_DIR: Final = ".github/workflows/"


def pull_request(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    pull = payload.get("pull_request") if isinstance(payload.get("pull_request"), dict) else {}
    action = payload.get("action")
    if action not in RECORDED_ACTIONS or not pull:
        return {"detail": f"pull_request.{action}: nothing to do"}
    identity = context.identity
    reason = PullHead.of(pull).not_own(identity.full_name)
    if reason is None:  # one of dbvend's changes, as it stands now
        context.services.ledger.record_change(decode.change(pull))
    if action != "closed":
        return {"detail": f"pull_request.{action}: " + ("recorded" if reason is None else "nothing to do")}
    number = int(pull["number"])
    record = None if reason is not None else _request_of(context, pull, number)
    if record is None:
        return {"detail": "not a dbvend pull request", "reason": reason or "no request of its branch"}
    base = str((pull.get("base") or {}).get("ref") or "")
    merged = bool(pull.get("merged")) and base == identity.default_branch
    status = "merged" if merged else "closed"
    key = key_in_description(pull.get("body")) or ""
    merge_commit = str(pull.get("merge_commit_sha") or "") if merged else None
    who = str(((pull.get("merged_by") if merged else None) or payload.get("sender") or {}).get("login") or "")
    actor = person(who, "webhook") if who else None
    settled = settle_change(context.services.ledger, number, key, status, "on GitHub", merge_commit, actor)
    if settled is None:
        return {"detail": "no request for this pull request"}
    request_id, moved = settled
    if moved:
        directory = Root(record.environment, record.identifier).path
        _tell(context, request_id, _settled_text(number, status, directory, record.status == "applied"))
    return {"detail": status if moved else "already recorded", "request_id": request_id}


def _settled_text(number: int, status: str, directory: str, applied: bool) -> str:
    """What a request's issue is told when its pull request is merged or closed, and what comes next."""
    if status != "merged":
        return f"Pull request #{number} was {status}."
    if applied:
        return (
            f"Pull request #{number} was merged; `/apply` had applied it already: the database is in place."
        )
    return (
        f"Pull request #{number} was merged. If the repository applies merges (repository variable "
        "`DBVEND_APPLY_ON_MERGE`), the database is being applied now and this comment will say how it went; "
        "if not, apply it from a checkout of the default branch, with the infrastructure's AWS credentials: "
        f"`dbvend ci apply --base HEAD --directory {directory}`."
    )


def _run_text(command: str, number: int, conclusion: str, run: dict[str, Any]) -> str:
    """A run's outcome for the request's issue: its link, and after a failure how to run it again."""
    on_merge = run.get("event") == "push"
    what = (
        f"The apply of merged pull request #{number}"
        if on_merge
        else f"`/{command}` on pull request #{number}"
    )
    url = str(run.get("html_url") or "")
    link = f" ([workflow run]({url}))" if _SAFE_URL.fullmatch(url) else ""
    text = f"{what}: **{md_escape(conclusion)}**{link}."
    if conclusion == "success":
        return text
    if on_merge:
        return f"{text} Its log says why; once the cause is fixed, re-run its failed jobs."
    return (
        f"{text} Its log says why; once the cause is fixed, comment `/{command}` on the pull request to run"
        " it again."
    )


def _connection_text(record: RequestRecord | None) -> str:
    """After a successful apply, how to connect: what the run's `dbvend ci apply` recorded (when it
    reached the ledger). No password: where to fetch one."""
    connection = connection_or_none(record.connection if record is not None else None)
    return "" if connection is None else "\n\n" + "\n".join(connection_markdown(connection))


def _request_of(context: WebhookContext, pull: dict[str, Any], number: int) -> RequestRecord | None:
    """The ledger's request for a dbvend pull request: the marker's, for the branch's database, and
    (for the request's own change) the change the ledger recorded, if it recorded one."""
    head = PullHead.of(pull)
    record = context.services.ledger.get(key_request(key_in_description(head.body)) or "")
    if record is None or root_of_branch(head.branch) != Root(record.environment, record.identifier).path:
        return None
    own_change = "." not in head.branch
    if own_change and record.change_id is not None and record.change_id != number:
        return None
    return record


def workflow_run(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    run = payload.get("workflow_run") if isinstance(payload.get("workflow_run"), dict) else {}
    if payload.get("action") != "completed" or not run:
        return {"detail": f"workflow_run.{payload.get('action')}: nothing to do"}
    found = _run_of(run, context)
    if isinstance(found, str):
        return {"detail": "not a dbvend run", "reason": found}
    command, number, record = found
    ledger = context.services.ledger
    conclusion = str(run.get("conclusion") or "unknown")
    detail = f"/{command} {conclusion}: {run.get('html_url') or ''}".strip()
    status = AFTER_SUCCESS.get(command) if conclusion == "success" else None
    by = str((run.get("triggering_actor") or run.get("actor") or {}).get("login") or "")
    if status is None or not ledger.transition(
        record.id, status, detail, actor=person(by, "ci") if by else None
    ):
        ledger.note(record.id, detail)
    text = _run_text(command, number, conclusion, run)
    if status == "applied":
        text += _connection_text(ledger.get(record.id))
    _tell(context, record.id, text)
    return {"detail": "recorded", "request_id": record.id, "command": command, "conclusion": conclusion}


def _run_of(run: dict[str, Any], context: WebhookContext) -> tuple[str, int, RequestRecord] | str:
    """(command, pull request, request) a run of dbvend's answers, or why it is not one of them."""
    rules = context.services.backend.catalog().github
    identity, ledger = context.identity, context.services.ledger
    path, event = str(run.get("path") or ""), str(run.get("event") or "")
    head_sha, branch = str(run.get("head_sha") or ""), str(run.get("head_branch") or "")
    kinds = {
        rules.workflow: "workflow_dispatch",
        rules.plan_workflow: "pull_request",
        rules.merge_workflow: "push",
    }
    workflow = path.removeprefix(WORKFLOWS_DIR).partition("@")[0] if path.startswith(WORKFLOWS_DIR) else ""
    expected = kinds.get(workflow)
    if expected is None:
        return f"{path or 'the run'} is not one of dbvend's workflows"
    if event != expected:
        return f"{workflow} runs dbvend's commands on {expected}, not on {event}"
    if event == "pull_request":
        return _plan_run(run, head_sha, context)
    if branch != identity.default_branch:
        return f"the run is on {branch}, not on the default branch {identity.default_branch}"
    if event == "push":
        record = ledger.by_merge_commit(head_sha)
        return ("apply", record.change_id or 0, record) if record else f"{head_sha[:12]} merged no request"
    title = RUN_TITLE.fullmatch(str(run.get("display_title") or ""))
    if title is None:
        return "its title names no dbvend command"
    command, number = title.group(1), int(title.group(2))
    if not ledger.answer_dispatch(int(run.get("id") or 0), number, command, branch, head_sha):
        return f"dbvend dispatched no /{command} on #{number} that this run answers"
    record = ledger.by_change(number)
    return (command, number, record) if record else "no request for this pull request"


def _plan_run(
    run: dict[str, Any], head_sha: str, context: WebhookContext
) -> tuple[str, int, RequestRecord] | str:
    """A pull_request run: the plan of the dbvend pull request it ran on, at that change's head."""
    for pull in run.get("pull_requests") or []:
        repo = ((pull.get("head") or {}).get("repo") or {}) if isinstance(pull, dict) else {}
        if context.identity.id is not None and repo.get("id") != context.identity.id:
            continue  # a fork's pull request
        record = context.services.ledger.by_change(int(pull.get("number") or 0))
        if record is not None and record.change_head == head_sha:
            return "plan", int(pull["number"]), record
    return f"no dbvend pull request has its head at {head_sha[:12]}"


def check_suite(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    suite = payload.get("check_suite") if isinstance(payload.get("check_suite"), dict) else {}
    if payload.get("action") != "completed" or not suite:
        return {"detail": f"check_suite.{payload.get('action')}: nothing to do"}
    if not str(suite.get("head_branch") or "").startswith("dbvend/"):
        return {"detail": "not a dbvend pull request"}
    noted = []
    for pull in suite.get("pull_requests") or []:
        repo = (pull.get("head") or {}).get("repo") or {}
        if context.identity.id is not None and repo.get("id") != context.identity.id:
            continue  # a fork's branch of the same name
        record = context.services.ledger.by_change(int(pull.get("number", 0)))
        if record is not None and record.change_head in (None, suite.get("head_sha")):
            app = (suite.get("app") or {}).get("name") or "checks"
            context.services.ledger.note(
                record.id, f"{app} {suite.get('conclusion')} on {suite.get('head_sha')}"
            )
            noted.append(record.id)
    return {"detail": "recorded" if noted else "no request for these pull requests", "requests": noted}


def _tell(context: WebhookContext, request_id: str, text: str) -> None:
    origin = origin_of(context.services.ledger, request_id) or {}
    issue = origin.get("issue")
    replies = context.services.replies
    if replies is not None and isinstance(issue, int):
        replies.reply(issue, ISSUE_REPLY_MARKER, f"{ISSUE_REPLY_MARKER}\n{text}\n")
