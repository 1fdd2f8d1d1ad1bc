"""GET /v1/requests/{id}: a request's status, history, change link and errors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from engine.api.deps import KeyDep
from engine.api.openapi import KEYED, TO_DATABASE, RequestStatusAnswer, answer, refusals
from engine.errors import RequestNotFound
from engine.guard import enforce, holder_of
from engine.web import RequestId, ServicesDep

router = APIRouter(prefix="/v1/requests", tags=["requests"], responses=KEYED)


@router.get(
    "/{request_id}",
    responses=refusals(404) | {200: answer(RequestStatusAnswer, "The request.", **TO_DATABASE)},
)
def get_request(services: ServicesDep, caller: KeyDep, request_id: RequestId) -> dict[str, Any]:
    """A request as the ledger knows it, from acceptance to its change."""
    record = services.ledger.get(request_id)
    if record is None:
        raise RequestNotFound(f"no request {request_id}")
    rules = services.access_rules()
    enforce(rules, caller, "view", record.environment, holder_of(record), services.ledger)
    return record.as_dict()
