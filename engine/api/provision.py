"""POST /provision-rds: the seed's contract, kept exactly."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from engine.api.deps import BodyDep, KeyDep
from engine.intake import accept_request
from engine.web import ServicesDep

router = APIRouter(tags=["requests"])


@router.post("/provision-rds", status_code=202)
def provision_rds(
    services: ServicesDep,
    key_id: KeyDep,
    body: BodyDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Ask for a database (`database_name`, `database_engine`, `environment`, and optionally
    any field of `POST /v1/databases`). 202 once it is recorded and queued."""
    record, message_id = accept_request(
        body,
        "api",
        key_id,
        services.ledger,
        services.backend,
        idempotency_key,
        outbox=services.outbox,
    )
    response.headers["Location"] = f"/v1/requests/{record.id}"
    return {"message": "Request accepted", "sns_message_id": message_id, "request_id": record.id}
