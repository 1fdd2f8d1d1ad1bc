"""GET /healthz: the service is up and its ledger answers."""

from __future__ import annotations

from fastapi import APIRouter

from engine.api.deps import ApiError, ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def get_health(services: ServicesDep) -> dict[str, str]:
    """`ok` when the ledger answers; 503 otherwise. No key needed."""
    if not services.ledger.ping():
        raise ApiError(503, "the ledger does not answer")
    return {"status": "ok"}
