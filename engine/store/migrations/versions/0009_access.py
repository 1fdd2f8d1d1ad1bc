"""Sign-in with GitHub and the audit trail (issue 23): portal sessions, OAuth states, and an
append-only audit table (triggers refuse UPDATE and DELETE on it, in SQLite and PostgreSQL).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_REFUSAL = "audit_events is append-only"
_SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
    f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"
    for verb in ("UPDATE", "DELETE")
)
_POSTGRES_TRIGGERS = (
    "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{_REFUSAL}'; END $$",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("door", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("environment", sa.String(32)),
        sa.Column("identifier", sa.String(64)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_events_database", "audit_events", ["environment", "identifier", "id"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor", "id"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    for statement in (
        _POSTGRES_TRIGGERS if op.get_context().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    ):
        op.execute(statement)
    op.create_table(
        "portal_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("login", sa.String(100), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("teams", sa.Text, nullable=False),
        sa.Column("permission", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_portal_sessions_expires_at", "portal_sessions", ["expires_at"])
    op.create_table(
        "oauth_states",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("next_path", sa.String(300), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_oauth_states_expires_at", "oauth_states", ["expires_at"])


def downgrade() -> None:
    op.drop_table("oauth_states")
    op.drop_table("portal_sessions")
    op.drop_table("audit_events")
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_events_append_only()")
