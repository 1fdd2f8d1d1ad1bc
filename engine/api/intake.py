"""The API's door into engine.intake: HTTP answers for what accepting a request can raise."""

from __future__ import annotations

import logging
import re
from typing import Any

from engine.api.deps import ApiError, Services, field_errors
from engine.errors import Conflict, InvalidRequest, QueueUnavailable
from engine.intake import accept_request
from engine.ledger import IdempotencyMismatch, RequestRecord

log = logging.getLogger("dbvend.api")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def accept_from_api(
    services: Services,
    body: dict[str, Any],
    key_id: str,
    idempotency_key: str | None,
    channel: str = "api",
) -> tuple[RequestRecord, str]:
    """422 with the fields named, 409 for a database that exists or is requested; else accepted.
    `channel`: api, or portal for the web form (the same door, recorded as where it came from)."""
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ApiError(
            422,
            "invalid request",
            [{"field": "Idempotency-Key", "rule": "must be 1-200 visible ASCII characters"}],
        )
    try:
        record, message_id = accept_request(
            body, channel, key_id, services.ledger, services.backend, idempotency_key, outbox=services.outbox
        )
    except InvalidRequest as exc:
        raise ApiError(422, "invalid request", field_errors(exc.errors)) from None
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    except IdempotencyMismatch as exc:
        raise ApiError(422, str(exc), [{"field": "Idempotency-Key", "rule": str(exc)}]) from None
    except QueueUnavailable as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": "5"}) from None
    log.info("request accepted", extra={"request_id": record.id, "message_id": message_id, "key": key_id})
    return record, message_id
