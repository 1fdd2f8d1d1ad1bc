"""GitHub mode at fleet scale (issue 24): the claims index and its state, and dbvend's changes as
recorded when opened and moved by webhooks.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claim_index",
        sa.Column("root", sa.String(200), primary_key=True),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("identifier", sa.String(64), nullable=False),
        sa.Column("blob_oid", sa.String(64), nullable=False),
        sa.Column("commit_oid", sa.String(64), nullable=False),
        sa.Column("claim", sa.Text, nullable=False),
        sa.Column("expires_at", sa.String(32)),
        sa.Column("engine", sa.String(32)),
        sa.Column("owner", sa.String(200)),
        sa.Column("team", sa.String(100)),
        sa.Column("monthly_usd", sa.Float),
        sa.Column("indexed_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_claim_index_expiry", "claim_index", ["expires_at", "root"])
    op.create_index("ix_claim_index_environment", "claim_index", ["environment", "expires_at"])
    op.create_index("ix_claim_index_team", "claim_index", ["team", "expires_at"])
    op.create_table(
        "claim_index_state",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("commit_oid", sa.String(64), nullable=False),
        sa.Column("tree_oid", sa.String(64)),
        sa.Column("reconciled_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "change_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("change_key", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("identifier", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_change_records_branch", "change_records", ["branch"])
    op.create_index("ix_change_records_database", "change_records", ["environment", "identifier", "status"])
    op.create_index("ix_change_records_status", "change_records", ["status", "id"])


def downgrade() -> None:
    op.drop_table("change_records")
    op.drop_table("claim_index_state")
    op.drop_table("claim_index")
