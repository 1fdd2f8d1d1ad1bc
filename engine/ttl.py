"""Time-to-live: when each database expires and what is due about it now (pure, from the claims).

Expiry is read from each root's request.json (`expires_at`, set at acceptance: accepted_at + ttl,
capped by the environment's maximum), never from HCL. The sweep (`dbvend ttl`) reads every claim
on the main branch in one `git cat-file --batch`, then asks `due` what is expired and which
reminders are owed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from engine.catalog import TtlPolicy
from engine.errors import FieldError, InvalidRequest
from engine.rds import final_snapshot_name
from engine.spec import format_ttl

DEFAULT_REMINDERS: Final = (timedelta(hours=48), timedelta(hours=2))


@dataclass(frozen=True)
class Lease:
    """One database's time-to-live, as its claim says."""

    directory: str  # terraform/<env>/<identifier>
    environment: str
    identifier: str
    request_id: str
    owner: str | None
    accepted_at: datetime
    expires_at: datetime | None  # None: no time-to-live
    extensions: int = 0
    destroying: bool = False  # its destroy change is merged: the destroy itself is under way
    final_snapshot: str | None = None  # the snapshot a destroy keeps (the environment keeps one)

    def left(self, now: datetime) -> timedelta | None:
        return None if self.expires_at is None else self.expires_at - now


@dataclass(frozen=True)
class Reminder:
    """A reminder owed: `window` before expiry (the most urgent one due; `covers` every window due)."""

    lease: Lease
    window: timedelta
    covers: tuple[timedelta, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """What marks these windows as told, once each (ledger events, comment markers)."""
        return tuple(reminder_key(self.lease, window) for window in self.covers)


@dataclass(frozen=True)
class Due:
    expired: tuple[Lease, ...]
    reminders: tuple[Reminder, ...]


def reminder_key(lease: Lease, window: timedelta) -> str:
    """Once per window of each expiry: an extension moves the expiry, and its reminders are new."""
    expires = int(lease.expires_at.timestamp()) if lease.expires_at is not None else 0
    return f"ttl-reminder:{lease.request_id}:{expires}:{int(window.total_seconds())}s"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its zone (claims write ...Z)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment


def lease_of(directory: str, claim_text: str) -> Lease:
    """The lease in one request.json; ValueError naming the directory when it cannot be read."""
    try:
        claim: Mapping[str, Any] = json.loads(claim_text)
        request = claim["request"]
        expires = claim.get("expires_at")
        identifier = directory.rsplit("/", 1)[-1]
        return Lease(
            directory=directory,
            environment=str(request["environment"]),
            identifier=identifier,
            request_id=str(claim["request_id"]),
            owner=request.get("owner"),
            accepted_at=parse_time(str(claim["accepted_at"])),
            expires_at=parse_time(str(expires)) if expires else None,
            extensions=int(claim.get("extensions") or 0),
            destroying=bool(claim.get("destroy_requested_at")),
            final_snapshot=(
                final_snapshot_name(identifier, str(claim["request_id"]))
                if claim.get("final_snapshot")
                else None
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{directory}/request.json: cannot read its time-to-live: {exc}") from None


def due(
    leases: Iterable[Lease],
    now: datetime,
    windows: Iterable[timedelta] = DEFAULT_REMINDERS,
    told: Collection[str] = (),
) -> Due:
    """What is expired at `now`, and the reminders owed (each window once: `told` holds the keys sent).

    When several windows are due at once (a sweep that ran late), one reminder goes out, for the
    most urgent of them, and covers the others.
    """
    ordered = sorted(set(windows), reverse=True)
    expired, reminders = [], []
    for lease in leases:
        if lease.expires_at is None or lease.destroying:
            continue
        if lease.expires_at <= now:
            expired.append(lease)
            continue
        owed = tuple(w for w in ordered if lease.expires_at - w <= now and reminder_key(lease, w) not in told)
        if owed:
            reminders.append(Reminder(lease, owed[-1], owed))
    expired.sort(key=lambda lease: (lease.expires_at, lease.directory))
    reminders.sort(key=lambda reminder: (reminder.lease.expires_at, reminder.lease.directory))
    return Due(tuple(expired), tuple(reminders))


def describe_left(left: timedelta) -> str:
    """A short human duration: 2d 3h, 5h 10m, 12m."""
    minutes = int(left.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def extend(
    lease: Lease, ttl: timedelta, now: datetime, policy: TtlPolicy, extensions_so_far: int
) -> datetime:
    """The new expiry when `lease` is extended to `now + ttl`, within the environment's rules.

    The maximum is measured from the request's acceptance, so extensions never push past it;
    `max_extensions` counts them. InvalidRequest (field `ttl`) says which rule refuses.
    """
    if lease.expires_at is None:
        raise InvalidRequest([FieldError("ttl", f"{lease.directory} has no time-to-live to extend")])
    if ttl <= timedelta(0):
        raise InvalidRequest([FieldError("ttl", "must be longer than zero")])
    if policy.max_extensions is not None and extensions_so_far >= policy.max_extensions:
        raise InvalidRequest(
            [
                FieldError(
                    "ttl", f"{lease.environment} allows {policy.max_extensions} extensions; all are used"
                )
            ]
        )
    new = now + ttl
    if policy.max is not None:
        cap = lease.accepted_at + policy.max
        if new > cap:
            limit = format_ttl(policy.max)
            raise InvalidRequest(
                [
                    FieldError(
                        "ttl",
                        f"{lease.environment} keeps a database at most {limit} from its request: "
                        f"until {cap.isoformat().replace('+00:00', 'Z')} at the latest",
                    )
                ]
            )
    if new <= lease.expires_at:
        raise InvalidRequest(
            [
                FieldError(
                    "ttl",
                    f"would not extend: {lease.directory} already expires at "
                    f"{lease.expires_at.isoformat().replace('+00:00', 'Z')}",
                )
            ]
        )
    return new
