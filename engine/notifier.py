"""Sending notifications: the outbox's due deliveries posted to dbvend.yaml's targets, after commit,
off the request path (`dbvend serve`'s sender thread, the SQS consumer, `dbvend notify send`)."""

from __future__ import annotations

import http.client
import ipaddress
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from engine.catalog import Catalog, Notification
from engine.catalog_checks import refused_address
from engine.notify import (
    NotificationEvent,
    request_body,
    request_headers,
    retry_delay,
    shown_url,
    targets_for,
)
from engine.store.ledger import Ledger
from engine.store.notifications import Delivery, NotificationOutbox

log = logging.getLogger("dbvend.notify")

TIMEOUT: Final = 5.0  # seconds for the connection, and for each read of the answer
LEASE: Final = 60.0  # a claimed delivery is another sender's again after this (a sender died)
INTERVAL: Final = 1.0  # `dbvend serve`'s sender looks at least this often (and at once after a commit)
CATALOG_AGE: Final = 30.0  # and reads dbvend.yaml again after this (on GitHub each reading is a call)
_ANSWER_LIMIT: Final = 65536


@dataclass(frozen=True)
class Answer:
    """What a POST came to: the HTTP status, or the error that stopped it (never the URL)."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Post = Callable[[str, bytes, Mapping[str, str], float], Answer]


@dataclass
class Sent:
    """One pass's tally."""

    sent: int = 0
    retrying: int = 0
    given_up: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def counts(self) -> tuple[int, int, int]:
        return self.sent, self.retrying, self.given_up


class RefusedAddress(OSError):
    """The target's name resolved to an address no notification goes to."""


def _checked_connection(
    address: tuple[str, int], timeout: Any = None, source_address: Any = None
) -> socket.socket:
    """socket.create_connection, refusing a peer that is link-local, metadata or unspecified: the
    address actually connected to is checked, so DNS cannot point a name there between checks."""
    sock = socket.create_connection(address, timeout, source_address)
    peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%")[0])
    why = refused_address(peer)
    if why is not None:
        sock.close()
        raise RefusedAddress(f"refused: {address[0]} resolves to {why}")
    return sock


class _CheckedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._create_connection = _checked_connection  # http.client sets it per instance, for this


class _CheckedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int | None, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._create_connection = _checked_connection


def post_webhook(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
    """POST `body` once: no redirect followed, no proxy, the peer's address checked."""
    parts = urlsplit(url)
    kind = _CheckedHTTPS if parts.scheme == "https" else _CheckedHTTP
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        answer = connection.getresponse()
        answer.read(_ANSWER_LIMIT)
        return Answer(answer.status, None if 200 <= answer.status < 300 else f"HTTP {answer.status}")
    except RefusedAddress as exc:
        return Answer(None, str(exc))
    except TimeoutError:
        return Answer(None, f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"[:300])
    finally:
        connection.close()


def deliver_pending(
    ledger: Ledger,
    catalog: Callable[[], Catalog],
    now: float | None = None,
    post: Post = post_webhook,
    secrets: Mapping[str, str] = os.environ,
    timeout: float = TIMEOUT,
    deadline: float | None = None,
    jitter: Callable[[], float] = lambda: random.uniform(0.9, 1.2),
) -> Sent:
    """One pass: new events get a delivery per target dbvend.yaml names for them; every due
    delivery is claimed, posted and settled. A target that fails is not tried again in this pass
    (its other deliveries wait for the next), so one that hangs costs a pass one `timeout`.
    `deadline` (time.monotonic()) stops the pass early; what is left stays due. `now` fixes the
    clock (tests); by default each claim and outcome is timed when it happens."""
    outbox, tally = NotificationOutbox(ledger), Sent()

    def clock() -> float:
        return time.time() if now is None else now

    new = outbox.unplanned()
    due = outbox.due(clock()) if not new else []
    if not new and not due:
        return tally
    targets = catalog().notifications
    if new:
        outbox.plan({event.id: [t.target_id for t in targets_for(event, targets)] for event in new}, clock())
        due = outbox.due(clock())
    by_id = {target.target_id: target for target in targets}
    down: set[str] = set()
    for delivery, event in due:
        if deadline is not None and time.monotonic() > deadline:
            break
        target = by_id.get(delivery.target)
        if target is None or not target.wants(event.event, event.environment):
            outbox.settle(delivery, "failed", clock(), "no longer a target in dbvend.yaml")
            tally.given_up += 1
            continue
        if delivery.target in down or not outbox.claim(delivery, clock() + LEASE):
            continue
        answer = _attempt(target, event, post, secrets, timeout)
        _settle(outbox, delivery, answer, clock(), jitter(), tally)
        if not answer.ok:
            down.add(delivery.target)
            tally.errors.append(f"{event.event} to {shown_url(target.url)}: {answer.error}")
            log.warning(
                "notification %s not delivered to %s (attempt %d): %s",
                event.event,
                shown_url(target.url),
                delivery.attempts + 1,
                answer.error,
                extra={"request_id": event.request_id, "event_id": event.id},
            )
    return tally


def _attempt(
    target: Notification, event: NotificationEvent, post: Post, secrets: Mapping[str, str], timeout: float
) -> Answer:
    secret = None
    if target.secret_env is not None:
        secret = secrets.get(target.secret_env)
        if not secret:  # never sent unsigned to a target that expects a signature
            return Answer(None, f"secret_env {target.secret_env} is not set: not sent unsigned")
    body = request_body(event, target.format)
    return post(target.url, body, request_headers(event, body, secret), timeout)


def _settle(
    outbox: NotificationOutbox, delivery: Delivery, answer: Answer, now: float, jitter: float, tally: Sent
) -> None:
    if answer.ok:
        outbox.settle(delivery, "sent", now, None)
        tally.sent += 1
        return
    delay = retry_delay(delivery.attempts + 1)
    if delay is None:
        outbox.settle(delivery, "failed", now, answer.error)
        tally.given_up += 1
    else:
        outbox.settle(delivery, "pending", now + delay * jitter, answer.error)
        tally.retrying += 1


class NotificationSender:
    """`dbvend serve`'s sender thread: a pass right after a commit that wrote an event (the
    ledger's `notified`), and every INTERVAL seconds for the retries and other processes' events."""

    def __init__(self, ledger: Ledger, catalog: Callable[[], Catalog], interval: float = INTERVAL) -> None:
        self.ledger, self.catalog, self.interval = ledger, catalog, interval
        self._read: tuple[float, Catalog] | None = None

    def current_catalog(self) -> Catalog:
        """dbvend.yaml as read at most CATALOG_AGE seconds ago."""
        if self._read is None or time.monotonic() - self._read[0] > CATALOG_AGE:
            self._read = (time.monotonic(), self.catalog())
        return self._read[1]

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.ledger.notified.clear()
            try:
                deliver_pending(self.ledger, self.current_catalog)
            except Exception:  # the ledger or dbvend.yaml unreadable: the next pass tries again
                log.exception("notification pass failed")
            self.ledger.notified.wait(self.interval)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="dbvend-notifier", daemon=True)
        thread.start()
        return thread
