"""Stuck requests: accepted, their queue message on its way for long, and no consumer took it.

SNS may accept a publish and never hand it to SQS (a queue policy, a KMS key, a removed
subscription), and SQS moves a message nobody could settle to its dead-letter queue; locally a
message may wait with no worker to take it or be dead-lettered without its request being told.
Either way the request would stay `accepted` for ever. The stuck pass (engine.aws: the periodic
event, every 5 minutes; `dbvend serve`: the worker's loop) finds the accepted requests whose
message left the outbox `stuck_after` seconds ago or more, sends each message once more, and
fails the request, saying what happened, when it is still accepted `stuck_after` seconds after
that. A message that arrives twice is harmless: the consumer settles a request once
(engine.queue.worker), and opens its change idempotently on the request id (engine.gitops).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.description import md_escape
from engine.queue.replies import tell_issue
from engine.queue.tables import queue_messages
from engine.store.ledger import Ledger
from engine.store.schema import requests

if TYPE_CHECKING:
    from engine.gitops import IssueReplies
    from engine.queue.sqs import SnsPublisher

log = logging.getLogger("dbvend.stuck")

BATCH: Final = 200  # messages one pass settles at most; the next pass takes the rest
ERROR_MAX: Final = 2000

Action = Literal["wait", "resend", "fail"]


@dataclass(frozen=True)
class StuckMessage:
    """An accepted request's queue message, as the stuck pass reads it."""

    id: str
    request_id: str
    body: str
    state: str  # sent (on through SNS); ready or dead (the local queue)
    sent_at: float  # when it left the outbox (a local message: when it was queued)
    resent_at: float | None = None
    last_error: str | None = None

    @property
    def local(self) -> bool:
        return self.state != "sent"


@dataclass(frozen=True)
class StuckVerdict:
    """What to do with a stuck message; `detail` is the history line saying why."""

    action: Action
    detail: str = ""


WAIT: Final = StuckVerdict("wait")


def decide_stuck(message: StuckMessage, now: float, stuck_after: float) -> StuckVerdict:
    """Wait; re-send (`stuck_after` seconds after it was sent, once); or fail its request
    (`stuck_after` seconds after the re-send). A clock behind the sender's waits."""
    if message.resent_at is None:
        if now - message.sent_at < stuck_after:
            return WAIT
        return StuckVerdict("resend", _resend_note(message, now, stuck_after))
    if now - message.resent_at < stuck_after:
        return WAIT
    return StuckVerdict("fail", _failure(message, message.resent_at, stuck_after))


def stuck_interval(stuck_after: float) -> float:
    """How often `dbvend serve` runs the pass: often enough to act within a quarter of the wait."""
    return min(60.0, stuck_after / 4)


def _resend_note(message: StuckMessage, now: float, stuck_after: float) -> str:
    sent, waited, at = _at(message.sent_at), _seconds(stuck_after), _at(now)
    if not message.local:
        return (
            f"its queue message was sent at {sent} and had not reached the consumer after {waited};"
            f" re-sent at {at}"
        )
    if message.state == "dead":
        why = f" ({message.last_error})" if message.last_error else ""
        return (
            f"its queue message, queued at {sent}, was dead-lettered{why} but the request was never"
            f" settled; queued again at {at}"
        )
    return (
        f"its queue message was queued at {sent} and no worker had taken it after {waited};"
        f" queued again at {at}"
    )


def _failure(message: StuckMessage, resent_at: float, stuck_after: float) -> str:
    sent, resent, waited = _at(message.sent_at), _at(resent_at), _seconds(stuck_after)
    if message.local:
        text = f"its queue message was queued at {sent} and never taken by a worker; queued again at {resent}"
    else:
        text = f"its queue message was sent at {sent} and never reached the consumer; re-sent at {resent}"
    text += f"; still not processed after {waited}"
    return text + (f" (last error: {message.last_error})" if message.last_error else "")


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _seconds(value: float) -> str:
    return f"{value:g} s"


@dataclass
class StuckSummary:
    """What one pass did: the requests whose message it re-sent, and those it failed."""

    resent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class StuckPass:
    """Finds the stuck messages and applies decide_stuck's verdicts.

    With a `publisher` it looks after messages sent through SNS and re-sends through it; without,
    after the local queue's. Several passes may run at once (Lambda containers, processes): each
    re-send is claimed by a conditional update of the message (resent_at still empty, its request
    still accepted) and each failure is a transition from `accepted` only, so one pass wins each.
    """

    def __init__(
        self,
        ledger: Ledger,
        stuck_after: float,  # seconds: Settings.stuck_after (DBVEND_STUCK_AFTER)
        clock: Callable[[], float] = time.time,
        publisher: SnsPublisher | None = None,
        replies: IssueReplies | None = None,
    ) -> None:
        self.ledger, self.stuck_after, self.clock = ledger, stuck_after, clock
        self.publisher, self.replies = publisher, replies

    def run(self) -> StuckSummary:
        now = self.clock()
        summary = StuckSummary()
        for message in self.find(now):
            self.settle(message, now, summary)
        return summary

    def find(self, now: float) -> list[StuckMessage]:
        """The accepted requests' messages with a verdict due at `now`, the longest waiting first."""
        qm = queue_messages
        sent_at = sa.func.coalesce(qm.c.sent_at, qm.c.enqueued_at)  # before revision 0006: queued
        since = sa.func.coalesce(qm.c.resent_at, sent_at)
        if self.publisher is not None:
            on_its_way = qm.c.state == "sent"
        else:  # ready and never taken (a taken one comes back by itself), or dead
            never_taken = sa.or_(qm.c.receive_count == 0, qm.c.resent_at.is_not(None))
            on_its_way = sa.or_(qm.c.state == "dead", sa.and_(qm.c.state == "ready", never_taken))
        query = (
            sa.select(
                qm.c.id, qm.c.request_id, qm.c.body, qm.c.state, sent_at, qm.c.resent_at, qm.c.last_error
            )
            .join(requests, requests.c.id == qm.c.request_id)
            .where(requests.c.status == "accepted", on_its_way, since <= now - self.stuck_after)
            .order_by(since)
            .limit(BATCH)
        )
        with self.ledger.reading() as conn:
            rows = conn.execute(query).all()
        return [
            StuckMessage(str(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4]), r[5], r[6]) for r in rows
        ]

    def settle(self, message: StuckMessage, now: float, summary: StuckSummary) -> None:
        verdict = decide_stuck(message, now, self.stuck_after)
        extra = {"request_id": message.request_id, "message_id": message.id}
        if verdict.action == "resend" and self._resend(message, now, verdict.detail):
            log.warning("stuck request: %s", verdict.detail, extra=extra)
            summary.resent.append(message.request_id)
        elif verdict.action == "fail" and self._fail(message, verdict.detail):
            log.error("stuck request failed: %s", verdict.detail, extra=extra)
            summary.failed.append(message.request_id)

    def _resend(self, message: StuckMessage, now: float, note: str) -> bool:
        """Claim the one re-send, then make it; False when another pass claimed it first."""
        requeue: dict[str, Any] = {}
        if message.state == "dead":  # back in the local queue, with its receives anew (visible
            # since before it was dead-lettered: receive() dead-letters only visible messages)
            requeue = {"state": "ready", "receive_count": 0, "receipt": None}
        with self.ledger.transaction() as conn:
            if not self._claim(conn, message, now, requeue):
                return False
            if self.publisher is None:  # the update was the re-send
                self.ledger.note(message.request_id, note, connection=conn)
                return True
        from engine.queue.sqs import channel_of

        try:
            transport_id = self.publisher.publish(message.body, message.request_id, channel_of(message.body))
        except Exception as exc:  # the failure comes `stuck_after` later, with this error in its reason
            error = f"the re-send failed: {type(exc).__name__}: {exc}"
            with self.ledger.transaction() as conn:
                conn.execute(
                    queue_messages.update()
                    .where(queue_messages.c.id == message.id)
                    .values(last_error=error[:ERROR_MAX])
                )
                self.ledger.note(message.request_id, f"{note}, but {error}", connection=conn)
            log.error("stuck request: %s", error, extra={"request_id": message.request_id})
            return False
        self.ledger.note(message.request_id, f"{note} (SNS message {transport_id})")
        return True

    def _claim(self, conn: Connection, message: StuckMessage, now: float, values: dict[str, Any]) -> bool:
        still_accepted = sa.select(requests.c.id).where(
            requests.c.id == message.request_id, requests.c.status == "accepted"
        )
        claimed = conn.execute(
            queue_messages.update()
            .where(
                queue_messages.c.id == message.id,
                queue_messages.c.resent_at.is_(None),
                queue_messages.c.request_id.in_(still_accepted),
            )
            .values(resent_at=now, **values)
        )
        return claimed.rowcount == 1

    def _fail(self, message: StuckMessage, reason: str) -> bool:
        """The request failed with `reason` (its name free again); False when it moved meanwhile."""
        values: dict[str, Any] = {"last_error": reason[:ERROR_MAX]}
        if message.local:  # no worker is to take it now
            values |= {"state": "dead", "receipt": None}
        with self.ledger.transaction() as conn:
            failed = self.ledger.transition(
                message.request_id,
                "failed",
                reason,
                errors=[{"error": reason}],
                expected="accepted",
                connection=conn,
            )
            if not failed:
                return False
            conn.execute(queue_messages.update().where(queue_messages.c.id == message.id).values(**values))
        text = (
            f"**dbvend could not process this request:** {md_escape(reason)}. The database's name is"
            " free again: open a new issue to ask for it."
        )
        tell_issue(self.replies, json.loads(message.body), text)
        return True
