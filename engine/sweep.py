"""The time-to-live sweep's reminders: each owner told once per window, through the ports given.

What is due comes from engine.ttl (pure). A reminder is recorded in the ledger before it is sent
(its key in the same table as webhook deliveries), so a sweep run twice, or two sweeps at once,
tell the owner once: a ledger event and a log line always, and in GitHub mode a comment on the
request's issue (or its pull request when it has no issue).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from engine.description import md_escape
from engine.errors import DbvendError
from engine.gitops import IssueReplies
from engine.ledger import Ledger
from engine.ttl import Due, Reminder, describe_left, reminder_key

log = logging.getLogger("dbvend.ttl")


@dataclass(frozen=True)
class Told:
    """A reminder the sweep sent (or, in a dry run, would send)."""

    directory: str
    request_id: str
    window: str
    where: str  # "ledger", "issue #12", "pull request #3"


def delivery_id(key: str) -> str:
    """The reminder's key as a ledger delivery id (≤ 64 characters, whatever the request id)."""
    return "ttl-" + hashlib.sha256(key.encode()).hexdigest()[:48]


def reminder_text(reminder: Reminder, now: datetime) -> str:
    lease = reminder.lease
    assert lease.expires_at is not None
    left = describe_left(lease.expires_at - now)
    expires = lease.expires_at.isoformat().replace("+00:00", "Z")
    return (
        f"Time-to-live: `{md_escape(lease.directory)}` expires at {expires} (in {left}). "
        "After that dbvend proposes its destruction."
    )


def remind(
    found: Due, ledger: Ledger, replies: IssueReplies | None, now: datetime, dry_run: bool = False
) -> list[Told]:
    """Send the reminders owed, each once; the ones a run sends (a dry run: would send)."""
    told = []
    for reminder in found.reminders:
        lease = reminder.lease
        window = describe_left(reminder.window)
        record = ledger.get(lease.request_id)
        if record is None:
            log.warning("no request %s in the ledger: reminder not sent", lease.request_id)
            continue
        if dry_run:
            told.append(Told(lease.directory, lease.request_id, window, "dry run"))
            continue
        # The most urgent window due is this reminder's own; the earlier ones it covers are
        # marked told with it (a sweep that ran late sends one reminder, not two).
        if not ledger.claim_delivery(delivery_id(reminder_key(lease, reminder.window)), "ttl-reminder"):
            continue  # another sweep told them already
        for key in reminder.keys:
            ledger.claim_delivery(delivery_id(key), "ttl-reminder")
        text = reminder_text(reminder, now)
        ledger.note(record.id, text)
        log.info("reminder: %s", text, extra={"request_id": record.id})
        where = "ledger"
        origin = ledger.origin_of(record.id) or {}
        number = origin.get("issue") if isinstance(origin.get("issue"), int) else record.change_id
        if replies is not None and isinstance(number, int):
            marker = f"<!-- dbvend:ttl-reminder:{int(reminder.window.total_seconds())}s -->"
            try:
                replies.reply(number, marker, f"{marker}\n{text}\n")
                where = f"issue #{number}" if "issue" in origin else f"pull request #{number}"
            except DbvendError as exc:
                log.warning("reminder not posted on #%d: %s", number, exc, extra={"request_id": record.id})
        told.append(Told(lease.directory, record.id, window, where))
    return told
