"""What every webhook handler is given, and its shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.gitops import RepositoryIdentity

if TYPE_CHECKING:
    from engine.services import Services


@dataclass(frozen=True)
class WebhookContext:
    """What a handler gets besides the payload: the services, the delivery, and the repository
    the delivery was checked against (engine.webhooks.trust), read once for this delivery."""

    services: Services
    delivery: str
    event: str
    identity: RepositoryIdentity


Handler = Callable[[dict[str, Any], WebhookContext], dict[str, Any]]
