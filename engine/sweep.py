"""The time-to-live sweep: reminders before expiry, destruction after, through the ports given.

What is due comes from engine.ttl (pure). A reminder is recorded in the ledger before it is sent
(its key in the same table as webhook deliveries), so a sweep run twice, or two sweeps at once,
tell the owner once: a ledger event and a log line always, and in GitHub mode a comment on the
request's issue (or its pull request when it has no issue).

An expired database gets a destroy change (engine.lifecycle: found again by its key, so a second
sweep, or one finishing what an interrupted one started, opens nothing new), or, where dbvend.yaml
sets `auto_destroy` and the sweep can run terraform, is destroyed there and then. The owner is
told once per expiry, like a reminder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from engine.catalog import Catalog
from engine.description import md_escape
from engine.errors import DbvendError
from engine.gitops import GitOpsBackend, IssueReplies
from engine.identity import system
from engine.lifecycle import audit_claim, current_claim, destroy_key, propose_destroy
from engine.queue.local import origin_of
from engine.store.ledger import Ledger
from engine.ttl import Due, Lease, Reminder, describe_left, reminder_key

# Destroys one root (plan -destroy, apply, then the root's removal): (succeeded, what happened).
Destroyer = Callable[[str], tuple[bool, str]]

log = logging.getLogger("dbvend.ttl")


@dataclass(frozen=True)
class Told:
    """A reminder the sweep sent (or, in a dry run, would send)."""

    directory: str
    request_id: str
    window: str
    where: str  # "ledger", "issue #12", "pull request #3"


@dataclass(frozen=True)
class Expiry:
    """What the sweep did (or, in a dry run, would do) about one expired database."""

    directory: str
    request_id: str
    action: str


def reminder_text(reminder: Reminder, now: datetime) -> str:
    lease = reminder.lease
    assert lease.expires_at is not None
    left = describe_left(lease.expires_at - now)
    expires = lease.expires_at.isoformat().replace("+00:00", "Z")
    where = f"{lease.environment}/{lease.identifier}"
    return (
        f"Time-to-live: `{md_escape(lease.directory)}` expires at {expires} (in {left}). "
        "After that dbvend proposes its destruction. To keep it longer, comment `/extend 3d` on this "
        "issue or its pull request (it sets the expiry to now + 3d; any hours or days will do), or run "
        f'`dbvend extend {where} 3d`, or `PATCH /v1/databases/{where}` with `{{"ttl": "3d"}}`.'
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
        if not ledger.first_time(reminder_key(lease, reminder.window), "ttl-reminder"):
            continue  # another sweep told them already
        for key in reminder.keys:
            ledger.first_time(key, "ttl-reminder")
        text = reminder_text(reminder, now)
        assert lease.expires_at is not None
        expires_at = lease.expires_at.isoformat().replace("+00:00", "Z")
        left = describe_left(lease.expires_at - now)
        ledger.notify("expiring", record.id, f"expires at {expires_at} (in {left})")
        # one comment per window of each expiry: after an extension the owner is told anew
        expiry, window_s = int(lease.expires_at.timestamp()), int(reminder.window.total_seconds())
        where = tell(ledger, replies, record.id, f"<!-- dbvend:ttl-reminder:{expiry}:{window_s}s -->", text)
        told.append(Told(lease.directory, record.id, window, where))
    return told


def tell(ledger: Ledger, replies: IssueReplies | None, request_id: str, marker: str, text: str) -> str:
    """A ledger event and a log line, and in GitHub mode a comment on the request's issue (else its
    pull request) carrying `marker`; where it was said."""
    ledger.note(request_id, text)
    log.info("ttl: %s", text, extra={"request_id": request_id})
    record = ledger.get(request_id)
    origin = origin_of(ledger, request_id) or {}
    number = origin.get("issue") if isinstance(origin.get("issue"), int) else record and record.change_id
    if replies is None or not isinstance(number, int):
        return "ledger"
    try:
        replies.reply(number, marker, f"{marker}\n{text}\n")
    except DbvendError as exc:
        log.warning("not posted on #%d: %s", number, exc, extra={"request_id": request_id})
        return "ledger"
    return f"issue #{number}" if "issue" in origin else f"pull request #{number}"


def expire(
    found: Due,
    catalog: Catalog,
    backend: GitOpsBackend | None,
    ledger: Ledger | None,
    replies: IssueReplies | None,
    now: datetime,
    dry_run: bool = False,
    destroyer: Destroyer | None = None,
) -> list[Expiry]:
    """Act on every expired database, once: a destroy change through `backend` (None: listed only),
    or where `catalog` says auto_destroy and there is a `destroyer`, the destroy itself."""
    done = []
    for lease in found.expired:
        env = catalog.environments.get(lease.environment)
        if env is None or env.destroy_protected:
            why = "not in dbvend.yaml" if env is None else "destroy-protected"
            action = f"left alone: {lease.environment} is {why}"
        elif not (env.ttl.auto_destroy and destroyer is not None) and backend is None:
            action = f"expired at {_iso(lease)}: listed (no GitOps store here to open a destroy change)"
        elif dry_run:
            direct = env.ttl.auto_destroy and destroyer is not None
            action = "would destroy it (auto_destroy)" if direct else "would open a destroy change"
        else:
            auto = destroyer if env.ttl.auto_destroy else None
            action = _act(lease, backend, ledger, now, auto, env.production)
            if ledger is not None and not action.startswith(("failed", "expired at")):
                _tell_expired(lease, ledger, replies, action)
        done.append(Expiry(lease.directory, lease.request_id, action))
    return done


def _act(
    lease: Lease,
    backend: GitOpsBackend | None,
    ledger: Ledger | None,
    now: datetime,
    destroyer: Destroyer | None,
    production: bool,
) -> str:
    try:
        if destroyer is not None:
            ok, detail = destroyer(lease.directory)
            if not ok:
                return f"failed: auto_destroy of {lease.directory}: {detail}"
            return "destroyed"
        assert backend is not None
        return _propose(lease, backend, ledger, now, production)
    except DbvendError as exc:
        log.warning("expired %s: %s", lease.directory, exc, extra={"request_id": lease.request_id})
        return f"failed: {exc}"


def _tell_expired(lease: Lease, ledger: Ledger, replies: IssueReplies | None, action: str) -> None:
    """The ledger follows a destroy; the owner hears of the expiry once (per expiry)."""
    if ledger.get(lease.request_id) is None:
        return
    if action == "destroyed":
        said = "time-to-live ran out: destroyed by the sweep"
        ledger.transition(
            lease.request_id, "destroyed", said, final_snapshot=lease.final_snapshot, actor=system("schedule")
        )
    expiry = int(lease.expires_at.timestamp()) if lease.expires_at else 0
    if ledger.first_time(f"ttl-expired:{lease.request_id}:{expiry}", "ttl-expired"):
        text = f"Time-to-live: `{md_escape(lease.directory)}` expired at {_iso(lease)}: {action}."
        tell(ledger, replies, lease.request_id, f"<!-- dbvend:ttl-expired:{expiry} -->", text)


def _propose(
    lease: Lease, backend: GitOpsBackend, ledger: Ledger | None, now: datetime, production: bool
) -> str:
    claim, _ = current_claim(backend, lease.environment, lease.identifier)
    why = f"its time-to-live ran out at {_iso(lease)}"
    change = propose_destroy(backend, claim, now, why, production, ledger)
    if (
        ledger is not None
        and change.status == "open"
        and ledger.first_time(destroy_key(claim, change), "destroy")
    ):
        audit_claim(ledger, system("schedule"), "destroy", claim, f"{why}: change #{change.id}")
    if change.status == "closed":
        return f"destroy change #{change.id} was closed unmerged: left alone until extended or destroyed"
    if change.status == "merged":
        return f"destroy change #{change.id} is merged: the destroy is under way"
    link = f" ({change.link})" if change.link else ""
    return f"destroy change #{change.id} is open{link}"


def _iso(lease: Lease) -> str:
    assert lease.expires_at is not None
    return lease.expires_at.isoformat().replace("+00:00", "Z")
