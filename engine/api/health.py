"""GET /healthz: the service is up and its ledger answers."""

from __future__ import annotations

from fastapi import APIRouter

from engine.api.openapi import HealthAnswer, answer, refusals
from engine.errors import Unavailable
from engine.web import ServicesDep
from engine.webhooks.installation import STATE_KEY, installation_problem

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses=refusals(503) | {200: answer(HealthAnswer, "Up: ok, or degraded with why.")},
)
def get_health(services: ServicesDep) -> dict[str, str]:
    """`ok` when the ledger answers; 503 otherwise; `degraded` (still 200: the API and the
    portal work) when the GitHub App's installation was removed or suspended. No key needed."""
    if not services.ledger.ping():
        raise Unavailable("the ledger does not answer")
    problem = installation_problem(services.ledger.app_state(STATE_KEY))
    if problem is not None:
        return {"status": "degraded", "detail": problem}
    return {"status": "ok"}
