"""Queue messages keep when they left the outbox and when the stuck pass sent them again.

Messages from before this revision have no sent_at; the stuck pass reads their enqueued_at instead.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_messages") as batch:
        batch.add_column(sa.Column("sent_at", sa.Float))
        batch.add_column(sa.Column("resent_at", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("queue_messages") as batch:
        batch.drop_column("resent_at")
        batch.drop_column("sent_at")
