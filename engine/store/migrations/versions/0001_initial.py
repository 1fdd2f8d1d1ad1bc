"""The first ledger schema: requests, their events, and the local queue's messages.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("identifier", sa.String(64), nullable=False),
        sa.Column("database_name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("holds", sa.String(100), unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("change_id", sa.Integer),
        sa.Column("change_link", sa.String(500)),
        sa.Column("errors", sa.Text),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("requester", "idempotency_key", name="uq_requests_idempotency"),
    )
    op.create_index("ix_requests_listing", "requests", ["environment", "created_at"])
    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_request_events_request_id", "request_events", ["request_id"])
    op.create_table(
        "queue_messages",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(64)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("visible_at", sa.Float, nullable=False),
        sa.Column("receive_count", sa.Integer, nullable=False),
        sa.Column("receipt", sa.String(64)),
        sa.Column("last_error", sa.Text),
        sa.Column("enqueued_at", sa.Float, nullable=False),
    )
    op.create_index("ix_queue_messages_request_id", "queue_messages", ["request_id"])
    op.create_index("ix_queue_ready", "queue_messages", ["state", "visible_at"])


def downgrade() -> None:
    op.drop_table("queue_messages")
    op.drop_table("request_events")
    op.drop_table("requests")
