"""What GitHub mode keeps in the ledger: webhook deliveries seen, dbvend's one reply comment per
issue and marker, the workflow runs the App dispatched, and the App's own state."""

from __future__ import annotations

import hashlib
import time

import sqlalchemy as sa

from engine.store.base import Store
from engine.store.records import CommentSlot, now_text
from engine.store.schema import app_state, dispatches, issue_comments, webhook_deliveries


class GitHubRecords(Store):
    """Deliveries, reply comments, dispatched runs and the App's state (engine.store.ledger.Ledger)."""

    def claim_delivery(self, delivery_id: str, event: str) -> bool:
        """Record a webhook delivery; False when it was recorded before (a redelivery)."""
        try:
            with self.transaction() as connection:
                connection.execute(
                    webhook_deliveries.insert().values(id=delivery_id, event=event, received_at=now_text())
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def first_time(self, key: str, event: str) -> bool:
        """True the first time `key` is seen, ever (a reminder sent, an event noted): kept with the
        webhook deliveries, so two processes asking at once get one True between them."""
        return self.claim_delivery("once-" + hashlib.sha256(key.encode()).hexdigest()[:48], event)

    def release_delivery(self, delivery_id: str) -> None:
        """Forget a delivery whose handling failed, so that GitHub's redelivery is handled."""
        with self.transaction() as connection:
            connection.execute(webhook_deliveries.delete().where(webhook_deliveries.c.id == delivery_id))

    # -- GitHub: reply comments, dispatched runs, the App's state -----------------------

    def claim_comment(self, key: str, token: str, stale_after: float) -> CommentSlot:
        """The comment slot `key`: `mine` when this caller (`token`) is to create the comment, either
        first or because the one who claimed it before has not recorded a comment for
        `stale_after` seconds (it died); else the comment id, or None while it is being made."""
        now = time.time()
        try:
            with self.transaction() as connection:
                connection.execute(issue_comments.insert().values(key=key, claimed_by=token, claimed_at=now))
            return CommentSlot(None, True)
        except sa.exc.IntegrityError:
            pass
        with self.transaction() as connection:
            row = connection.execute(sa.select(issue_comments).where(issue_comments.c.key == key)).one()
            if row.comment_id is not None:
                return CommentSlot(int(row.comment_id), False)
            if row.claimed_by != token and now - row.claimed_at < stale_after:
                return CommentSlot(None, False)
            connection.execute(
                issue_comments.update()
                .where(issue_comments.c.key == key)
                .values(claimed_by=token, claimed_at=now)
            )
            return CommentSlot(None, True)

    def record_comment(self, key: str, token: str, comment_id: int) -> str | None:
        """The comment the slot's holder made (everyone after edits it), and the text a writer left
        meanwhile (leave_comment), taken: the holder writes it next."""
        with self.transaction() as connection:
            pending = connection.execute(
                sa.select(issue_comments.c.pending_body).where(issue_comments.c.key == key)
            ).scalar_one_or_none()
            connection.execute(
                issue_comments.update()
                .where(issue_comments.c.key == key, issue_comments.c.claimed_by == token)
                .values(comment_id=comment_id, pending_body=None)
            )
        return None if pending is None else str(pending)

    def take_pending_comment(self, key: str) -> str | None:
        """The text a writer left after the holder recorded its comment (none: None), taken."""
        with self.transaction() as connection:
            pending = connection.execute(
                sa.select(issue_comments.c.pending_body).where(issue_comments.c.key == key)
            ).scalar_one_or_none()
            if pending is not None:
                connection.execute(
                    issue_comments.update().where(issue_comments.c.key == key).values(pending_body=None)
                )
        return None if pending is None else str(pending)

    def leave_comment(self, key: str, body: str) -> int | None:
        """While another writer makes the slot's comment: leave `body` for it to write (None), or,
        when that comment exists by now, its id (the caller edits it itself)."""
        with self.transaction() as connection:
            left = connection.execute(
                issue_comments.update()
                .where(issue_comments.c.key == key, issue_comments.c.comment_id.is_(None))
                .values(pending_body=body)
            )
            if left.rowcount:
                return None
            found = connection.execute(
                sa.select(issue_comments.c.comment_id).where(issue_comments.c.key == key)
            ).scalar_one_or_none()
        return None if found is None else int(found)

    def forget_comment(self, key: str) -> None:
        """The recorded comment is gone (deleted on GitHub): the next writer makes a new one."""
        with self.transaction() as connection:
            connection.execute(issue_comments.delete().where(issue_comments.c.key == key))

    def record_dispatch(self, change_id: int, command: str, ref: str, ref_oid: str | None) -> None:
        """The App started the workflow for a command on a change, on `ref` at `ref_oid`."""
        with self.transaction() as connection:
            connection.execute(
                dispatches.insert().values(
                    change_id=change_id, command=command, ref=ref, ref_oid=ref_oid, dispatched_at=now_text()
                )
            )

    def answer_dispatch(self, run_id: int, change_id: int, command: str, ref: str, head_sha: str) -> bool:
        """Whether run `run_id` answers a dispatch of `command` on `change_id` (on `ref`, at
        `head_sha`): the run that answered it before (a re-run), or the oldest unanswered matching
        dispatch, which it then answers."""
        with self.transaction() as connection:
            row = connection.execute(sa.select(dispatches).where(dispatches.c.run_id == run_id)).one_or_none()
            if row is not None:
                return bool(row.change_id == change_id and row.command == command)
            candidate = connection.execute(
                sa.select(dispatches.c.id)
                .where(
                    dispatches.c.change_id == change_id,
                    dispatches.c.command == command,
                    dispatches.c.ref == ref,
                    dispatches.c.run_id.is_(None),
                    sa.or_(dispatches.c.ref_oid.is_(None), dispatches.c.ref_oid == head_sha),
                )
                .order_by(dispatches.c.id)
                .limit(1)
            ).scalar_one_or_none()
            if candidate is None:
                return False
            connection.execute(dispatches.update().where(dispatches.c.id == candidate).values(run_id=run_id))
            return True

    def set_app_state(self, key: str, value: str) -> None:
        with self.transaction() as connection:
            at = now_text()
            updated = connection.execute(
                app_state.update().where(app_state.c.key == key).values(value=value, updated_at=at)
            )
            if updated.rowcount == 0:
                connection.execute(app_state.insert().values(key=key, value=value, updated_at=at))

    def app_state(self, key: str) -> str | None:
        with self.reading() as conn:
            value = conn.execute(
                sa.select(app_state.c.value).where(app_state.c.key == key)
            ).scalar_one_or_none()
        return None if value is None else str(value)
