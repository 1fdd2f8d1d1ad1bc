"""POST /github/webhook: GitHub's deliveries, signature checked on the raw body before anything else.

A delivery whose X-Hub-Signature-256 does not match the body under the webhook secret is 401
and nothing is read from it. A delivery about another repository or installation (the App may be
installed on many; engine.webhooks.trust) is answered 200 "not this repository" and changes
nothing. A delivery id seen before changes nothing (GitHub redelivers). Events without a
handler are answered 204. The handlers, one small module per concern, are joined in
engine.webhooks.HANDLERS.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from engine.api.openapi import WebhookOutcome, answer, refusals
from engine.audit import AuditEvent
from engine.errors import MalformedBody, Unauthenticated, Unavailable
from engine.gitops import RepositoryIdentity
from engine.services import Services
from engine.signing import signature_matches
from engine.web import ServicesDep, caller_name
from engine.webhooks import HANDLERS, WebhookContext
from engine.webhooks.trust import foreign, foreign_name

log = logging.getLogger("dbvend.webhook")
router = APIRouter(tags=["github"])

MAX_WEBHOOK_BODY: Final = 5 * 1024 * 1024
_DELIVERY: Final = re.compile(r"[A-Za-z0-9-]{1,64}")
_EVENT: Final = re.compile(r"[a-z_]{1,64}")


@router.post(
    "/github/webhook",
    status_code=200,
    response_model=None,
    responses=refusals(400, 401, 413, 503)
    | {
        200: answer(WebhookOutcome, "Handled, seen before, or not about this repository: what was done."),
        204: {"description": "An event dbvend has no handler for."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "GitHub's payload of the event, signed in X-Hub-Signature-256.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def github_webhook(
    request: Request,
    services: ServicesDep,
    x_hub_signature_256: Annotated[str | None, Header()] = None,
    x_github_event: Annotated[str | None, Header()] = None,
    x_github_delivery: Annotated[str | None, Header()] = None,
) -> Response:
    """A GitHub App delivery (issues, issue_comment, pull_request, workflow_run, check_suite, ping)."""
    secret = services.settings.github_webhook_secret
    if not secret:
        log.error("a webhook arrived but DBVEND_GITHUB_WEBHOOK_SECRET is not set")
        raise Unavailable("the GitHub webhook is not configured")
    body = await request.body()
    if not signature_matches(secret, body, x_hub_signature_256):
        await _audit_refusal(services, caller_name(request), "the signature does not match")
        raise Unauthenticated("the signature does not match")
    if not x_github_event or not _EVENT.fullmatch(x_github_event):
        raise MalformedBody("X-GitHub-Event is missing or malformed")
    if not x_github_delivery or not _DELIVERY.fullmatch(x_github_delivery):
        raise MalformedBody("X-GitHub-Delivery is missing or malformed")
    handler = HANDLERS.get(x_github_event)
    if handler is None:
        return Response(status_code=204)
    try:
        payload: Any = json.loads(body)
    except ValueError:
        raise MalformedBody("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedBody("the body is not a JSON object")
    identity, reason = await _trusted(services, x_github_event, payload)
    if reason is not None:
        log.warning(
            "delivery refused: %s", reason, extra={"delivery": x_github_delivery, "event": x_github_event}
        )
        sender = (
            str((payload.get("sender") or {}).get("login") or "")
            if isinstance(payload.get("sender"), dict)
            else ""
        )
        await _audit_refusal(services, f"github:{sender}" if sender else caller_name(request), reason)
        return JSONResponse({"detail": "not this repository; nothing done", "reason": reason})
    assert identity is not None
    if not services.ledger.claim_delivery(x_github_delivery, x_github_event):
        log.info("delivery seen before", extra={"delivery": x_github_delivery, "event": x_github_event})
        return JSONResponse({"detail": "delivery seen before; nothing done"}, status_code=200)
    context = WebhookContext(
        services=services, delivery=x_github_delivery, event=x_github_event, identity=identity
    )
    try:
        outcome = await _run(handler, payload, context)
    except Exception:
        services.ledger.release_delivery(x_github_delivery)  # GitHub's redelivery gets another go
        raise
    log.info("delivery handled", extra={"delivery": x_github_delivery, "event": x_github_event})
    return JSONResponse(outcome, status_code=200)


async def _audit_refusal(services: Services, actor: str, detail: str) -> None:
    """A delivery refused, in the audit trail (written off the event loop)."""
    from starlette.concurrency import run_in_threadpool

    event = AuditEvent(actor, "webhook", "webhook", "refused", detail=detail)
    await run_in_threadpool(services.ledger.audit, event)


async def _trusted(
    services: Services, event: str, payload: dict[str, Any]
) -> tuple[RepositoryIdentity | None, str | None]:
    """The configured repository as GitHub knows it now, or why the delivery is not about it.

    The name is compared first (no call); then, in GitHub mode, the repository's id and the App's
    installation as GitHub reports them (one GraphQL call, which also gives the default branch).
    """
    from starlette.concurrency import run_in_threadpool

    expected = services.settings.github_repository
    if not expected:
        log.error("a webhook arrived but DBVEND_GITHUB_REPOSITORY is not set")
        raise Unavailable("the GitHub webhook is not configured")
    reason = foreign_name(event, payload, expected)
    if reason is not None:
        return None, reason
    identity: RepositoryIdentity = await run_in_threadpool(services.backend.identity)
    if services.settings.gitops != "github":  # the local backend has a path, not GitHub's name
        identity = RepositoryIdentity(full_name=expected, default_branch=identity.default_branch)
    return identity, foreign(event, payload, identity)


async def _run(handler: Any, payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    result: dict[str, Any] = await run_in_threadpool(handler, payload, context)
    return result
