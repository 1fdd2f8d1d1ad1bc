"""/v1/databases: ask for a database, list them, read one (claim, status, cost, expiry)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Response

from engine.access import Holder
from engine.api.bodies import (
    CHANGE_EXAMPLES,
    CLONE_EXAMPLES,
    DESTRUCTION_EXAMPLES,
    CloneBody,
    DatabaseChangeBody,
    DestructionBody,
)
from engine.api.deps import Accepted, AcceptedDep, BodyDep, KeyDep
from engine.api.openapi import (
    KEYED,
    TO_FIRST_DATABASE,
    WITH_BODY,
    DatabaseAccepted,
    DatabaseAnswer,
    DatabaseChangeAnswer,
    DatabasePage,
    DestructionAnswer,
    answer,
    asks_for_a_database,
    effect_answer,
    json_body,
    refusals,
)
from engine.clone import as_clone_refusal, clone_fields
from engine.errors import FieldError, InvalidRequest
from engine.gitops import Change
from engine.guard import enforce, holder_of, shown_to
from engine.identity import Actor
from engine.intake import accept_request
from engine.lifecycle import (
    current_claim,
    describe_database,
    extend_database,
    modify_database,
    request_destroy,
)
from engine.modify import body_errors
from engine.services import Services
from engine.store.records import STATUSES, RequestRecord
from engine.web import Environment, Identifier, ServicesDep

router = APIRouter(prefix="/v1/databases", tags=["databases"], responses=KEYED)
CHANGES_A_DATABASE: Final = WITH_BODY | refusals(404, 409, 503)


@router.post("", **asks_for_a_database(DatabaseAccepted))
def create_database(accepted: AcceptedDep) -> dict[str, Any]:
    """Ask for a database with every field of the request; 202 with its status's location."""
    return _accepted_answer(accepted)


def _accepted_answer(accepted: Accepted) -> dict[str, Any]:
    record = accepted.record
    return {
        "request_id": record.id,
        "status": record.status,
        "message_id": accepted.message_id,
        "location": accepted.location,
    }


@router.get(
    "",
    responses={
        200: answer(DatabasePage, "A page of requested databases, newest first.", **TO_FIRST_DATABASE)
    },
)
def list_databases(
    services: ServicesDep,
    caller: KeyDep,
    environment: Annotated[str | None, Query(max_length=20)] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(json_schema_extra={"enum": list(STATUSES)})] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Requested databases, newest first; pass `next_cursor` back as `cursor` for the next page."""
    if status is not None and status not in STATUSES:
        raise InvalidRequest([FieldError("status", f"must be one of {', '.join(STATUSES)}")], "invalid query")
    shown = shown_to(services.access_rules(), caller)
    after, rows = _decode_cursor(cursor), list[RequestRecord]()
    while len(rows) <= limit:  # with access.fleet own, a page is filled from what the caller may see
        batch = services.ledger.list_requests(environment, owner, status, limit + 1, after)
        rows += batch if shown is None else [record for record in batch if shown(record)]
        if len(batch) <= limit:
            break
        after = (batch[-1].created_at, batch[-1].id)
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [_summary(record) for record in page],
        "next_cursor": _encode_cursor(page[-1]) if more else None,
    }


@router.get(
    "/{environment}/{identifier}",
    responses=refusals(404, 503) | {200: answer(DatabaseAnswer, "The database.")},
)
def get_database(
    services: ServicesDep, caller: KeyDep, environment: Environment, identifier: Identifier
) -> dict[str, Any]:
    """One database: its claim, status (with its errors when refused or failed), monthly cost
    estimate and expiry; the request's history is at /v1/requests/{request_id}."""
    may_view(services, caller, environment, identifier.lower())
    return describe_database(services.ledger, services.backend, environment, identifier)


@router.patch(
    "/{environment}/{identifier}",
    openapi_extra=json_body(DatabaseChangeBody, CHANGE_EXAMPLES),
    responses=CHANGES_A_DATABASE
    | {200: answer(DatabaseChangeAnswer, "The extension's or the modification's change is open.")},
)
def change_database(
    services: ServicesDep, caller: KeyDep, environment: Environment, identifier: Identifier, body: BodyDep
) -> dict[str, Any]:
    """Change a database, by a change to merge like the request was. `{"ttl": "3d"}` alone extends
    its time-to-live to now + 3 days (within the environment's maximum); any of size, storage_gb,
    engine_version, readers, proxy, min_acu, max_acu, owner and team modify it (checked and gated
    like a new request), the answer saying per field what happens to the running database."""
    if body and set(body) != {"ttl"}:
        return _modify(services, caller, environment, identifier.lower(), body)
    ttl = _only_field(body, "ttl", "an extension", "is required: hours or days such as 12h or 3d", 20)
    done = extend_database(
        services.backend,
        environment,
        identifier.lower(),
        ttl,
        datetime.now(UTC),
        caller,
        services.ledger,
        services.settings.terraform_path,
    )
    return {
        "environment": environment,
        "identifier": identifier.lower(),
        "expires_at": done.claim.expires_at,
        "previous_expires_at": done.previous_expiry,
        "extensions": done.claim.extensions,
        "change": _change_answer(done.change),
    }


def _modify(
    services: Services, caller: Actor, environment: str, identifier: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A PATCH of modification fields: one modify-<n> change (engine.lifecycle.modify_database); a
    body no modification may be is refused before the database is read."""
    errors = body_errors(body)
    if errors:
        raise InvalidRequest(errors, "invalid modification")
    with services.settings.policy_gate() as gate:  # checkov starts only once the fields are valid
        done = modify_database(
            services.backend,
            environment,
            identifier,
            body,
            datetime.now(UTC),
            caller,
            gate,
            services.ledger,
            services.settings.terraform_path,
        )
    return {
        "environment": environment,
        "identifier": identifier,
        "modifications": done.modification.claim.modifications,
        "allow_major_version_upgrade": done.modification.major_upgrade,
        "effects": [effect_answer(effect) for effect in done.modification.effects],
        "change": _change_answer(done.change),
    }


@router.post(
    "/{environment}/{identifier}/destroy",
    status_code=202,
    openapi_extra=json_body(DestructionBody, DESTRUCTION_EXAMPLES),
    responses=CHANGES_A_DATABASE | {202: answer(DestructionAnswer, "The destroy change is open.")},
)
def destroy_database(
    services: ServicesDep, caller: KeyDep, environment: Environment, identifier: Identifier, body: BodyDep
) -> dict[str, Any]:
    """Ask for a database's destruction: `{"reason": "..."}` opens its destroy change (the claim
    marked, plan -destroy); merged and applied, CI destroys it and removes its root."""
    reason = _only_field(body, "reason", "a destruction", "is required: say why")
    change = request_destroy(
        services.backend,
        environment,
        identifier.lower(),
        reason,
        datetime.now(UTC),
        caller,
        services.ledger,
    )
    return {"environment": environment, "identifier": identifier.lower(), "change": _change_answer(change)}


@router.post(
    "/{environment}/{identifier}/clone",
    status_code=202,
    openapi_extra=json_body(CloneBody, CLONE_EXAMPLES),
    responses=WITH_BODY
    | refusals(404, 409, 503)
    | {202: answer(DatabaseAccepted, "The copy's request, recorded and queued; its status is at Location.")},
)
def clone_database(
    services: ServicesDep,
    caller: KeyDep,
    environment: Environment,
    identifier: Identifier,
    body: BodyDep,
    response: Response,
) -> dict[str, Any]:
    """Ask for a copy of a database: `{"to_environment": "dev", "name": "orders_pr123", "ttl": "2d"}`
    requests a new database restored from this one's latest restorable time (engine.clone), checked
    like any request, dbvend.yaml's clone_from included; destroyed by its own time-to-live."""
    may_view(services, caller, environment, identifier.lower())
    source, _ = current_claim(services.backend, environment, identifier.lower())
    fields = clone_fields(source, body)
    try:
        record, message_id = accept_request(
            fields,
            "api",
            caller.name,
            services.ledger,
            services.backend,
            outbox=services.outbox,
            actor=caller,
        )
    except InvalidRequest as refused:
        raise as_clone_refusal(refused) from None
    accepted = Accepted(record, message_id)
    response.headers["Location"] = accepted.location
    return _accepted_answer(accepted)


def may_view(services: Services, caller: Actor, environment: str, identifier: str) -> None:
    """NotAllowed (403) when dbvend.yaml's access.fleet hides the database from the caller."""
    record = services.ledger.of_database(environment, identifier)
    holder = holder_of(record) if record is not None else Holder(None, None, None, identifier)
    enforce(services.access_rules(), caller, "view", environment, holder, services.ledger)


def _only_field(body: dict[str, Any], name: str, what: str, missing: str, longest: int | None = None) -> str:
    """The one text field a body of `what` holds; 422 naming every other field, and this one when
    it is absent or not text (or, given `longest`, empty or longer): its own rules come after."""
    unknown = sorted(set(body) - {name})
    errors = [FieldError(other[:80], f"is not a field of {what} (only {name})") for other in unknown]
    value = body.get(name)
    if not isinstance(value, str) or (longest is not None and not 1 <= len(value) <= longest):
        errors.append(FieldError(name, missing))
    if errors:
        raise InvalidRequest(errors)
    assert isinstance(value, str)
    return value


def _change_answer(change: Change) -> dict[str, Any]:
    return {"id": change.id, "status": change.status, "branch": change.branch, "link": change.link}


def _summary(record: RequestRecord) -> dict[str, Any]:
    return {
        "environment": record.environment,
        "identifier": record.identifier,
        "database_name": record.database_name,
        "engine": record.payload.get("database_engine"),
        "owner": record.owner,
        "status": record.status,
        "request_id": record.id,
        "change_id": record.change_id,
        "change_link": record.change_link,
        "created_at": record.created_at,
    }


def _encode_cursor(record: RequestRecord) -> str:
    return base64.urlsafe_b64encode(f"{record.created_at}|{record.id}".encode()).decode()


def _decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        created, _, last_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        created, last_id = "", ""
    if not created or not last_id:
        raise InvalidRequest([FieldError("cursor", "must be a next_cursor from a listing")], "invalid query")
    return created, last_id
