"""What GitHub mode needs to trust a delivery and answer once: a change's head and merge commits, the
one reply comment per issue and marker, the workflow runs the App dispatched, and the App's state.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("change_head", sa.String(64)))
        batch.add_column(sa.Column("merge_commit", sa.String(64)))
    op.create_table(
        "issue_comments",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("comment_id", sa.BigInteger),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("pending_body", sa.Text),
    )
    op.create_table(
        "dispatches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("change_id", sa.Integer, nullable=False),
        sa.Column("command", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("ref_oid", sa.String(64)),
        sa.Column("dispatched_at", sa.String(32), nullable=False),
        sa.Column("run_id", sa.BigInteger, unique=True),
        sa.Index("ix_dispatches_change", "change_id", "command"),
    )
    op.create_table(
        "app_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("app_state")
    op.drop_table("dispatches")
    op.drop_table("issue_comments")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("merge_commit")
        batch.drop_column("change_head")
