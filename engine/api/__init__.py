"""The REST API and the GitHub webhook: one router per resource; engine.app joins them."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from engine.api import audit, changes, databases, fleet, health, provision, requests, webhook

ROUTERS: Final[tuple[APIRouter, ...]] = tuple(
    module.router for module in (provision, databases, fleet, requests, changes, audit, health, webhook)
)
MAX_WEBHOOK_BODY: Final = webhook.MAX_WEBHOOK_BODY
