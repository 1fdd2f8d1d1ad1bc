"""The one reply dbvend keeps on a request's issue, for the worker and the stuck-request pass."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from engine.errors import DbvendError

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
