"""Lambda entry points: the API behind API Gateway (Mangum) and the SQS consumer.

    api_handler       FastAPI app behind Mangum(app, lifespan="off"): REST API (v1) and HTTP API (v2)
    consumer_handler  an SQS batch -> the pipeline per record; {"batchItemFailures": [...]}
                      {"dbvend": "periodic"} (EventBridge, every 5 minutes) -> the outbox flushed,
                      then the stuck pass (engine.queue.stuck), then the notifications due
                      (engine.notifier), in GitHub mode the claims index reconciled (engine.claim_index);
                      {"flushed": n, "resent": n, "failed": n[, "index_read": n, "index_removed": n]}

This module imports only the standard library. What the handlers need (FastAPI, Mangum, boto3
clients, githubkit, the ledger's engine, checkov's warm worker) is built on a container's first
invocation and kept for the next ones. Secrets come from Secrets Manager when their ARN is set
(DBVEND_GITHUB_PRIVATE_KEY_SECRET_ARN, DBVEND_GITHUB_WEBHOOK_SECRET_SECRET_ARN,
DBVEND_API_KEY_HASHES_SECRET_ARN, DBVEND_DATABASE_URL_SECRET_ARN), read once per container.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from engine.checkov.gate import PolicyGate
    from engine.queue import Message
    from engine.queue.sqs import Outbox
    from engine.queue.worker import Worker
    from engine.settings import Settings
    from engine.store.ledger import Ledger

log = logging.getLogger("dbvend.aws")

# Setting -> the setting holding its secret's ARN.
SECRET_SETTINGS: Final = {
    "github_private_key": "github_private_key_secret_arn",
    "github_webhook_secret": "github_webhook_secret_secret_arn",
    "api_key_hashes": "api_key_hashes_secret_arn",
    "database_url": "database_url_secret_arn",
    "github_client_secret": "github_client_secret_secret_arn",
}

LAMBDA_DATA: Final = Path("/tmp/dbvend-data")  # Lambda's only writable place
PERIODIC: Final = "periodic"  # the scheduled event is {"dbvend": "periodic"} (github-app/template.yaml)
# Seconds the consumer spends sending notifications after a batch, and in the periodic pass.
AFTER_BATCH_BUDGET: Final = 2.0
PERIODIC_BUDGET: Final = 30.0

_lock = threading.RLock()  # a build may need another (the API needs the settings)
_cache: dict[str, Any] = {}


def _once(name: str, build: Callable[[], Any]) -> Any:
    """One `build()` per container (Lambda reuses a container for many invocations)."""
    with _lock:
        if name not in _cache:
            _cache[name] = build()
        return _cache[name]


def reset() -> None:
    """Forget what was built (a new container, as far as this module knows); for tests."""
    with _lock:
        for value in _cache.values():
            close = getattr(value, "close", None)
            if callable(close):
                close()
        _cache.clear()


# -- secrets ------------------------------------------------------------------------------------


def secret_value(name: str, raw: str) -> str:
    """A setting's value from its secret's text.

    database_url: a URL, {"url": ...}, or an RDS-managed secret's JSON (username, password, host,
    port, dbname); api_key_hashes: comma-separated hex digests or {"sha256": [...]} (the file
    `dbvend serve` keeps); others: the text itself, or {"value": ...}.
    """
    text = raw.strip()
    data: Any = None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if not isinstance(data, dict):
        return text
    if name == "api_key_hashes" and isinstance(data.get("sha256"), list):
        return ",".join(str(digest) for digest in data["sha256"])
    if name == "database_url" and "url" not in data and {"username", "password", "host"} <= set(data):
        from sqlalchemy.engine import URL

        url = URL.create(
            "postgresql+psycopg",
            username=str(data["username"]),
            password=str(data["password"]),
            host=str(data["host"]),
            port=int(data.get("port") or 5432),
            database=str(data.get("dbname") or "postgres"),
        )
        return url.render_as_string(hide_password=False)
    for key in ("url", "value"):
        if isinstance(data.get(key), str):
            return str(data[key])
    return text


def resolve_secrets(settings: Settings, client: Any = None) -> Settings:
    """The settings with every secret whose ARN is set read from Secrets Manager."""
    updates: dict[str, str] = {}
    for name, arn_setting in SECRET_SETTINGS.items():
        arn = getattr(settings, arn_setting)
        if not arn:
            continue
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
        raw = client.get_secret_value(SecretId=arn)["SecretString"]
        updates[name] = secret_value(name, raw)
    return settings.model_copy(update=updates) if updates else settings


def settings() -> Settings:
    """The container's settings: the environment, then the secrets (read once)."""

    def build() -> Settings:
        from engine.logs import configure_logging
        from engine.settings import Settings

        configure_logging()
        # Lambda's file system is read-only but for /tmp; the data dir (nothing durable in AWS mode:
        # the ledger is DATABASE_URL's) goes there unless DBVEND_DATA says otherwise.
        defaults: dict[str, Any] = {} if os.environ.get("DBVEND_DATA") else {"data": LAMBDA_DATA}
        return resolve_secrets(Settings(**defaults))

    value: Settings = _once("settings", build)
    return value


# -- the API ------------------------------------------------------------------------------------


def api_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway (REST v1 or HTTP API v2) -> the FastAPI app, through Mangum."""

    def build() -> Any:
        from mangum import Mangum

        from engine.app import create_app
        from engine.services import build_services

        services, _ = build_services(settings())
        return Mangum(create_app(services), lifespan="off")

    handler = _once("api", build)
    answer: dict[str, Any] = handler(event, context)
    return answer


# -- the consumer -------------------------------------------------------------------------------


class Consumer:
    """What the consumer keeps per container: ledger, GitOps backend, policy gate, outbox."""

    def __init__(self, config: Settings) -> None:
        from engine.services import build_backend, build_outbox
        from engine.store.ledger import Ledger

        self.settings = config
        self.ledger: Ledger = Ledger.connect(config.ledger_url)
        self.backend, self.replies, _ = build_backend(config, self.ledger)
        self.outbox: Outbox | None = build_outbox(config, self.ledger)
        self.gate: PolicyGate = config.policy_gate()  # its checkov worker starts on the first scan
        self.gates: list[PolicyGate] = [self.gate]  # one per record handled at once (DBVEND_WORKERS)
        self.clock: Callable[[], float] = time.time  # the stuck pass's
        self._sqs: Any = None

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs")
        return self._sqs

    def worker(self, settlement: Any, gate: PolicyGate | None = None) -> Worker:
        from engine.queue.worker import Worker

        worker = Worker(
            self.ledger, settlement, self.backend, gate or self.gate, self.settings.terraform_path
        )
        worker.replies = self.replies
        return worker

    def workers(self, settlement: Any, records: int) -> list[Worker]:
        """Workers for a batch of `records`: up to DBVEND_WORKERS, each with its own policy gate
        (kept for the next batches), all sharing one set of database locks."""
        from engine.queue.pool import DatabaseLocks

        count = max(1, min(self.settings.workers, records))
        while len(self.gates) < count:
            self.gates.append(self.settings.policy_gate())
        locks = DatabaseLocks() if count > 1 else None
        workers = [self.worker(settlement, gate) for gate in self.gates[:count]]
        for worker in workers:
            worker.locks = locks
        return workers

    def handle_batch(self, event: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Each record through the pipeline; the ones that failed are reported, nothing raised."""
        from engine.queue.pool import share_out
        from engine.queue.sqs import SqsBatch, batch_messages, queue_url_of

        if self.outbox is not None:
            self.outbox.flush()  # messages whose sender died between commit and publish
        records = {str(r.get("messageId")): r for r in event.get("Records") or []}
        urls = {
            message_id: self.settings.sqs_queue_url or queue_url_of(str(record.get("eventSourceARN")))
            for message_id, record in records.items()
            if self.settings.sqs_queue_url or record.get("eventSourceARN")
        }
        batch = SqsBatch(self.ledger, self.settings.max_receives, self.sqs, urls)
        messages = batch_messages(event)

        def handle(worker: Worker, message: Message) -> None:
            extra = {"message_id": message.id, "receive_count": message.receive_count}
            try:
                worker.handle(message)
            except Exception as exc:  # a poison message, or the ledger unreachable: this record only
                error = f"{type(exc).__name__}: {exc}"
                log.warning("record failed: %s", error, extra=extra)
                delay = worker.retry_delay(message.receive_count)
                try:
                    batch.retry(message, error, delay)
                except Exception:  # the request cannot be marked failed either: still report it
                    log.exception("could not record the failure", extra=extra)
                    if message.id not in batch.failures:
                        batch.failures.append(message.id)

        # DBVEND_WORKERS records at once, never two for the same database (engine.queue.pool).
        share_out(messages, self.workers(batch, len(messages)), handle)
        self.notify(AFTER_BATCH_BUDGET)
        return batch.response()

    def notify(self, budget: float) -> int:
        """Send the notifications due, for at most about `budget` seconds (each POST's timeout is
        bounded by it too); what is left, the periodic event sends. Never raises: a receiver that is
        down or a ledger hiccup is logged and retried later, the batch's outcome stands."""
        from engine.notifier import TIMEOUT, deliver_pending

        try:
            sent = deliver_pending(
                self.ledger,
                self.backend.catalog,
                timeout=min(TIMEOUT, budget),
                deadline=time.monotonic() + budget,
            )
        except Exception:
            log.exception("notifications not sent")
            return 0
        if any(sent.counts):
            log.info("notifications: %d sent, %d to retry, %d given up", *sent.counts)
        return sent.sent

    def periodic(self) -> dict[str, int]:
        """The scheduled housekeeping: send what a dead sender left in the outbox, then re-send
        (once) or fail the requests whose message never reached this consumer."""
        from engine.queue.stuck import StuckPass

        indexed = self.reconcile_index()
        getattr(self.backend, "reconcile_quietly", int)()  # GitHub mode: the changes the ledger missed
        if self.outbox is None:  # DBVEND_QUEUE=local: no SNS to have lost anything
            self.notify(PERIODIC_BUDGET)
            return {"flushed": 0, "resent": 0, "failed": 0, **indexed}
        flushed = self.outbox.flush()
        stuck = StuckPass(
            self.ledger, self.settings.stuck_after, self.clock, self.outbox.publisher, self.replies
        ).run()
        summary = {"flushed": len(flushed), "resent": len(stuck.resent), "failed": len(stuck.failed)}
        summary.update(indexed)
        self.notify(PERIODIC_BUDGET)
        log.info("periodic: %s", summary, extra={"resent": stuck.resent, "failed": stuck.failed})
        return summary

    def reconcile_index(self) -> dict[str, int]:
        """GitHub mode: the claims index brought to the default branch (engine.claim_index), between
        push webhooks; its counts for the summary. Never raises: a failure is tried next time."""
        if self.settings.gitops != "github":
            return {}
        from engine.claim_index import reconcile_index

        try:
            report = reconcile_index(self.ledger, self.backend)
        except Exception:
            log.exception("claims index not reconciled")
            return {"index_failed": 1}
        return {"index_read": report.read_blobs, "index_removed": report.removed}

    def close(self) -> None:
        for gate in self.gates:
            gate.close()
        self.ledger.engine.dispose()


def consumer() -> Consumer:
    """The container's consumer, built on its first invocation."""
    built: Consumer = _once("consumer", lambda: Consumer(settings()))
    return built


def consumer_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """SQS event source (ReportBatchItemFailures): one bad record never fails the batch. The
    periodic event ({"dbvend": "periodic"}) answers the housekeeping's summary instead."""
    if event.get("dbvend") == PERIODIC:
        return consumer().periodic()
    return consumer().handle_batch(event)
