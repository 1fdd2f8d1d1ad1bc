"""Each destroyed request keeps the name of the final snapshot its destroy kept (issue 22: restore
from "final").

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("final_snapshot", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("final_snapshot")
