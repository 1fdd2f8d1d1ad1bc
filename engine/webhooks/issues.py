"""`issues` opened / edited / reopened / labeled: a database request made with the issue form.

An issue counts when it has the request label (dbvend.yaml `github.issue_label`, default
`database-request`) or its title starts with `github.issue_title_prefix`. The request belongs to
the issue (repository and number), whoever sent the delivery: its author is the requester, and
every later delivery for the issue (labeled by a triager, edited, reopened) finds that one
request. Its body is parsed as the form (engine.forms) and accepted like an API request (channel
`issue`); dbvend answers with one comment, edited on every later delivery: the field errors, or
the request's id and, once the worker has opened it, the pull request. An edit after acceptance
changes nothing and is told what can change (`/extend`) and what needs a new issue.
"""

from __future__ import annotations

from typing import Any, Final

from engine.audit import AuditEvent
from engine.catalog import GitHubRules
from engine.commands import PERMISSIONS
from engine.description import md_escape
from engine.errors import (
    Conflict,
    DbvendError,
    FieldError,
    IdempotencyMismatch,
    InvalidRequest,
    NotAllowed,
    QueueUnavailable,
)
from engine.forms import LABELS, field_error_lines, parse_issue_form, request_fields
from engine.guard import github_person
from engine.identity import Actor, person
from engine.intake import accept_request
from engine.queue.replies import ISSUE_REPLY_MARKER, NEW_NAME_OR_EXTEND, sentence
from engine.store.records import RequestRecord, issue_key
from engine.webhooks.context import WebhookContext

REPLY_MARKER: Final = ISSUE_REPLY_MARKER
ACTIONS: Final = ("opened", "edited", "reopened", "labeled")
TRIAGE_OR_MORE: Final = frozenset(PERMISSIONS[: PERMISSIONS.index("triage") + 1])


def handle(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    action = payload.get("action")
    issue = payload.get("issue") if isinstance(payload.get("issue"), dict) else None
    if action not in ACTIONS or issue is None or issue.get("pull_request"):
        return {"detail": f"issues.{action}: nothing to do"}
    rules = context.services.backend.catalog().github
    labels = {str(label.get("name")) for label in issue.get("labels") or [] if isinstance(label, dict)}
    title = str(issue.get("title") or "")
    prefix = rules.issue_title_prefix
    if rules.issue_label not in labels and not (prefix and title.startswith(prefix)):
        return {"detail": "not a database request"}
    number = int(issue["number"])
    full_name = context.identity.full_name
    author = str((issue.get("user") or {}).get("login") or "")
    fields, errors = _form(issue)
    earlier = context.services.ledger.by_issue(full_name, number)
    if earlier is not None:
        return _requested_before(context, number, earlier, fields, action == "edited")
    refusal = _who_may_not(rules, payload, author, context)
    if refusal is not None:
        _refused(context, author, number, refusal)
        return _reply(context, number, f"{REPLY_MARKER}\n{refusal}\n", {"detail": "not allowed"})
    if errors:
        _refused(context, author, number, "; ".join(f"{e.field}: {e.rule}" for e in errors))
        return _reply(context, number, _errors_reply(errors), {"detail": "form incomplete"})
    try:
        record, _ = accept_request(
            request_fields(fields),
            "issue",
            f"github:{author}",
            context.services.ledger,
            context.services.backend,
            idempotency_key=issue_key(full_name, number),
            origin={"repository": full_name, "issue": number},
            outbox=context.services.outbox,
            actor=_author(context, author, fields.get("environment", "")),
        )
    except InvalidRequest as exc:
        _refused(context, author, number, exc.summary())
        return _reply(context, number, _errors_reply(list(exc.errors)), {"detail": "invalid request"})
    except (Conflict, QueueUnavailable, NotAllowed) as exc:
        if not exc.audited:
            _refused(context, author, number, str(exc))
        why = sentence(md_escape(str(exc))) + (f" {NEW_NAME_OR_EXTEND}" if isinstance(exc, Conflict) else "")
        text = f"{REPLY_MARKER}\n**dbvend could not take this request:** {why}\n"
        detail = {Conflict: "conflict", NotAllowed: "not allowed"}.get(type(exc), "not queued")
        return _reply(context, number, text, {"detail": detail})
    except IdempotencyMismatch:  # a concurrent delivery of this issue, with another body, came first
        found = context.services.ledger.by_issue(full_name, number)
        if found is None:
            raise
        return _requested_before(context, number, found, fields, True)
    return _reply(context, number, _status_reply(record), {"detail": "accepted", "request_id": record.id})


def _author(context: WebhookContext, login: str, environment: str) -> Actor:
    """The issue's author as dbvend.yaml's access rules see them (engine.guard.github_person)."""
    rules = context.services.backend.catalog().access
    pulls = context.services.pulls
    if pulls is None:  # nothing to ask GitHub with: the rules see the login alone
        return person(login, "issue")
    return github_person(
        rules, login, "issue", "request", environment, None, pulls.teams_of, pulls.permission
    )


def _form(issue: dict[str, Any]) -> tuple[dict[str, str], list[FieldError]]:
    form = parse_issue_form(str(issue.get("body") or ""))
    fields = dict(form.fields)
    if "reason" in fields:  # a textarea; the request wants it on one line
        fields["reason"] = " ".join(fields["reason"].split())
    return fields, list(form.errors)


def _who_may_not(
    rules: GitHubRules, payload: dict[str, Any], author: str, context: WebhookContext
) -> str | None:
    """Why this issue may not become a request under `github.issue_requesters`, or None."""
    if rules.issue_requesters == "anyone":
        return None
    pulls = context.services.pulls
    if pulls is None:
        return "dbvend cannot read permissions here, and dbvend.yaml asks for triage permission."
    try:
        if pulls.permission(author) in TRIAGE_OR_MORE:
            return None
        label = str((payload.get("label") or {}).get("name") or "")
        sender = str((payload.get("sender") or {}).get("login") or "")
        labeled = payload.get("action") == "labeled" and label == rules.issue_label
        if labeled and sender != author and pulls.permission(sender) in TRIAGE_OR_MORE:
            return None
    except DbvendError as exc:
        return f"dbvend could not read permissions: {md_escape(str(exc))}"
    return (
        f"dbvend takes database requests from people with at least triage permission on this "
        f"repository, and @{md_escape(author)} has less. Someone with triage permission can add "
        f"the `{md_escape(rules.issue_label)}` label to make this issue a request."
    )


def _requested_before(
    context: WebhookContext, number: int, record: RequestRecord, fields: dict[str, str], edited: bool
) -> dict[str, Any]:
    """The issue's request exists: say where it stands; after an edit, also what an edit can't do."""
    text = _status_reply(record)
    if edited:
        changed = sorted(
            k for k in set(fields) | set(record.payload) if fields.get(k) != record.payload.get(k)
        )
        what = ", ".join(f"`{md_escape(LABELS.get(k, k))}`" for k in changed) or "nothing dbvend reads"
        text += (
            f"\nThis issue's database was requested already, so the edit ({what} changed) is not "
            "applied. To change its time-to-live, comment `/extend <duration>` (for example "
            "`/extend 7d`) on this issue; for anything else, close this issue and open a new one.\n"
        )
    outcome = {"detail": "edited after acceptance" if edited else "requested before", "request_id": record.id}
    return _reply(context, number, text, outcome)


def _status_reply(record: RequestRecord) -> str:
    text = f"{REPLY_MARKER}\nRequest accepted: `{record.id}` (status {record.status})."
    if record.change_id is not None:
        link = record.change_link or f"#{record.change_id}"
        text += f" Pull request [#{record.change_id}]({link})."
    else:
        text += " dbvend is rendering and checking it; this comment will link the pull request."
    return text + "\n"


def _errors_reply(errors: list[FieldError]) -> str:
    lines = [REPLY_MARKER, "**dbvend could not take this request.** Please edit the issue:", ""]
    return "\n".join([*lines, *field_error_lines(errors)]) + "\n"


def _refused(context: WebhookContext, author: str, number: int, why: str) -> None:
    """An issue that did not become a request, in the audit trail."""
    event = AuditEvent(f"github:{author}", "issue", "request", "refused", detail=f"issue #{number}: {why}")
    context.services.ledger.audit(event)


def _reply(context: WebhookContext, number: int, text: str, outcome: dict[str, Any]) -> dict[str, Any]:
    replies = context.services.replies
    if replies is not None:
        replies.reply(number, REPLY_MARKER, text)
    return outcome
