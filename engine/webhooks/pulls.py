"""`pull_request` closed, `workflow_run` and `check_suite` completed: the ledger and the request's issue.

A dbvend pull request (head branch dbvend/...) merged or closed moves its request to merged or
closed. A run of the reusable workflow (run name `dbvend <command> #<pull request>`, set by the
workflow) that completes moves the request to planned or applied on success and notes a failure;
a check suite on a dbvend pull request is noted in the request's history. The request's issue,
when it came from one, is told.
"""

from __future__ import annotations

import re
from typing import Any, Final

from engine.gitops import key_in_description
from engine.lifecycle import settle_change
from engine.queue.worker import ISSUE_REPLY_MARKER
from engine.webhooks import WebhookContext

RUN_TITLE: Final = re.compile(r"dbvend (plan|apply|destroy) #(\d{1,9})\b")
AFTER_SUCCESS: Final = {"plan": "planned", "apply": "applied"}


def pull_request(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    pull = payload.get("pull_request") if isinstance(payload.get("pull_request"), dict) else {}
    if payload.get("action") != "closed" or not pull:
        return {"detail": f"pull_request.{payload.get('action')}: nothing to do"}
    if not str((pull.get("head") or {}).get("ref", "")).startswith("dbvend/"):
        return {"detail": "not a dbvend pull request"}
    number = int(pull["number"])
    status = "merged" if pull.get("merged") else "closed"
    key = key_in_description(pull.get("body")) or ""
    settled = settle_change(context.services.ledger, number, key, status, "on GitHub")
    if settled is None:
        return {"detail": "no request for this pull request"}
    request_id, moved = settled
    if moved:
        _tell(context, request_id, f"Pull request #{number} was {status}.")
    return {"detail": status if moved else "already recorded", "request_id": request_id}


def workflow_run(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    run = payload.get("workflow_run") if isinstance(payload.get("workflow_run"), dict) else {}
    if payload.get("action") != "completed" or not run:
        return {"detail": f"workflow_run.{payload.get('action')}: nothing to do"}
    found = RUN_TITLE.search(str(run.get("display_title") or run.get("name") or ""))
    if found is None:
        return {"detail": "not a dbvend run"}
    command, number = found.group(1), int(found.group(2))
    ledger = context.services.ledger
    record = ledger.by_change(number)
    if record is None:
        return {"detail": "no request for this pull request"}
    conclusion = str(run.get("conclusion") or "unknown")
    detail = f"/{command} {conclusion}: {run.get('html_url') or ''}".strip()
    status = AFTER_SUCCESS.get(command) if conclusion == "success" else None
    if status is None or not ledger.transition(record.id, status, detail):
        ledger.note(record.id, detail)
    _tell(context, record.id, f"`/{command}` on pull request #{number}: **{conclusion}**.")
    return {"detail": "recorded", "request_id": record.id, "command": command, "conclusion": conclusion}


def check_suite(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    suite = payload.get("check_suite") if isinstance(payload.get("check_suite"), dict) else {}
    if payload.get("action") != "completed" or not suite:
        return {"detail": f"check_suite.{payload.get('action')}: nothing to do"}
    if not str(suite.get("head_branch") or "").startswith("dbvend/"):
        return {"detail": "not a dbvend pull request"}
    noted = []
    for pull in suite.get("pull_requests") or []:
        record = context.services.ledger.by_change(int(pull.get("number", 0)))
        if record is not None:
            app = (suite.get("app") or {}).get("name") or "checks"
            context.services.ledger.note(
                record.id, f"{app} {suite.get('conclusion')} on {suite.get('head_sha')}"
            )
            noted.append(record.id)
    return {"detail": "recorded" if noted else "no request for these pull requests", "requests": noted}


def _tell(context: WebhookContext, request_id: str, text: str) -> None:
    origin = context.services.ledger.origin_of(request_id) or {}
    issue = origin.get("issue")
    replies = context.services.replies
    if replies is not None and isinstance(issue, int):
        replies.reply(issue, ISSUE_REPLY_MARKER, f"{ISSUE_REPLY_MARKER}\nRequest `{request_id}`: {text}\n")
