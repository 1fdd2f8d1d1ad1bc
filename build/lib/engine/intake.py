"""The front doors' common step: validate a raw request, refuse conflicts, record and queue it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.claim import claim_from_raw
from engine.gitops import GitOpsBackend
from engine.ledger import Ledger, NewRequest, RequestRecord
from engine.queue.local import InHand

if TYPE_CHECKING:
    from engine.queue.sqs import Outbox


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
) -> tuple[RequestRecord, str]:
    """Accept a request: it is valid, its database is free, and it is recorded and queued.

    Raises InvalidRequest (nothing recorded) or Conflict; returns the ledger record and the
    queue message id. The consumer does the rest (engine.queue.worker). `origin` (for example
    the GitHub issue a request came from) travels in the queue message, for the replies.
    With an `outbox` (AWS) the message goes on through SNS once recorded, and the id returned
    is SNS's MessageId; QueueUnavailable when SNS refuses it (the request is then failed).
    """
    request_id = str(uuid.uuid4())
    claim = claim_from_raw(raw, backend.catalog(), request_id, datetime.now(UTC))
    backend.check_absent(claim)
    request = claim.request
    record, message_id = ledger.accept(
        NewRequest(
            id=request_id,
            channel=channel,
            requester=requester,
            payload=dict(raw),
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
    return record, message_id
