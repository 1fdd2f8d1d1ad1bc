"""The durable local queue: rows in the ledger database, visibility timeout, dead letters."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.queue import Message
from engine.queue.tables import queue_messages
from engine.store.ledger import Ledger

MAX_RECEIVES: Final = 5
VISIBILITY_TIMEOUT: Final = 30.0
ERROR_MAX: Final = 2000

DeadLetterHook = Callable[[Connection, Message], None]


def enqueue(
    connection: Connection,
    body: Mapping[str, Any],
    request_id: str | None,
    now: float | None = None,
    in_hand: InHand | None = None,
    state: str = "ready",
) -> str:
    """Queue a message inside the caller's transaction; returns its id.

    State "outbox" keeps it out of the local queue, for engine.queue.sqs to send on.

    With `in_hand` the message is delivered to the caller at once (its first receive, with
    that receipt and visibility timeout): no other consumer can take it meanwhile, and it
    comes back like any other delivery if the caller never acknowledges it.
    """
    message_id = str(uuid.uuid4())
    at = time.time() if now is None else now
    delivered = (
        {}
        if in_hand is None
        else {
            "receive_count": 1,
            "receipt": in_hand.receipt,
            "visible_at": at + in_hand.visibility_timeout,
        }
    )
    connection.execute(
        queue_messages.insert()
        .values(
            id=message_id,
            request_id=request_id,
            body=json.dumps(dict(body), sort_keys=True),
            state=state,
            visible_at=at,
            receive_count=0,
            enqueued_at=at,
            sent_at=None if state == "outbox" else at,  # a local message is on its way at once
        )
        .values(**delivered)
    )
    return message_id


@dataclass(frozen=True)
class InHand:
    """A delivery made as the message is queued (see enqueue)."""

    receipt: str = field(default_factory=lambda: str(uuid.uuid4()))
    visibility_timeout: float = VISIBILITY_TIMEOUT


class LocalQueue:
    """At-least-once delivery from the ledger database, like SQS: a received message stays
    invisible for the visibility timeout and comes back unless acknowledged; after
    `max_receives` deliveries it goes to the dead-letter state with its last error."""

    def __init__(
        self,
        ledger: Ledger,
        visibility_timeout: float = VISIBILITY_TIMEOUT,
        max_receives: int = MAX_RECEIVES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.visibility_timeout = visibility_timeout
        self.max_receives = max_receives
        self.clock = clock

    def receive(self, on_dead: DeadLetterHook | None = None) -> Message | None:
        """The next visible message, now invisible for the timeout; None when there is none.

        A message already delivered `max_receives` times goes to the dead-letter state
        instead, and `on_dead` runs in the same transaction (to record the failure).
        """
        while True:
            with self.ledger.transaction() as conn:
                now = self.clock()
                row = conn.execute(
                    sa.select(queue_messages)
                    .where(queue_messages.c.state == "ready", queue_messages.c.visible_at <= now)
                    .order_by(queue_messages.c.visible_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                ).one_or_none()
                if row is None:
                    return None
                if row.receive_count >= self.max_receives:
                    error = row.last_error or f"delivered {row.receive_count} times without being finished"
                    conn.execute(
                        queue_messages.update()
                        .where(queue_messages.c.id == row.id)
                        .values(state="dead", receipt=None, last_error=error)
                    )
                    if on_dead is not None:
                        on_dead(conn, _message(row, row.receipt or "", error))
                    continue
                receipt = str(uuid.uuid4())
                conn.execute(
                    queue_messages.update()
                    .where(queue_messages.c.id == row.id)
                    .values(
                        receive_count=row.receive_count + 1,
                        visible_at=now + self.visibility_timeout,
                        receipt=receipt,
                    )
                )
                return Message(
                    row.id, row.request_id, row.body, row.receive_count + 1, receipt, row.last_error
                )

    def ack(self, message: Message, connection: Connection | None = None) -> bool:
        """Done with a message; False when its visibility ran out and another delivery took it."""
        return self._update(message, {"state": "done", "receipt": None}, connection)

    def retry(self, message: Message, error: str, delay: float, connection: Connection | None = None) -> bool:
        """Give a message back after a failure, visible again after `delay` seconds."""
        values = {"visible_at": self.clock() + delay, "receipt": None, "last_error": error[:ERROR_MAX]}
        return self._update(message, values, connection)

    def in_hand(self, message_id: str, in_hand: InHand) -> Message | None:
        """The delivery made by enqueue(..., in_hand=...), while it is still the caller's."""
        with self.ledger.reading() as conn:
            row = conn.execute(
                sa.select(queue_messages).where(
                    queue_messages.c.id == message_id, queue_messages.c.receipt == in_hand.receipt
                )
            ).one_or_none()
        return None if row is None else _message(row, in_hand.receipt, row.last_error)

    def depth(self) -> dict[str, int]:
        """Messages per state: ready (including in flight), done, dead."""
        with self.ledger.reading() as conn:
            rows = conn.execute(
                sa.select(queue_messages.c.state, sa.func.count()).group_by(queue_messages.c.state)
            ).all()
        return {"ready": 0, "done": 0, "dead": 0} | {state: int(n) for state, n in rows}

    def dead_letters(self) -> list[Message]:
        with self.ledger.reading() as conn:
            rows = conn.execute(sa.select(queue_messages).where(queue_messages.c.state == "dead")).all()
        return [_message(row, "", row.last_error) for row in rows]

    def _update(self, message: Message, values: dict[str, Any], connection: Connection | None) -> bool:
        statement = (
            queue_messages.update()
            .where(queue_messages.c.id == message.id, queue_messages.c.receipt == message.receipt)
            .values(**values)
        )
        if connection is not None:
            return connection.execute(statement).rowcount == 1
        with self.ledger.transaction() as conn:
            return conn.execute(statement).rowcount == 1


def _message(row: Any, receipt: str, error: str | None) -> Message:
    return Message(row.id, row.request_id, row.body, row.receive_count, receipt, error)


def first_message(ledger: Ledger, request_id: str) -> tuple[str, dict[str, Any]] | None:
    """A request's first queue message: its id and body (where the request came from)."""
    with ledger.reading() as conn:
        row = conn.execute(
            sa.select(queue_messages.c.id, queue_messages.c.body)
            .where(queue_messages.c.request_id == request_id)
            .order_by(queue_messages.c.enqueued_at)
            .limit(1)
        ).one_or_none()
    return None if row is None else (str(row.id), json.loads(row.body))


def origin_of(ledger: Ledger, request_id: str) -> dict[str, Any] | None:
    """Where a request came from (its GitHub issue), as its first queue message says."""
    first = first_message(ledger, request_id)
    origin = first[1].get("origin") if first else None
    return origin if isinstance(origin, dict) else None
