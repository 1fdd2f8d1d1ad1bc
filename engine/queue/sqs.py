"""The SNS -> SQS transport (boto3): how accepted requests reach the consumer Lambda in AWS.

Accepting a request records it and its message in one ledger transaction, the message in state
"outbox" (a transactional outbox). Once that has committed, Outbox.send publishes the message to
the SNS topic (message attributes request_id and channel) and marks it "sent" with SNS's
MessageId, the `sns_message_id` of the API's answer. The SQS queue is subscribed to the topic
with raw delivery, so each SQS message body is the message itself; after 5 receives a message
goes to the dead-letter queue (the queue's redrive policy, github-app/template.yaml).

Nothing is lost between the two steps: a publish that fails marks the request failed (its name
is free again) and the caller is told; a process that dies after the commit leaves the message
in the outbox, and Outbox.flush (run by every consumer invocation) sends it. A message published
twice is harmless: the consumer settles a request once (engine.queue.worker). A message SNS took
and never delivered (or that SQS dead-lettered unsettled) is re-sent once, then its request failed,
by the stuck pass (engine.queue.stuck) that the periodic event runs after the flush.

SqsBatch settles one Lambda batch: a record that fails is reported in `batchItemFailures`, so
only it comes back, after its visibility is set to the retry delay.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from engine.errors import QueueUnavailable
from engine.queue import Message
from engine.queue.tables import queue_messages
from engine.store.ledger import Ledger

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger("dbvend.queue")

STALE_AFTER: Final = 60.0  # seconds a message may sit in the outbox before flush sends it
MAX_VISIBILITY: Final = 12 * 3600  # SQS's limit for ChangeMessageVisibility


class SnsPublisher:
    """Publishes queue messages to one SNS topic (boto3's client made on first use)."""

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sns")
        return self._client

    def publish(self, body: str, request_id: str, channel: str) -> str:
        """SNS's MessageId for the published message."""
        answer = self.client.publish(
            TopicArn=self.topic_arn,
            Message=body,
            MessageAttributes={
                "request_id": {"DataType": "String", "StringValue": request_id},
                "channel": {"DataType": "String", "StringValue": channel},
            },
        )
        return str(answer["MessageId"])


class Outbox:
    """Sends the ledger's outbox messages to SNS, each at least once."""

    def __init__(self, ledger: Ledger, publisher: SnsPublisher, clock: Any = time.time) -> None:
        self.ledger, self.publisher, self.clock = ledger, publisher, clock

    def send(self, message_id: str) -> str:
        """Publish one outbox message (once: a sent message answers its MessageId again).

        Raises QueueUnavailable when SNS refuses it; the request is then failed, its name free.
        """
        with self.ledger.reading() as conn:
            row = conn.execute(sa.select(queue_messages).where(queue_messages.c.id == message_id)).one()
        if row.state == "sent":
            return str(row.transport_id)
        if row.state == "dead":  # an Idempotency-Key replay of a request that could not be queued
            raise QueueUnavailable(
                f"request {row.request_id} could not be queued and is failed: send it again"
                " with a new Idempotency-Key"
            )
        try:
            return self._publish(row)
        except Exception as exc:
            reason = f"could not be queued: {type(exc).__name__}: {exc}"
            log.error("request %s %s", row.request_id, reason, extra={"request_id": row.request_id})
            with self.ledger.transaction() as connection:
                connection.execute(
                    queue_messages.update()
                    .where(queue_messages.c.id == message_id, queue_messages.c.state == "outbox")
                    .values(state="dead", last_error=reason[:2000])
                )
                if row.request_id:
                    self.ledger.transition(
                        row.request_id, "failed", reason, errors=[{"error": reason}], connection=connection
                    )
            raise QueueUnavailable(
                f"the request was not queued ({type(exc).__name__}); nothing will be done: send it again"
            ) from exc

    def flush(self, older_than: float = STALE_AFTER) -> list[str]:
        """Send the outbox messages older than `older_than` seconds (their sender died); their ids."""
        with self.ledger.reading() as conn:
            rows = conn.execute(
                sa.select(queue_messages)
                .where(
                    queue_messages.c.state == "outbox",
                    queue_messages.c.enqueued_at <= self.clock() - older_than,
                )
                .order_by(queue_messages.c.enqueued_at)
            ).all()
        sent = []
        for row in rows:
            try:
                self._publish(row)
            except Exception as exc:  # still unreachable: the next flush tries again
                extra = {"request_id": row.request_id}
                log.warning("outbox message %s not sent: %s", row.id, exc, extra=extra)
                continue
            sent.append(str(row.id))
        return sent

    def _publish(self, row: Any) -> str:
        transport_id = self.publisher.publish(row.body, str(row.request_id or ""), channel_of(row.body))
        with self.ledger.transaction() as connection:
            connection.execute(
                queue_messages.update()
                .where(queue_messages.c.id == row.id)
                .values(state="sent", transport_id=transport_id, sent_at=self.clock())
            )
        log.info("sent to SNS as %s", transport_id, extra={"request_id": row.request_id})
        return transport_id


def channel_of(body: str) -> str:
    """The front door a queue message came through (its `channel` message attribute)."""
    return str(json.loads(body).get("channel") or "api")


def batch_messages(event: Mapping[str, Any]) -> list[Message]:
    """The messages of a Lambda SQS event (raw delivery from SNS: the body is the message)."""
    messages = []
    for record in event.get("Records") or []:
        attributes = record.get("messageAttributes") or {}
        request_id = (attributes.get("request_id") or {}).get("stringValue")
        messages.append(
            Message(
                id=str(record["messageId"]),
                request_id=request_id,
                body=str(record["body"]),
                receive_count=int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)),
                receipt=str(record["receiptHandle"]),
            )
        )
    return messages


def queue_url_of(event_source_arn: str, endpoint: str | None = None) -> str:
    """An SQS queue's URL from its ARN (arn:aws:sqs:<region>:<account>:<name>)."""
    _, _, _, region, account, name = event_source_arn.split(":", 5)
    base = endpoint.rstrip("/") if endpoint else f"https://sqs.{region}.amazonaws.com"
    return f"{base}/{account}/{name}"


class SqsBatch:
    """Settles the records of one Lambda SQS batch.

    ack: nothing to do (Lambda deletes the records not reported as failures). retry: the record
    is reported in batchItemFailures and comes back after `delay` (its visibility is changed when
    a queue URL and client are given). On the last receive before the redrive policy moves it to
    the dead-letter queue (`max_receives`, 5 like the template's maxReceiveCount) the request is
    marked failed with the error.
    """

    def __init__(
        self,
        ledger: Ledger,
        max_receives: int,
        client: Any = None,
        queue_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.ledger, self.max_receives, self.client = ledger, max_receives, client
        self.queue_urls = dict(queue_urls or {})  # message id -> its queue's URL
        self.failures: list[str] = []

    def ack(self, message: Message, connection: Connection | None = None) -> bool:
        return True

    def retry(self, message: Message, error: str, delay: float, connection: Connection | None = None) -> bool:
        self.failures.append(message.id)
        if message.receive_count >= self.max_receives:
            request_id = message.payload().get("request_id")
            if request_id:
                extra = {"request_id": request_id}
                log.error("last delivery failed, to the dead-letter queue: %s", error, extra=extra)
                self.ledger.transition(
                    request_id, "failed", error, errors=[{"error": error}], connection=connection
                )
            return True
        url = self.queue_urls.get(message.id)
        if self.client is not None and url:
            try:
                self.client.change_message_visibility(
                    QueueUrl=url,
                    ReceiptHandle=message.receipt,
                    VisibilityTimeout=int(min(max(delay, 0), MAX_VISIBILITY)),
                )
            except Exception as exc:  # the queue's own visibility timeout applies instead
                log.warning("could not delay message %s: %s", message.id, exc)
        return True

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The Lambda answer: the records to deliver again."""
        return {"batchItemFailures": [{"itemIdentifier": item} for item in self.failures]}
