"""The one reply dbvend keeps on a request's issue, for the worker and the stuck-request pass."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from engine.description import md_escape
from engine.errors import CheckFailed, Conflict, DbvendError, InvalidRequest, PolicyFailed
from engine.forms import field_error_lines
from engine.policy import PolicyDecision, PolicyFinding

if TYPE_CHECKING:
    from engine.gitops import IssueReplies

log = logging.getLogger("dbvend.worker")
ISSUE_REPLY_MARKER: Final = (
    "<!-- dbvend:issue-reply -->"  # the one comment per issue (engine.webhooks.issues)
)


def tell_issue(replies: IssueReplies | None, body: Mapping[str, Any], text: str) -> None:
    """Answer on the issue a queue message's request came from, if any; a failed answer is only
    logged."""
    origin = body.get("origin") or {}
    issue = origin.get("issue") if isinstance(origin, dict) else None
    if replies is None or not isinstance(issue, int):
        return
    try:
        replies.reply(issue, ISSUE_REPLY_MARKER, f"{ISSUE_REPLY_MARKER}\n{text}\n")
    except DbvendError as exc:
        log.warning(
            "could not answer on issue #%d: %s", issue, exc, extra={"request_id": body.get("request_id")}
        )


NEW_NAME_OR_EXTEND: Final = (
    "To get a database of your own, open a new issue with another name; to keep the existing one "
    "longer, comment `/extend <duration>` on its issue or pull request."
)
POLICY_NEXT_STEP: Final = (
    "Where the check is about what the request asks for (its size, engine version, ACU or proxy), open "
    "a new issue that asks for something else. Where the check does not fit this environment, the "
    "platform team can skip it in dbvend.yaml, with a reason (`policy.skip`: README, section "
    '"dbvend.yaml"); then open a new issue.'
)
CHECK_NEXT_STEP: Final = (
    "No request can change that: tell the platform team (dbvend.yaml or dbvend's templates need a fix), "
    "then open a new issue."
)


def refusal_text(exc: DbvendError) -> str:
    """What the issue is told when the worker refuses its request: the reason once, and what to do."""
    lead = "**dbvend refused this request:**"
    if isinstance(exc, PolicyFailed) and isinstance(exc.decision, PolicyDecision):
        notes = [f"- {md_escape(note)}" for note in exc.decision.notes]
        failed = [*map(_failed_check, exc.decision.failures), *notes]
        return _listed(f"{lead} its Terraform fails the policy gate.", failed, POLICY_NEXT_STEP)
    if isinstance(exc, CheckFailed):
        failed = [f"- {md_escape(failure)}" for failure in exc.failures]
        return _listed(f"{lead} a check of its rendered Terraform failed.", failed, CHECK_NEXT_STEP)
    if isinstance(exc, InvalidRequest) and exc.errors:
        broken = field_error_lines(exc.errors)
        return _listed(f"{lead} it breaks these rules.", broken, "Open a new issue that keeps them.")
    why = sentence(md_escape(str(exc)))
    return f"{lead} {why} {NEW_NAME_OR_EXTEND}" if isinstance(exc, Conflict) else f"{lead} {why}"


def _listed(head: str, items: list[str], next_step: str) -> str:
    return "\n".join([head, "", *items, "", next_step])


def _failed_check(finding: PolicyFinding) -> str:
    where = f"{finding.resource}, {finding.file} lines {finding.lines[0]}-{finding.lines[1]}"
    return f"- {md_escape(f'{finding.check_id} {finding.name} ({where})')}"


def sentence(text: str) -> str:
    """The text with its closing full stop."""
    return text if text.endswith((".", "!", "?")) else text + "."
