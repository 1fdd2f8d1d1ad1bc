"""Day two (issue 21): a database's connection details once applied, and the notifications outbox
(events written with the status change that makes them; one delivery row per event and target).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("connection", sa.Text))
    op.create_table(
        "notification_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("environment", sa.String(32)),
        sa.Column("identifier", sa.String(64)),
        sa.Column("status", sa.String(16)),
        sa.Column("detail", sa.Text),
        sa.Column("link", sa.String(500)),
        sa.Column("data", sa.Text),
        sa.Column("done", sa.Boolean, nullable=False),
    )
    op.create_index("ix_notification_events_pending", "notification_events", ["done", "at"])
    op.create_table(
        "notification_deliveries",
        sa.Column("event_id", sa.String(64), sa.ForeignKey("notification_events.id"), primary_key=True),
        sa.Column("target", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_notification_deliveries_due", "notification_deliveries", ["state", "next_at"])


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_table("notification_events")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("connection")
