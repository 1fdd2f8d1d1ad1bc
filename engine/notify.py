"""Notifications as values: an event's JSON body, its Slack line, its signature, the retry schedule."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from engine.catalog import Notification
from engine.signing import signature

# The request statuses that are events of their own name (the others, processing, merged and
# closed, are not told); the other events are written by the code that makes them (Ledger.notify).
NOTIFIED_STATUSES: Final = frozenset(
    {"accepted", "rejected", "change_open", "planned", "applied", "failed", "destroy_open", "destroyed"}
)
# The `json` format's fields, in every event (issue 21); `applied` adds `connection`.
EVENT_FIELDS: Final = (
    "id",
    "event",
    "at",
    "request_id",
    "environment",
    "identifier",
    "status",
    "detail",
    "link",
)
SIGNATURE_HEADER: Final = "X-Dbvend-Signature-256"
EVENT_HEADER: Final = "X-Dbvend-Event"
EVENT_ID_HEADER: Final = "X-Dbvend-Event-Id"
# Seconds before attempt n + 1 after n failed ones: quick at first, then hourly; a delivery is
# given up after the last (about a day after the event).
BACKOFF: Final = (10.0, 30.0, 120.0, 600.0, 1800.0) + (3600.0,) * 23
_ICONS: Final = {
    "accepted": ":inbox_tray:",
    "rejected": ":no_entry:",
    "change_open": ":memo:",
    "planned": ":clipboard:",
    "applied": ":white_check_mark:",
    "failed": ":x:",
    "modify_open": ":pencil2:",
    "expiring": ":hourglass:",
    "destroy_open": ":wastebasket:",
    "destroyed": ":skull:",
    "drift": ":warning:",
}
_WORDS: Final = {
    "change_open": "change opened",
    "modify_open": "modify change opened",
    "destroy_open": "destroy change opened",
}
_SLACK_ESCAPES: Final = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


@dataclass(frozen=True)
class NotificationEvent:
    """One event as the ledger's outbox keeps it (engine.store.notifications)."""

    id: str
    event: str
    at: str
    request_id: str | None
    environment: str | None
    identifier: str | None
    status: str | None
    detail: str | None
    link: str | None
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The `json` format's body: these fields, and for `applied` the connection (no secret)."""
        body: dict[str, Any] = {name: getattr(self, name) for name in EVENT_FIELDS}
        if self.event == "applied":
            body["connection"] = self.data.get("connection")
        return body


def slack_escape(text: str) -> str:
    """Slack's three control characters escaped (its docs: &, <, >), so a detail cannot make a link
    or mention anyone."""
    for raw, escaped in _SLACK_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def slack_text(event: NotificationEvent) -> str:
    """One readable line: ':white_check_mark: dev/orders applied — <link|change #12>: detail'."""
    where = f"{event.environment}/{event.identifier}" if event.environment else "dbvend"
    line = f"{_ICONS.get(event.event, ':bell:')} {slack_escape(where)} {_WORDS.get(event.event, event.event)}"
    if event.link and urlsplit(event.link).scheme in ("http", "https"):
        label = event.link.rstrip("/").rsplit("/", 1)[-1]
        shown = f"change #{label}" if label.isdigit() else "details"
        line += f" — <{slack_escape(event.link).replace('|', '%7C')}|{shown}>"
    elif event.link:
        line += f" — {slack_escape(event.link)}"
    if event.detail:
        first = " ".join(event.detail.split())
        line += f": {slack_escape(first[:300] + ('…' if len(first) > 300 else ''))}"
    return line


def request_body(event: NotificationEvent, fmt: str) -> bytes:
    """What is posted: {"text": ...} for slack, the event for json."""
    payload = {"text": slack_text(event)} if fmt == "slack" else event.as_dict()
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def request_headers(event: NotificationEvent, body: bytes, secret: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dbvend-notifier",
        EVENT_HEADER: event.event,
        EVENT_ID_HEADER: event.id,
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return headers


def retry_delay(failed_attempts: int) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failed ones; None: give up."""
    if failed_attempts < 1 or failed_attempts > len(BACKOFF):
        return None
    return BACKOFF[failed_attempts - 1]


def shown_url(url: str) -> str:
    """A target as logs and errors show it: scheme and host only (a webhook's path or query is
    often its secret: Slack's is)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def targets_for(event: NotificationEvent, targets: tuple[Notification, ...]) -> list[Notification]:
    """The targets that want this event, in dbvend.yaml's order."""
    return [target for target in targets if target.wants(event.event, event.environment)]
