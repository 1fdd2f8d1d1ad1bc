"""POST /provision-rds: the seed's contract, kept exactly."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from engine.api.deps import AcceptedDep
from engine.api.openapi import KEYED, ProvisionAccepted, asks_for_a_database

router = APIRouter(tags=["requests"], responses=KEYED)


@router.post("/provision-rds", **asks_for_a_database(ProvisionAccepted))
def provision_rds(accepted: AcceptedDep) -> dict[str, Any]:
    """Ask for a database (`database_name`, `database_engine`, `environment`, and optionally
    any field of `POST /v1/databases`). 202 once it is recorded and queued."""
    return {
        "message": "Request accepted",
        "sns_message_id": accepted.message_id,
        "request_id": accepted.record.id,
    }
