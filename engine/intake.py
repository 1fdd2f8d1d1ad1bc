"""The front doors' common step: validate a raw request, refuse conflicts, record and queue it."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.access import Holder
from engine.audit import AuditEvent
from engine.errors import FieldError, InvalidRequest
from engine.gitops import GitOpsBackend
from engine.guard import enforce
from engine.identity import Actor
from engine.pipeline import request_claim
from engine.queue.local import InHand, enqueue, first_message
from engine.store.ledger import Ledger
from engine.store.records import NewRequest, RequestRecord

if TYPE_CHECKING:
    from engine.queue.sqs import Outbox

log = logging.getLogger("dbvend.intake")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def accept_request(
    raw: Mapping[str, object],
    channel: str,
    requester: str,
    ledger: Ledger,
    backend: GitOpsBackend,
    idempotency_key: str | None = None,
    in_hand: InHand | None = None,
    origin: Mapping[str, object] | None = None,
    outbox: Outbox | None = None,
    actor: Actor | None = None,
) -> tuple[RequestRecord, str]:
    """Accept a request: it is valid, its database is free, `actor` may request in its environment
    (dbvend.yaml's access rules; by default the requester through the channel's door), and it is
    recorded and queued.

    Raises InvalidRequest (nothing recorded: a field, or an Idempotency-Key that is not 1-200
    visible ASCII characters), NotAllowed, IdempotencyMismatch or Conflict; returns the ledger record and the
    queue message id. The consumer does the rest (engine.queue.worker). `origin` (for example
    the GitHub issue a request came from) travels in the queue message, for the replies.
    With an `outbox` (AWS) the message goes on through SNS once recorded, and the id returned
    is SNS's MessageId; QueueUnavailable when SNS refuses it (the request is then failed).
    """
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidRequest([FieldError("Idempotency-Key", "must be 1-200 visible ASCII characters")])
    request_id = str(uuid.uuid4())
    catalog = backend.catalog()
    claim = request_claim(raw, catalog, backend, ledger, request_id, datetime.now(UTC))
    asking = actor or Actor(requester, channel)
    enforce(
        catalog.access,
        asking,
        "request",
        claim.environment,
        Holder(None, None, None, claim.identifier),
        ledger,
    )
    backend.check_absent(claim)
    request = claim.request
    payload = dict(raw)
    if request.restore_from is not None:  # "final" as resolved now: the consumer restores that snapshot
        payload["restore_from"] = request.restore_from.as_dict()
    record, message_id = record_and_queue(
        ledger,
        NewRequest(
            id=request_id,
            channel=channel,
            requester=requester,
            payload=payload,
            environment=request.environment,
            identifier=request.identifier,
            database_name=request.database_name,
            owner=request.owner,
            idempotency_key=idempotency_key,
        ),
        in_hand=in_hand,
        origin=origin,
        outbox=outbox is not None,
    )
    if outbox is not None:
        message_id = outbox.send(message_id)
    log.info("request accepted", extra={"request_id": record.id, "message_id": message_id, "key": requester})
    return record, message_id


def record_and_queue(
    ledger: Ledger,
    new: NewRequest,
    message_body: Mapping[str, Any] | None = None,
    in_hand: InHand | None = None,
    origin: Mapping[str, Any] | None = None,
    outbox: bool = False,
) -> tuple[RequestRecord, str]:
    """Record an accepted request and queue its message in one transaction.

    Returns the record and the queue message id (delivered to the caller at once with
    `in_hand`, see engine.queue.local.enqueue; with `outbox` kept for engine.queue.sqs to send
    on through SNS once this transaction has committed). An idempotency key seen before for the
    same requester and body returns the first acceptance; Conflict when another request holds
    the database.
    """
    replay = _replayed(ledger, new)
    if replay is not None:
        return replay
    try:
        with ledger.transaction() as connection:
            at = ledger.record_accepted(connection, new)
            where = {"environment": new.environment, "identifier": new.identifier, "request_id": new.id}
            ledger.audit(AuditEvent(new.requester, new.channel, "request", **where), connection)
            body: dict[str, Any] = {
                "request_id": new.id,
                "channel": new.channel,
                "accepted_at": at,
                "request": new.payload,
            }
            if origin is not None:
                body["origin"] = dict(origin)
            state = "outbox" if outbox else "ready"
            message_id = enqueue(connection, message_body or body, new.id, in_hand=in_hand, state=state)
    except sa.exc.IntegrityError:
        replay = _replayed(ledger, new)
        if replay is not None:
            return replay
        refusal = ledger.refusal(new)
        if refusal is None:
            raise
        raise refusal from None
    record = ledger.get(new.id)
    assert record is not None
    return record, message_id


def _replayed(ledger: Ledger, new: NewRequest) -> tuple[RequestRecord, str] | None:
    earlier = ledger.earlier(new)
    if earlier is None:
        return None
    first = first_message(ledger, earlier.id)
    assert first is not None, f"request {earlier.id} was accepted without a queue message"
    return earlier, first[0]
