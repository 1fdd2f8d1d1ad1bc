"""GET /v1/requests/{id}: a request's status, history, change link and errors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from engine.api.deps import ApiError, KeyDep, ServicesDep

router = APIRouter(prefix="/v1/requests", tags=["requests"])
RequestId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]


@router.get("/{request_id}")
def get_request(services: ServicesDep, key_id: KeyDep, request_id: RequestId) -> dict[str, Any]:
    """A request as the ledger knows it, from acceptance to its change."""
    record = services.ledger.get(request_id)
    if record is None:
        raise ApiError(404, f"no request {request_id}")
    return record.as_dict()
