"""What the API and the portal share: the services a request is served with, and the path
parameters that name a database or a request (both edges validate them the same way)."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from engine.audit import AuditEvent
from engine.identity import Actor
from engine.services import Services

# The action a refusal at a route records (by the route's name; else view for a read, request).
ROUTE_ACTIONS: Final = {
    "provision_rds": "request",
    "create_database": "request",
    "change_database": "modify",
    "destroy_database": "destroy",
    "clone_database": "clone",
    "merge_change": "merge",
    "github_webhook": "webhook",
    "submit_request": "request",
    "extend_from_page": "extend",
    "modify_from_page": "modify",
    "destroy_from_page": "destroy",
    "signout": "signout",
}


async def audit_refusal(request: Request, status: int, detail: str) -> None:
    """A call refused with `status`, in the audit trail (written off the event loop): every 4xx but
    the rate limit's 429, which sheds load rather than refusing an action."""
    if 400 <= status < 500 and status != 429:
        services: Services = request.app.state.services
        await run_in_threadpool(services.ledger.audit, refusal_event(request, detail))


def refusal_event(request: Request, detail: str) -> AuditEvent:
    """A refused call as the audit trail records it: who (the caller the route identified, else its
    address), through which door, trying what."""
    actor: Actor | None = getattr(request.state, "actor", None)
    action = ROUTE_ACTIONS.get(getattr(request.scope.get("route"), "name", ""))
    door = actor.door if actor is not None else ("api" if request.url.path.startswith("/v1/") else "portal")
    return AuditEvent(
        actor.name if actor is not None else caller_name(request),
        door,
        action or ("view" if request.method in ("GET", "HEAD") else "request"),
        "refused",
        detail=f"{detail} ({request.method} {request.url.path})"[:2000],
    )


def client_address(request: Request) -> str:
    """The address a call came from, as the server saw it."""
    return request.client.host if request.client else "unknown"


def caller_name(request: Request) -> str:
    """How the audit trail names a caller it could not identify: by the address it came from."""
    return f"unknown:{client_address(request)}"[:200]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
Environment = Annotated[str, Path(max_length=20, pattern=r"^[a-z][a-z0-9-]*$")]
Identifier = Annotated[str, Path(max_length=63, pattern=r"^[A-Za-z][A-Za-z0-9-]*$")]
RequestId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]
