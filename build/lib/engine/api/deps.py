"""What the routes depend on: the services, the caller's key, the JSON body; and API errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import Depends, Header, Request

from engine.api.auth import KeyStore, RateLimiter
from engine.errors import FieldError
from engine.gitops import GitOpsBackend, IssueReplies, PullRequests
from engine.ledger import Ledger
from engine.settings import Settings

if TYPE_CHECKING:
    from engine.queue.sqs import Outbox

MAX_BODY: Final = 64 * 1024
KEY_REFUSED: Final = "a valid x-api-key header is required"


@dataclass
class Services:
    """Built once at start-up (engine.api.create_app) and handed to every route."""

    settings: Settings
    ledger: Ledger
    backend: GitOpsBackend
    keys: KeyStore
    limiter: RateLimiter
    replies: IssueReplies | None = None  # GitHub mode: comments on the request's issue
    pulls: PullRequests | None = None  # GitHub mode: pull-request comment commands
    outbox: Outbox | None = None  # DBVEND_QUEUE=sqs: accepted requests go on through SNS


class ApiError(Exception):
    """An answer other than success: status, a sentence, and field errors where there are some."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail} | ({"errors": self.errors} if self.errors is not None else {})


def field_errors(errors: tuple[FieldError, ...] | list[FieldError]) -> list[dict[str, str]]:
    return [{"field": e.field, "rule": e.rule} for e in errors]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_key(services: ServicesDep, x_api_key: Annotated[str | None, Header()] = None) -> str:
    """The caller's key id; 401 without a key, 403 with a wrong one, 429 over the rate limit."""
    if not x_api_key:
        raise ApiError(401, KEY_REFUSED)
    key_id = services.keys.identify(x_api_key)
    if key_id is None:
        raise ApiError(403, KEY_REFUSED)
    wait = services.limiter.take(key_id)
    if wait is not None:
        raise ApiError(
            429,
            f"rate limit of {services.settings.rate_limit} requests per minute reached",
            headers={"Retry-After": str(wait)},
        )
    return key_id


KeyDep = Annotated[str, Depends(require_key)]


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
        raise ApiError(415, "the body must be JSON, sent with Content-Type: application/json")
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
        raise ApiError(400, "the body is not valid JSON", [{"field": "body", "rule": reason}]) from None
    if not isinstance(value, dict):
        raise ApiError(422, "invalid request", [{"field": "body", "rule": "must be a JSON object of fields"}])
    return value


BodyDep = Annotated[dict[str, Any], Depends(json_object)]
