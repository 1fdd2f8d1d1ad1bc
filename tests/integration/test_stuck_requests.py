"""Stuck requests: a message that never reaches the consumer is re-sent once, then its request failed."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine import aws
from engine.checkov.gate import PolicyGate
from engine.gitops.local import LocalRepository
from engine.intake import accept_request, record_and_queue
from engine.queue.local import LocalQueue
from engine.queue.sqs import Outbox
from engine.queue.stuck import StuckMessage, StuckPass, StuckSummary
from engine.queue.tables import queue_messages
from engine.queue.worker import Worker
from engine.services import Services
from engine.store.ledger import Ledger
from tests.support import app, aws_transport, ledgers
from tests.support.app import KEY, ORDERS, submit
from tests.support.aws_transport import Topology, World, http_api_event, provision
from tests.support.claims import SEED
from tests.support.ledgers import Clock, new

# Fixtures the transports' own tests use too: moto's server with a topic and its queue, the ledger
# on SQLite and PostgreSQL, the portal signed in.
world = aws_transport.world
ledger = ledgers.ledger
services = app.services
browser = app.browser


# -- AWS: SNS accepts the publish, SQS never gets it ------------------------------------------


def queue_subscription(topology: Topology) -> str | None:
    found = topology.sns.list_subscriptions_by_topic(TopicArn=topology.topic_arn)["Subscriptions"]
    return next((s["SubscriptionArn"] for s in found if s["Endpoint"] == topology.queue_arn), None)


def lose_deliveries(topology: Topology) -> None:
    """The queue's subscription removed: SNS still accepts every publish, and drops it."""
    arn = queue_subscription(topology)
    assert arn is not None
    topology.sns.unsubscribe(SubscriptionArn=arn)


def deliver_again(topology: Topology) -> None:
    topology.sns.subscribe(
        TopicArn=topology.topic_arn,
        Protocol="sqs",
        Endpoint=topology.queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )


def periodic(at: float) -> dict[str, Any]:
    """The scheduled event, with the consumer's clock at `at`."""
    aws.consumer().clock = lambda: at
    return aws.consumer_handler({"dbvend": "periodic"}, None)


def get_request(request_id: str) -> dict[str, Any]:
    answer = aws.api_handler(http_api_event("GET", f"/v1/requests/{request_id}"), None)
    assert answer["statusCode"] == 200
    body: dict[str, Any] = json.loads(answer["body"])
    return body


def test_a_lost_delivery_is_re_sent_once_and_becomes_a_change(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBVEND_STUCK_AFTER", "120")
    lose_deliveries(world.topology)
    started = time.time()
    accepted = provision(SEED)
    assert world.topology.receive() == [], "SNS took it and SQS never got it"
    assert periodic(started + 110) == {"flushed": 0, "resent": 0, "failed": 0}
    deliver_again(world.topology)  # whatever lost it is mended
    assert periodic(time.time() + 121) == {"flushed": 0, "resent": 1, "failed": 0}
    assert periodic(time.time() + 122)["resent"] == 0, "re-sent once"
    status = get_request(accepted["request_id"])
    assert status["status"] == "accepted"
    note = status["history"][-1]["detail"]
    assert "had not reached the consumer after 120 s; re-sent at" in note and "SNS message" in note

    (arrived,) = world.topology.receive()
    assert json.loads(arrived["Body"])["request_id"] == accepted["request_id"]
    assert world.consume([arrived]) == []
    status = get_request(accepted["request_id"])
    assert status["status"] == "change_open"
    assert [e["status"] for e in status["history"]] == ["accepted", "accepted", "processing", "change_open"]
    assert periodic(time.time() + 1000) == {"flushed": 0, "resent": 0, "failed": 0}
    assert len(world.repo.changes()) == 1


def test_a_delivery_lost_twice_fails_the_request_with_the_reason_and_frees_its_name(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBVEND_STUCK_AFTER", "120")
    lose_deliveries(world.topology)
    accepted = provision(SEED)
    first = time.time() + 121
    assert periodic(first)["resent"] == 1
    assert periodic(first + 119) == {"flushed": 0, "resent": 0, "failed": 0}
    assert periodic(first + 120) == {"flushed": 0, "resent": 0, "failed": 1}
    assert periodic(first + 500)["failed"] == 0, "failed once"
    status = get_request(accepted["request_id"])
    reason = status["errors"][0]["error"]
    assert status["status"] == "failed" and status["history"][-1]["detail"] == reason
    assert "and never reached the consumer; re-sent at" in reason
    assert reason.endswith("; still not processed after 120 s")
    assert world.topology.receive() == []

    deliver_again(world.topology)
    world.topology.sqs.send_message(  # the first delivery, very late: nothing is done with it
        QueueUrl=world.topology.queue_url, MessageBody=json.dumps({"request_id": accepted["request_id"]})
    )
    assert world.consume(world.topology.receive()) == []
    assert world.repo.changes() == [] and get_request(accepted["request_id"])["status"] == "failed"
    again = provision(SEED)  # the name is free: asked again, it becomes a change
    assert world.consume(world.topology.receive()) == []
    assert get_request(again["request_id"])["status"] == "change_open"


# -- the local queue ----------------------------------------------------------------------------


def sent_at(ledger: Ledger, request_id: str) -> float:
    with ledger.reading() as conn:
        value = conn.execute(
            sa.select(queue_messages.c.sent_at).where(queue_messages.c.request_id == request_id)
        ).scalar_one()
    return float(value)


def test_a_local_message_nobody_took_is_queued_again_then_failed(
    ledger: Ledger, repo: LocalRepository, gate: PolicyGate
) -> None:
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo)
    at = sent_at(ledger, record.id)
    clock = Clock()
    stuck = StuckPass(ledger, 900, clock)
    clock.now = at + 899
    assert stuck.run() == StuckSummary()
    clock.now = at + 900
    assert stuck.run() == StuckSummary(resent=[record.id])
    clock.now = at + 1799
    assert stuck.run() == StuckSummary()
    clock.now = at + 1800
    assert stuck.run() == StuckSummary(failed=[record.id])
    failed = ledger.get(record.id)
    assert failed is not None and failed.status == "failed"
    assert "never taken by a worker; queued again at" in failed.errors[0]["error"]
    assert [e.status for e in failed.history] == ["accepted", "accepted", "failed"]
    (dead,) = LocalQueue(ledger).dead_letters()
    assert dead.request_id == record.id and dead.last_error == failed.errors[0]["error"]

    again, _ = accept_request(SEED, "api", "key-a", ledger, repo)  # its name is free
    worker = Worker(ledger, LocalQueue(ledger), repo, gate, None)
    assert worker.run_once() and not worker.run_once(), "the failed request's message is not taken"
    assert [c.request_id for c in repo.changes()] == [again.id]


def test_a_dead_letter_left_unsettled_is_queued_again_and_processed(
    ledger: Ledger, repo: LocalRepository, gate: PolicyGate
) -> None:
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo)
    clock = Clock()
    queue = LocalQueue(ledger, max_receives=1, clock=clock)
    taken = queue.receive()
    assert taken is not None and queue.retry(taken, "OperationalError: ledger gone", 0)
    assert queue.receive() is None  # dead-lettered, with no hook to fail the request
    assert ledger.get(record.id).status == "accepted"  # type: ignore[union-attr]
    clock.now = sent_at(ledger, record.id) + 900
    assert StuckPass(ledger, 900, clock).run() == StuckSummary(resent=[record.id])
    worker = Worker(ledger, LocalQueue(ledger, clock=clock), repo, gate, None)
    assert worker.run_once()
    done = ledger.get(record.id)
    assert done is not None and done.status == "change_open"
    assert "was dead-lettered (OperationalError: ledger gone)" in (done.history[1].detail or "")


def test_the_serve_loop_runs_the_pass(ledger: Ledger, repo: LocalRepository, gate: PolicyGate) -> None:
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo)
    with ledger.transaction() as conn:  # dead-lettered without its request being told
        conn.execute(queue_messages.update().values(state="dead"))
    worker = Worker(ledger, LocalQueue(ledger), repo, gate, None)
    worker.stuck = StuckPass(ledger, 900, lambda: time.time() + 900)
    worker.stuck_interval = 0.05
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 0.01))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while ledger.get(record.id).status != "change_open" and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    done = ledger.get(record.id)
    assert done is not None and done.status == "change_open" and len(repo.changes()) == 1


# -- two passes at once -------------------------------------------------------------------------


class CountingPublisher:
    """SNS, as far as the outbox and the stuck pass see it: counts the publishes."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.lock = threading.Lock()

    def publish(self, body: str, request_id: str, channel: str) -> str:
        with self.lock:
            self.published.append(request_id)
            return f"sns-{len(self.published)}"


def together(passes: list[StuckPass], now: float) -> list[StuckSummary]:
    """Both passes read first, then settle what they read at the same moment."""
    found = [stuck.find(now) for stuck in passes]
    assert found[0] == found[1] and found[0]
    summaries = [StuckSummary() for _ in passes]
    start = threading.Barrier(len(passes))

    def settle(n: int) -> None:
        start.wait()
        for message in found[n]:
            passes[n].settle(message, now, summaries[n])

    threads = [threading.Thread(target=settle, args=(n,)) for n in range(len(passes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return summaries


@pytest.mark.parametrize("transport", ["sns", "local"])
def test_two_passes_at_once_re_send_once_and_fail_once(ledger: Ledger, transport: str) -> None:
    clock = Clock()
    sns = CountingPublisher()
    for n in (1, 2):
        _, message_id = record_and_queue(ledger, new(n), outbox=transport == "sns")
        if transport == "sns":
            Outbox(ledger, sns, clock).send(message_id)  # type: ignore[arg-type]
    publisher: Any = sns if transport == "sns" else None
    passes = [StuckPass(ledger, 900, clock, publisher) for _ in range(2)]
    clock.now += 900
    resent = together(passes, clock.now)
    assert sorted(r for s in resent for r in s.resent) == ["req-1", "req-2"]
    if transport == "sns":
        assert sorted(sns.published) == ["req-1", "req-1", "req-2", "req-2"]  # sent, and re-sent once
    clock.now += 900
    failed = together(passes, clock.now)
    assert sorted(r for s in failed for r in s.failed) == ["req-1", "req-2"]
    for request_id in ("req-1", "req-2"):
        record = ledger.get(request_id)
        assert record is not None and record.status == "failed"
        assert [e.status for e in record.history] == ["accepted", "accepted", "failed"]


def test_a_request_the_consumer_took_meanwhile_is_left_alone(ledger: Ledger) -> None:
    clock = Clock()
    record_and_queue(ledger, new(1))
    stuck = StuckPass(ledger, 900, clock)
    clock.now += 900
    (message,) = stuck.find(clock.now)
    ledger.transition("req-1", "processing", "delivery 1")  # after the pass read it
    summary = StuckSummary()
    stuck.settle(message, clock.now, summary)
    resent = StuckMessage(message.id, message.request_id, message.body, "ready", message.sent_at, clock.now)
    stuck.settle(resent, clock.now + 900, summary)
    record = ledger.get("req-1")
    assert summary == StuckSummary() and record is not None and record.status == "processing"


# -- what the API and the portal show -----------------------------------------------------------


def test_the_api_and_the_portal_show_the_re_send_and_the_reason(
    services: Services, browser: TestClient
) -> None:
    answer = submit(browser, ORDERS)
    request_id = answer.headers["location"].rsplit("/", 1)[1]  # type: ignore[attr-defined]
    at = sent_at(services.ledger, request_id)
    StuckPass(services.ledger, 900, lambda: at + 900).run()
    StuckPass(services.ledger, 900, lambda: at + 1800).run()
    status = browser.get(f"/v1/requests/{request_id}", headers=KEY).json()
    reason = status["errors"][0]["error"]
    assert status["status"] == "failed" and "still not processed after 900 s" in reason
    assert "no worker had taken it after 900 s" in status["history"][1]["detail"]
    database = browser.get("/v1/databases/dev/orders", headers=KEY).json()
    assert database["status"] == "failed" and database["errors"] == [{"error": reason}]
    for page in (f"/requests/{request_id}", "/databases/dev/orders"):
        html = browser.get(page).text
        assert f"<li>{reason}</li>" in html, page  # the reason itself, not ": "
        assert "no worker had taken it after 900 s; queued again at" in html, page
