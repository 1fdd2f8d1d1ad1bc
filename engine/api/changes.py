"""/v1/changes: the proposed changes, and merging one."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from engine.api.deps import KeyDep
from engine.api.openapi import KEYED, TO_FIRST_CHANGE, ChangeAnswer, ChangeList, answer, refusals
from engine.errors import FieldError, InvalidRequest
from engine.gitops import CHANGE_STATUSES
from engine.lifecycle import settle_change
from engine.web import ServicesDep

router = APIRouter(prefix="/v1/changes", tags=["changes"], responses=KEYED)
log = logging.getLogger("dbvend.api")


@router.get(
    "",
    responses=refusals(503) | {200: answer(ChangeList, "The changes.", **TO_FIRST_CHANGE)},
)
def list_changes(
    services: ServicesDep,
    caller: KeyDep,
    status: Annotated[str | None, Query(json_schema_extra={"enum": list(CHANGE_STATUSES)})] = None,
) -> dict[str, Any]:
    """Every change (a branch with one commit, to merge), optionally only open/merged/closed ones."""
    if status is not None and status not in CHANGE_STATUSES:
        raise InvalidRequest(
            [FieldError("status", f"must be one of {', '.join(CHANGE_STATUSES)}")], "invalid query"
        )
    return {"items": [asdict(change) for change in services.backend.changes(status)]}


@router.post(
    "/{change_id}/merge",
    responses=refusals(404, 409, 503) | {200: answer(ChangeAnswer, "The change, merged.")},
)
def merge_change(
    services: ServicesDep, caller: KeyDep, change_id: Annotated[int, Path(ge=1, le=2**31)]
) -> dict[str, Any]:
    """Merge an open change into main; its request becomes `merged`."""
    change = services.backend.merge(change_id)
    settled = settle_change(
        services.ledger,
        change.id,
        change.request_id,
        "merged",
        f"by {caller.name}",
        change.merge_commit,
        caller,
    )
    request_id = settled[0] if settled else None
    log.info("change merged", extra={"change_id": change.id, "request_id": request_id})
    return asdict(change)
