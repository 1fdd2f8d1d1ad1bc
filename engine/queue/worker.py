"""The consumer loop: queued request -> pipeline -> change, with the bookkeeping in the ledger."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.engine import Connection

from engine.checkov.gate import PolicyGate
from engine.errors import CheckFailed, Conflict, DbvendError, InvalidRequest, PolicyFailed
from engine.gitops import Change, GitOpsBackend, IssueReplies
from engine.pipeline import Outcome, process_request
from engine.queue import Message, Settlement
from engine.queue.local import LocalQueue
from engine.queue.pool import DatabaseLocks
from engine.queue.replies import refusal_text, tell_issue
from engine.store.ledger import Ledger

if TYPE_CHECKING:
    from engine.queue.stuck import StuckPass

log = logging.getLogger("dbvend.worker")
# Statuses in which a delivered message still has work to do; any later one was settled before.
PENDING: Final = frozenset({"accepted", "processing"})
# A refusal is final: delivering the message again would refuse it again.
REFUSALS: Final = (InvalidRequest, CheckFailed, Conflict)
RETRY_DELAYS: Final = (1.0, 5.0, 15.0, 60.0)


def error_entries(exc: Exception) -> list[dict[str, str]]:
    """What the ledger and the API show of a refusal or failure."""
    if isinstance(exc, InvalidRequest):
        return [{"field": e.field, "rule": e.rule} for e in exc.errors]
    if isinstance(exc, PolicyFailed):
        return [
            {"check": f.check_id, **{k: v for k, v in f.as_dict().items() if k != "check_id"}}
            for f in exc.decision.failures
        ] + [{"policy": note} for note in exc.decision.notes]
    if isinstance(exc, CheckFailed):
        return [{"check": failure} for failure in exc.failures]
    return [{"error": str(exc) or type(exc).__name__}]


def change_link(change: Change) -> str:
    return change.link or f"/v1/changes/{change.id}"


class Worker:
    """Runs the pipeline for each delivered message, one at a time, and settles it.

    Several workers in one process (engine.queue.pool) share `locks`: a delivery waits for its
    database's lock, so two deliveries for the same database never run at once.

    With the local queue it also takes the messages (run, run_once); in AWS the SQS consumer
    (engine.aws) hands it each record of a batch with a settlement for that batch.
    """

    def __init__(
        self,
        ledger: Ledger,
        queue: LocalQueue | Settlement,
        backend: GitOpsBackend,
        gate: PolicyGate,
        terraform: str | None,
    ) -> None:
        self.ledger, self.queue, self.backend = ledger, queue, backend
        self.gate, self.terraform = gate, terraform
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS
        self.replies: IssueReplies | None = None  # GitHub mode: answers on the request's issue
        # `dbvend serve`: the stuck pass (engine.queue.stuck), every `stuck_interval` seconds
        self.stuck: StuckPass | None = None
        self.stuck_interval = 60.0
        self.locks: DatabaseLocks | None = None  # set by engine.queue.pool for concurrent workers

    def run(self, stop: threading.Event, poll_interval: float = 0.2) -> None:
        """Until `stop` is set; the message in hand is always finished first. Between messages,
        the stuck pass when it is due (first one interval after the start: a backlog left while
        no worker ran is taken before it can look stuck)."""
        log.info("worker started")
        next_pass = time.monotonic() + self.stuck_interval
        while not stop.is_set():
            if self.stuck is not None and time.monotonic() >= next_pass:
                self.run_stuck_pass()
                next_pass = time.monotonic() + self.stuck_interval
            try:
                handled = self.run_once()
            except Exception:
                log.exception("worker loop error")
                handled = False
            if not handled:
                stop.wait(poll_interval)
        log.info("worker stopped")

    def run_stuck_pass(self) -> None:
        """One stuck pass; its failure is logged, and the next interval tries again."""
        if self.stuck is None:
            return
        try:
            done = self.stuck.run()
        except Exception:
            log.exception("stuck pass error")
            return
        if done.resent or done.failed:
            log.info("stuck pass: %d re-sent, %d failed", len(done.resent), len(done.failed))

    def run_once(self) -> bool:
        """Handle one message if there is one; True when one was handled."""
        if not isinstance(self.queue, LocalQueue):
            raise TypeError("Worker.run_once takes messages from the local queue only")
        message = self.queue.receive(on_dead=self._dead_letter)
        if message is None:
            return False
        self.handle(message)
        return True

    def handle(self, message: Message) -> Outcome | Exception | None:
        """Run the pipeline for one delivery and record what became of it.

        Returns the outcome, or the refusal or failure (recorded, and for a failure the message
        given back to be delivered again later); None when there was nothing left to do (a
        redelivery of a request settled before, or a message whose request is not in the ledger:
        both acknowledged, so they are not delivered again). With `locks`, the whole of it runs
        holding the database's lock, so the request's status is read again once it is held.
        """
        body = message.payload()
        with self._database_held(body["request_id"]):
            return self._handle(message, body)

    @contextmanager
    def _database_held(self, request_id: str) -> Iterator[None]:
        record = self.ledger.get(request_id) if self.locks is not None else None
        if self.locks is None or record is None:
            yield
            return
        with self.locks.hold(f"{record.environment}/{record.identifier}"):
            yield

    def _handle(self, message: Message, body: dict[str, Any]) -> Outcome | Exception | None:
        request_id: str = body["request_id"]
        extra = {"request_id": request_id, "message_id": message.id, "receive_count": message.receive_count}
        record = self.ledger.get(request_id)
        if record is None or record.status not in PENDING:
            why = "not in the ledger" if record is None else f"already {record.status}"
            log.info("delivery %d acknowledged: request %s", message.receive_count, why, extra=extra)
            self.queue.ack(message)
            return None
        if not self.ledger.transition(request_id, "processing", f"delivery {message.receive_count}"):
            # settled between the two readings (the stuck pass failed it, say): nothing to do
            log.info(
                "delivery %d acknowledged: request settled meanwhile", message.receive_count, extra=extra
            )
            self.queue.ack(message)
            return None
        try:
            outcome = process_request(
                body["request"],
                self.backend,
                self.gate,
                request_id=request_id,
                accepted_at=datetime.fromisoformat(body["accepted_at"]),
                terraform=self.terraform,
                ledger=self.ledger,
            )
        except REFUSALS as exc:
            log.info("request refused: %s", exc, extra=extra)
            policy = exc.decision.as_dict() if isinstance(exc, PolicyFailed) else None
            self._finish(message, request_id, "rejected", str(exc), errors=error_entries(exc), policy=policy)
            tell_issue(self.replies, body, refusal_text(exc))
            return exc
        except Exception as exc:  # anything else may pass: deliver again later
            error = f"{type(exc).__name__}: {exc}"
            delay = self.retry_delay(message.receive_count)
            log.warning("request failed, delivery %d: %s", message.receive_count, error, extra=extra)
            if not isinstance(exc, DbvendError):
                log.debug("failure detail", exc_info=True, extra=extra)
            self.queue.retry(message, error, delay)
            return exc
        change = outcome.change
        assert change is not None
        detail = f"change #{change.id} on {change.branch}"
        status = "merged" if change.status == "merged" else "change_open"
        self._finish(
            message,
            request_id,
            status,
            detail,
            change_id=change.id,
            change_link=change_link(change),
            change_head=change.commit or None,
            merge_commit=change.merge_commit if change.status == "merged" else None,
            policy=outcome.policy.as_dict(),
        )
        log.info("change open: %s", detail, extra={**extra, "change_id": change.id})
        link = change.link or change_link(change)
        tell_issue(
            self.replies,
            body,
            f"Request `{request_id}`: pull request [#{change.id}]({link}) is open for review.",
        )
        return outcome

    def retry_delay(self, receive_count: int) -> float:
        """Seconds before a failed delivery comes back: growing with its receives, then flat."""
        return self.retry_delays[min(receive_count, len(self.retry_delays)) - 1]

    def _finish(self, message: Message, request_id: str, status: str, detail: str, **values: Any) -> None:
        """The request's new status and the message's acknowledgement, in one transaction."""
        with self.ledger.transaction() as connection:
            if status == "merged":
                self.ledger.transition(request_id, "change_open", detail, connection=connection, **values)
            self.ledger.transition(request_id, status, detail, connection=connection, **values)
            self.queue.ack(message, connection)

    def _dead_letter(self, connection: Connection, message: Message) -> None:
        request_id = message.payload().get("request_id")
        log.error("message dead-lettered: %s", message.last_error, extra={"request_id": request_id})
        if request_id:
            error = message.last_error or "undeliverable"
            self.ledger.transition(
                request_id, "failed", error, errors=[{"error": error}], connection=connection
            )
