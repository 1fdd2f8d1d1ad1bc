"""`issues` opened / edited / reopened / labeled: a database request made with the issue form.

An issue counts when it has the request label (dbvend.yaml `github.issue_label`, default
`database-request`) or its title starts with `github.issue_title_prefix`. Its body is parsed as the
form (engine.forms) and accepted like an API request (channel `issue`); dbvend answers with one
comment, found again by a hidden marker and edited on every later delivery: the field errors,
or the request's id and, once the worker has opened it, the pull request.
"""

from __future__ import annotations

from typing import Any, Final

from engine.description import md_escape
from engine.errors import Conflict, FieldError, InvalidRequest, QueueUnavailable
from engine.forms import LABELS, parse_issue_form
from engine.intake import accept_request
from engine.ledger import IdempotencyMismatch, issue_key
from engine.queue.worker import ISSUE_REPLY_MARKER
from engine.webhooks import WebhookContext

REPLY_MARKER: Final = ISSUE_REPLY_MARKER
ACTIONS: Final = ("opened", "edited", "reopened", "labeled")


def handle(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    action = payload.get("action")
    issue = payload.get("issue") if isinstance(payload.get("issue"), dict) else None
    repository = payload.get("repository") if isinstance(payload.get("repository"), dict) else None
    if action not in ACTIONS or issue is None or repository is None or issue.get("pull_request"):
        return {"detail": f"issues.{action}: nothing to do"}
    rules = context.services.backend.catalog().github
    labels = {str(label.get("name")) for label in issue.get("labels") or [] if isinstance(label, dict)}
    title = str(issue.get("title") or "")
    prefix = rules.issue_title_prefix
    if rules.issue_label not in labels and not (prefix and title.startswith(prefix)):
        return {"detail": "not a database request"}
    number = int(issue["number"])
    full_name = str(repository.get("full_name") or "")
    sender = str((payload.get("sender") or {}).get("login") or "unknown")
    origin = {"repository": full_name, "issue": number}

    form = parse_issue_form(str(issue.get("body") or ""))
    fields = dict(form.fields)
    if "reason" in fields:  # a textarea; the request wants it on one line
        fields["reason"] = " ".join(fields["reason"].split())
    if form.errors:
        return _reply(context, number, _errors_reply(form.errors), {"detail": "form incomplete"})
    try:
        record, _ = accept_request(
            fields,
            "issue",
            f"github:{sender}",
            context.services.ledger,
            context.services.backend,
            idempotency_key=issue_key(full_name, number),
            origin=origin,
            outbox=context.services.outbox,
        )
    except InvalidRequest as exc:
        return _reply(context, number, _errors_reply(list(exc.errors)), {"detail": "invalid request"})
    except (Conflict, QueueUnavailable) as exc:
        text = f"{REPLY_MARKER}\n**dbvend could not take this request:** {md_escape(str(exc))}\n"
        detail = "conflict" if isinstance(exc, Conflict) else "not queued"
        return _reply(context, number, text, {"detail": detail})
    except IdempotencyMismatch:
        text = (
            f"{REPLY_MARKER}\nThis issue's request was accepted before; edits made after that are not "
            "applied. Open a new issue for a different database.\n"
        )
        return _reply(context, number, text, {"detail": "edited after acceptance"})
    text = (
        f"{REPLY_MARKER}\nRequest accepted: `{record.id}` (status {record.status}). "
        "dbvend is rendering and checking it; this comment will link the pull request.\n"
    )
    return _reply(context, number, text, {"detail": "accepted", "request_id": record.id})


def _errors_reply(errors: list[FieldError]) -> str:
    names = {field: label for field, label in LABELS.items()}
    lines = [REPLY_MARKER, "**dbvend could not take this request.** Please edit the issue:", ""]
    for error in errors:
        label = names.get(error.field, error.field)
        lines.append(f"- **{md_escape(label)}**: {md_escape(error.rule)}")
    return "\n".join(lines) + "\n"


def _reply(context: WebhookContext, number: int, text: str, outcome: dict[str, Any]) -> dict[str, Any]:
    replies = context.services.replies
    if replies is not None:
        replies.reply(number, REPLY_MARKER, text)
    return outcome
