"""The queue's table: its messages, in the store's database and on the store's MetaData."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.schema import metadata

# On the store's MetaData, so the migrations (engine/store/migrations) see one schema.
queue_messages = sa.Table(
    "queue_messages",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(64), index=True),
    sa.Column("body", sa.Text, nullable=False),
    # ready, done, dead (the local queue); outbox, sent (sent on through SNS, engine.queue.sqs)
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("visible_at", sa.Float, nullable=False),
    sa.Column("receive_count", sa.Integer, nullable=False, default=0),
    sa.Column("receipt", sa.String(64)),
    sa.Column("last_error", sa.Text),
    sa.Column("enqueued_at", sa.Float, nullable=False),
    sa.Column("transport_id", sa.String(100)),  # SNS's MessageId once sent
    # When it left the outbox (sent to SNS; a local message: when queued), and when the stuck pass
    # sent it again because no consumer had taken it (engine.queue.stuck; both revision 0006).
    sa.Column("sent_at", sa.Float),
    sa.Column("resent_at", sa.Float),
    sa.Index("ix_queue_ready", "state", "visible_at"),
)
