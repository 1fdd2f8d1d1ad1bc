"""GitHub webhook handlers, one small module per concern, joined here by event name.

Each handler takes the delivery's payload and a WebhookContext and returns a small JSON summary
of what it did (for the delivery's answer and the logs). engine.api.webhook checks signatures
and redeliveries, then that the delivery is about the configured repository, before any
handler runs.
"""

from __future__ import annotations

from typing import Any

from engine.webhooks import comments, installation, issues, pulls, push
from engine.webhooks.context import Handler, WebhookContext

__all__ = ["HANDLERS", "Handler", "WebhookContext"]


def ping(payload: dict[str, Any], _context: WebhookContext) -> dict[str, Any]:
    """GitHub's first delivery to a new webhook."""
    return {"detail": "pong", "hook_id": payload.get("hook_id")}


def _handlers() -> dict[str, Handler]:
    return {
        "ping": ping,
        "installation": installation.installation,
        "installation_repositories": installation.installation_repositories,
        "issues": issues.handle,
        "issue_comment": comments.handle,
        "pull_request": pulls.pull_request,
        "workflow_run": pulls.workflow_run,
        "check_suite": pulls.check_suite,
        "push": push.push,
    }


HANDLERS: dict[str, Handler] = _handlers()
