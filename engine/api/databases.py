"""/v1/databases: ask for a database, list them, read one (claim, status, cost, expiry)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from engine.api.deps import ApiError, BodyDep, KeyDep, ServicesDep, field_errors
from engine.api.intake import accept_from_api
from engine.claim import parse_claim
from engine.cost import estimate_monthly_cost
from engine.errors import CheckFailed, Conflict, DbvendError, GitOpsError, InvalidRequest
from engine.gitops import Change
from engine.ledger import STATUSES, RequestRecord
from engine.lifecycle import DatabaseNotFound, extend_database, request_destroy
from engine.roots import Root

router = APIRouter(prefix="/v1/databases", tags=["databases"])
Environment = Annotated[str, Path(max_length=20, pattern=r"^[a-z][a-z0-9-]*$")]
Identifier = Annotated[str, Path(max_length=63, pattern=r"^[A-Za-z][A-Za-z0-9-]*$")]


@router.post("", status_code=202)
def create_database(
    services: ServicesDep,
    key_id: KeyDep,
    body: BodyDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Ask for a database with every field of the request; 202 with its status's location."""
    record, message_id = accept_from_api(services, body, key_id, idempotency_key)
    location = f"/v1/requests/{record.id}"
    response.headers["Location"] = location
    return {"request_id": record.id, "status": record.status, "message_id": message_id, "location": location}


@router.get("")
def list_databases(
    services: ServicesDep,
    key_id: KeyDep,
    environment: Annotated[str | None, Query(max_length=20)] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Requested databases, newest first; pass `next_cursor` back as `cursor` for the next page."""
    if status is not None and status not in STATUSES:
        raise ApiError(
            422, "invalid query", [{"field": "status", "rule": f"must be one of {', '.join(STATUSES)}"}]
        )
    rows = services.ledger.list_requests(environment, owner, status, limit + 1, _decode_cursor(cursor))
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [_summary(record) for record in page],
        "next_cursor": _encode_cursor(page[-1]) if more else None,
    }


@router.get("/{environment}/{identifier}")
def get_database(
    services: ServicesDep, key_id: KeyDep, environment: Environment, identifier: Identifier
) -> dict[str, Any]:
    """One database: its claim, status (with its errors when refused or failed), monthly cost
    estimate and expiry; the request's history is at /v1/requests/{request_id}."""
    identifier = identifier.lower()
    record = services.ledger.holder(environment, identifier) or services.ledger.latest(
        environment, identifier
    )
    root = Root(environment, identifier).file("request.json")
    change = None
    text = None
    if record is not None and record.change_id is not None:
        change = services.backend.change(record.change_id)
        if change.status != "merged":  # still asked for: the claim on its change
            text = services.backend.read_file(change.commit, root)
    if text is None:  # merged: main holds the claim as extensions and destroy changes left it
        text = services.backend.read_file(None, root)
    if text is None and record is None:
        raise ApiError(404, f"no database {environment}/{identifier}")
    answer: dict[str, Any] = {
        "environment": environment,
        "identifier": identifier,
        "status": record.status if record is not None else "merged",
        "request_id": record.id if record is not None else None,
        "errors": record.errors if record is not None else [],  # why it was refused or failed
        "change": None
        if change is None
        else {
            "id": change.id,
            "status": change.status,
            "branch": change.branch,
            "link": record.change_link if record else None,
        },
        "claim": None,
        "cost": None,
        "expires_at": None,
        "extensions": 0,
        "destroy_requested_at": None,
    }
    if text is not None:
        try:
            claim = parse_claim(text)
        except DbvendError as exc:
            raise ApiError(500, f"the claim in {root} does not parse: {exc}") from None
        cost = estimate_monthly_cost(claim)
        answer |= {
            "claim": json.loads(claim.to_json()),
            "cost": {
                "monthly_usd": cost.monthly_usd,
                "lines": [asdict(line) for line in cost.lines],
                "unpriced": list(cost.unpriced),
                "ceiling": None if cost.ceiling is None else asdict(cost.ceiling),
                "source": cost.source,
            },
            "expires_at": claim.expires_at,
            "extensions": claim.extensions,
            "destroy_requested_at": claim.destroy_requested_at,
        }
    return answer


@router.patch("/{environment}/{identifier}")
def extend_database_ttl(
    services: ServicesDep, key_id: KeyDep, environment: Environment, identifier: Identifier, body: BodyDep
) -> dict[str, Any]:
    """Extend a database's time-to-live: `{"ttl": "3d"}` moves its expiry to now + 3 days (within
    the environment's maximum). The extension is a change to merge, like the request was."""
    ttl = _only_field(body, "ttl", "an extension", "is required: hours or days such as 12h or 3d", 20)
    with lifecycle_errors():
        done = extend_database(
            services.backend,
            environment,
            identifier.lower(),
            ttl,
            datetime.now(UTC),
            f"API key {key_id}",
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


@router.post("/{environment}/{identifier}/destroy", status_code=202)
def destroy_database(
    services: ServicesDep, key_id: KeyDep, environment: Environment, identifier: Identifier, body: BodyDep
) -> dict[str, Any]:
    """Ask for a database's destruction: `{"reason": "..."}` opens its destroy change (the claim
    marked, plan -destroy); merged and applied, CI destroys it and removes its root."""
    reason = _only_field(body, "reason", "a destruction", "is required: say why")
    with lifecycle_errors():
        change = request_destroy(
            services.backend,
            environment,
            identifier.lower(),
            reason,
            datetime.now(UTC),
            f"API key {key_id}",
            services.ledger,
        )
    return {"environment": environment, "identifier": identifier.lower(), "change": _change_answer(change)}


def _only_field(body: dict[str, Any], name: str, what: str, missing: str, longest: int | None = None) -> str:
    """The one text field a body of `what` holds; 422 naming every other field, and this one when
    it is absent or not text (or, given `longest`, empty or longer): its own rules come after."""
    unknown = sorted(set(body) - {name})
    errors = [{"field": other[:80], "rule": f"is not a field of {what} (only {name})"} for other in unknown]
    value = body.get(name)
    if not isinstance(value, str) or (longest is not None and not 1 <= len(value) <= longest):
        errors.append({"field": name, "rule": missing})
    if errors:
        raise ApiError(422, "invalid request", errors)
    assert isinstance(value, str)
    return value


def _change_answer(change: Change) -> dict[str, Any]:
    return {"id": change.id, "status": change.status, "branch": change.branch, "link": change.link}


@contextmanager
def lifecycle_errors() -> Iterator[None]:
    """What extending or destroying a database can raise, as HTTP answers."""
    try:
        yield
    except DatabaseNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except InvalidRequest as exc:
        raise ApiError(422, "invalid request", field_errors(exc.errors)) from None
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    except CheckFailed as exc:
        raise ApiError(422, str(exc)) from None
    except GitOpsError as exc:
        raise ApiError(
            503, f"the GitOps store did not answer: {exc}", headers={"Retry-After": "30"}
        ) from None


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
        raise ApiError(
            422, "invalid query", [{"field": "cursor", "rule": "must be a next_cursor from a listing"}]
        )
    return created, last_id
