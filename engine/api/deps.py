"""What the API's routes depend on besides the services (engine.web): the caller's key, the body,
and a request accepted from the body (the two doors that ask for a database share it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, Header, Request, Response, Security
from fastapi.security import APIKeyHeader

from engine.audit import AuditEvent
from engine.errors import (
    FieldError,
    Forbidden,
    InvalidRequest,
    MalformedBody,
    RateLimited,
    Unauthenticated,
    UnsupportedMedia,
)
from engine.identity import Actor
from engine.intake import accept_request
from engine.store.records import RequestRecord
from engine.web import ServicesDep, caller_name

MAX_BODY: Final = 64 * 1024
KEY_REFUSED: Final = "a valid x-api-key header is required"
# The OpenAPI document's security scheme; require_key answers its refusals itself.
API_KEY: Final = APIKeyHeader(
    name="x-api-key",
    scheme_name="ApiKey",
    description="A dbvend API key. Missing: 401; not a key: 403 (the same answer, no hint which).",
    auto_error=False,
)


def require_key(
    request: Request, services: ServicesDep, x_api_key: Annotated[str | None, Security(API_KEY)]
) -> Actor:
    """The caller (key:<name>, with its role); 401 without a key, 403 with a wrong one (both in the
    audit trail, named by the caller's address), 429 over the rate limit."""
    entry = services.keys.identify(x_api_key) if x_api_key else None
    if entry is None:
        why = "an unknown API key" if x_api_key else "no API key"
        where = f"{why}: {request.method} {request.url.path}"[:300]
        services.ledger.audit(AuditEvent(caller_name(request), "api", "signin", "refused", detail=where))
        refused = Forbidden(KEY_REFUSED) if x_api_key else Unauthenticated(KEY_REFUSED)
        refused.audited = True
        raise refused
    wait = services.limiter.take(entry.key_id)
    if wait is not None:
        raise RateLimited(f"rate limit of {services.settings.rate_limit} requests per minute reached", wait)
    request.state.actor = caller = entry.actor("api")
    return caller


KeyDep = Annotated[Actor, Depends(require_key)]


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"field {key[:80]!r} appears twice")
        result[key] = value
    return result


def _integer(digits: str) -> int:
    """JSON sets no limit on digits, Python refuses >4300; such a number is out of every range."""
    if len(digits.lstrip("-")) > 400:
        return -(10**400) if digits.startswith("-") else 10**400
    return int(digits)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 415 unless it is JSON, 400 unless it parses (size: middleware)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMedia("the body must be JSON, sent with Content-Type: application/json")
    body = await request.body()
    try:
        value = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_no_duplicate_keys,
            parse_int=_integer,
            parse_constant=_no_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = (
            str(exc).splitlines()[0][:200] if not isinstance(exc, RecursionError) else "nested too deeply"
        )
        raise MalformedBody("the body is not valid JSON", [FieldError("body", reason)]) from None
    if not isinstance(value, dict):
        raise InvalidRequest([FieldError("body", "must be a JSON object of fields")])
    return value


BodyDep = Annotated[dict[str, Any], Depends(json_object)]


@dataclass(frozen=True)
class Accepted:
    """A request recorded and queued, and the queue's message id (SNS's, in AWS)."""

    record: RequestRecord
    message_id: str

    @property
    def location(self) -> str:
        """Where its status is read."""
        return f"/v1/requests/{self.record.id}"


# Checked by engine.intake (1-200 visible ASCII characters, else 422 naming Idempotency-Key).
IdempotencyKey = Annotated[
    str | None,
    Header(
        description="Sent again with the same body, the first 202 is answered again instead of a 409.",
        json_schema_extra={"minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
    ),
]


def accept_from_api(
    services: ServicesDep,
    caller: KeyDep,
    body: BodyDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """The body's request accepted (engine.intake), its status's path in the Location header."""
    record, message_id = accept_request(
        body,
        "api",
        caller.name,
        services.ledger,
        services.backend,
        idempotency_key,
        outbox=services.outbox,
        actor=caller,
    )
    accepted = Accepted(record, message_id)
    response.headers["Location"] = accepted.location
    return accepted


AcceptedDep = Annotated[Accepted, Depends(accept_from_api)]
