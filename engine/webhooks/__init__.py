"""GitHub webhook handlers, one small module per concern, joined here by event name.

Each handler takes the delivery's payload and a WebhookContext and returns a small JSON summary
of what it did (for the delivery's answer and the logs). engine.api.webhook checks signatures
and redeliveries, then that the delivery is about the configured repository, before any
handler runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.gitops import RepositoryIdentity

if TYPE_CHECKING:
    from engine.api.deps import Services


@dataclass(frozen=True)
class WebhookContext:
    """What a handler gets besides the payload: the services, the delivery, and the repository
    the delivery was checked against (engine.webhooks.trust), read once for this delivery."""

    services: Services
    delivery: str
    event: str
    identity: RepositoryIdentity


Handler = Callable[[dict[str, Any], WebhookContext], dict[str, Any]]


def ping(payload: dict[str, Any], _context: WebhookContext) -> dict[str, Any]:
    """GitHub's first delivery to a new webhook."""
    return {"detail": "pong", "hook_id": payload.get("hook_id")}


def _handlers() -> dict[str, Handler]:
    from engine.webhooks import comments, installation, issues, pulls

    return {
        "ping": ping,
        "installation": installation.installation,
        "installation_repositories": installation.installation_repositories,
        "issues": issues.handle,
        "issue_comment": comments.handle,
        "pull_request": pulls.pull_request,
        "workflow_run": pulls.workflow_run,
        "check_suite": pulls.check_suite,
    }


HANDLERS: dict[str, Handler] = _handlers()
