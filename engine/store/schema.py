"""The store's tables (SQLAlchemy): requests, their events, webhook deliveries, the GitHub App's state."""

from __future__ import annotations

import sqlalchemy as sa

# One MetaData for the whole database: the queue adds its table to it (engine.queue.tables), and
# engine/store/migrations creates them all.
metadata = sa.MetaData()

requests = sa.Table(
    "requests",
    metadata,
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
    sa.Column("policy", sa.Text),  # the policy gate's decision, JSON (revision 0002)
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("change_head", sa.String(64)),  # the change's head commit when it was opened (0005)
    sa.Column("merge_commit", sa.String(64)),  # and its merge commit once merged (0005)
    sa.Column("connection", sa.Text),  # how to reach the database once applied, JSON, no secret (0007)
    sa.Column("final_snapshot", sa.String(255)),  # the snapshot its destroy kept, if any (0008)
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("requester", "idempotency_key", name="uq_requests_idempotency"),
    sa.Index("ix_requests_listing", "environment", "created_at"),
)

request_events = sa.Table(
    "request_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), sa.ForeignKey("requests.id"), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("received_at", sa.String(32), nullable=False),
)

# dbvend's one comment per issue and marker: the first writer claims the key, then records the
# comment it made; everyone else edits that comment (engine.github.replies.GitHubIssueReplies).
issue_comments = sa.Table(
    "issue_comments",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("comment_id", sa.BigInteger),
    sa.Column("claimed_by", sa.String(64), nullable=False),
    sa.Column("claimed_at", sa.Float, nullable=False),
    sa.Column("pending_body", sa.Text),  # a later writer's text, left for the holder to write
)

# The workflow runs the App started (/plan, /apply, /destroy): a completed run counts only when it
# answers one of these (engine.webhooks.pulls).
dispatches = sa.Table(
    "dispatches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("change_id", sa.Integer, nullable=False),
    sa.Column("command", sa.String(16), nullable=False),
    sa.Column("ref", sa.String(200), nullable=False),
    sa.Column("ref_oid", sa.String(64)),  # the ref's commit when dispatched: the run's head_sha
    sa.Column("dispatched_at", sa.String(32), nullable=False),
    sa.Column("run_id", sa.BigInteger, unique=True),  # the run that answered it
    sa.Index("ix_dispatches_change", "change_id", "command"),
)

# Small facts about the App itself (its installation's state), by key.
app_state = sa.Table(
    "app_state",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)

# Notifications (issue 21): an event row is written in the transaction that makes it happen (the
# outbox); the notifier sends it after commit to each target dbvend.yaml names for it, one
# delivery row per event and target, retried with backoff until sent or given up.
notification_events = sa.Table(
    "notification_events",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # sent as X-Dbvend-Event-Id
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(64)),
    sa.Column("environment", sa.String(32)),
    sa.Column("identifier", sa.String(64)),
    sa.Column("status", sa.String(16)),
    sa.Column("detail", sa.Text),
    sa.Column("link", sa.String(500)),
    sa.Column("data", sa.Text),  # JSON: what the event carries besides (the connection, say)
    sa.Column("done", sa.Boolean, nullable=False, default=False),  # every target sent or given up
    sa.Index("ix_notification_events_pending", "done", "at"),
)

notification_deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("event_id", sa.String(64), sa.ForeignKey("notification_events.id"), primary_key=True),
    sa.Column("target", sa.String(64), primary_key=True),  # a hash of the target's url and format
    sa.Column("state", sa.String(8), nullable=False),  # pending | sent | failed (given up)
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_notification_deliveries_due", "state", "next_at"),
)

# Who did what (issue 23): one row per action or refusal, appended and never changed (the
# migration adds triggers that refuse UPDATE and DELETE on it). Paged newest first by id.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),  # github:<login>, key:<name>, dbvend, ci
    sa.Column("door", sa.String(16), nullable=False),  # api, portal, issue, comment, webhook, ci, schedule
    sa.Column("action", sa.String(32), nullable=False),  # request, change_open, merge, apply, ...
    sa.Column("outcome", sa.String(16), nullable=False),  # ok, refused, failed
    sa.Column("environment", sa.String(32)),
    sa.Column("identifier", sa.String(64)),
    sa.Column("request_id", sa.String(64)),
    sa.Column("detail", sa.Text),
    sa.Index("ix_audit_events_database", "environment", "identifier", "id"),
    sa.Index("ix_audit_events_actor", "actor", "id"),
    sa.Index("ix_audit_events_at", "at"),
)

# Portal sessions of people signed in with GitHub (issue 23): the cookie holds a random token,
# the ledger only its SHA-256, with the identity GitHub gave at sign-in (never GitHub's token).
portal_sessions = sa.Table(
    "portal_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 of the cookie's token
    sa.Column("login", sa.String(100), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("teams", sa.Text, nullable=False),  # JSON list of the organisation's team slugs
    sa.Column("permission", sa.String(16), nullable=False),  # on the infrastructure repository
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

# The OAuth `state` values handed out and not yet used: a callback deletes its row, so a state
# counts once (a replay finds no row), whichever instance served the redirect.
oauth_states = sa.Table(
    "oauth_states",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 of the state's nonce
    sa.Column("next_path", sa.String(300), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

# GitHub mode at fleet scale (issue 24): the claims on the default branch, indexed per database
# root from push webhooks and a periodic reconcile that reads only the tree's blob ids; the fleet,
# the database pages, lifecycle reads and the sweep read this instead of every file on GitHub.
claim_index = sa.Table(
    "claim_index",
    metadata,
    sa.Column("root", sa.String(200), primary_key=True),  # terraform/<env>/<id>
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("identifier", sa.String(64), nullable=False),
    sa.Column("blob_oid", sa.String(64), nullable=False),  # request.json's blob id
    sa.Column("commit_oid", sa.String(64), nullable=False),  # the default branch's commit it was read at
    sa.Column("claim", sa.Text, nullable=False),  # request.json's text
    sa.Column("expires_at", sa.String(32)),  # for the fleet's order (soonest first); null: no expiry
    sa.Column("engine", sa.String(32)),
    sa.Column("owner", sa.String(200)),
    sa.Column("team", sa.String(100)),
    sa.Column("monthly_usd", sa.Float),  # the cost estimate, for totals computed in the database
    sa.Column("indexed_at", sa.String(32), nullable=False),
    sa.Index("ix_claim_index_expiry", "expires_at", "root"),
    sa.Index("ix_claim_index_environment", "environment", "expires_at"),
    sa.Index("ix_claim_index_team", "team", "expires_at"),
)

# The index's own state: the default branch's commit the last reconcile read (key "main").
claim_index_state = sa.Table(
    "claim_index_state",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("commit_oid", sa.String(64), nullable=False),
    sa.Column("tree_oid", sa.String(64)),  # terraform/'s tree id: unchanged means nothing to read
    sa.Column("reconciled_at", sa.String(32), nullable=False),
)

# dbvend's changes on GitHub (issue 24), recorded when dbvend opens one and moved by the
# pull_request webhooks: changes() reads these instead of paging through every pull request.
change_records = sa.Table(
    "change_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # the pull request's number
    sa.Column("branch", sa.String(255), nullable=False, index=True),
    sa.Column("change_key", sa.String(200), nullable=False),  # the marker's key: <request id>[.<kind>]
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("identifier", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | merged | closed
    sa.Column("data", sa.Text, nullable=False),  # the Change as JSON (title, link, commit, ...)
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Index("ix_change_records_database", "environment", "identifier", "status"),
    sa.Index("ix_change_records_status", "status", "id"),
)
