"""More than one queue worker (issue 24): requests in parallel, one change each, never two deliveries
for the same database at once, and GitHub's pacing shared by them all."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.checkov.gate import PolicyGate
from engine.gitops.local import LocalRepository
from engine.intake import accept_request
from engine.queue.local import LocalQueue, enqueue, first_message
from engine.queue.pool import DatabaseLocks, WorkerPool, share_out
from engine.queue.worker import Worker
from engine.services import build_services
from engine.settings import Settings
from engine.store.ledger import Ledger
from tests.support import aws_transport
from tests.support.aws_transport import World, provision
from tests.support.server import API_KEY, ServeProcess

world = aws_transport.world  # AWS mode against the moto server

ENGINES = ("postgres", "mysql", "aurora-postgresql", "aurora-mysql")
HEADERS = {"x-api-key": API_KEY}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


def request_body(n: int) -> dict[str, str]:
    return {"database_name": f"par{n:03d}", "database_engine": ENGINES[n % 4], "environment": "dev"}


class Intervals:
    """When each database's deliveries were in a worker's hands (Worker._handle), slowed down a
    little so that overlaps, were they allowed, would show."""

    def __init__(self, ledger: Ledger, pause: float = 0.05) -> None:
        self.ledger, self.pause = ledger, pause
        self.seen: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()

    def wrap(self, handle: Any) -> Any:
        def timed(worker: Worker, message: Any, body: dict[str, Any]) -> Any:
            record = self.ledger.get(body["request_id"])
            assert record is not None
            start = time.monotonic()
            time.sleep(self.pause)
            try:
                return handle(worker, message, body)
            finally:
                with self.lock:
                    self.seen.append((record.identifier, start, time.monotonic()))

        return timed

    def overlapping(self, same_database: bool) -> list[tuple[str, str]]:
        ordered = sorted(self.seen, key=lambda seen: seen[1])
        found = []
        for i, (first, _, end) in enumerate(ordered):
            for second, start, _ in ordered[i + 1 :]:
                if start >= end:
                    break
                if (first == second) == same_database:
                    found.append((first, second))
        return found


def drain(ledger: Ledger, repo: LocalRepository, gate: PolicyGate, workers: int, locks: bool = True) -> None:
    """Run `workers` workers on the local queue until every request is settled."""
    queue = LocalQueue(ledger, visibility_timeout=30.0)
    pool = WorkerPool([Worker(ledger, queue, repo, gate, terraform=None) for _ in range(workers)])
    if not locks:
        for worker in pool.workers:
            worker.locks = None
    stop = threading.Event()
    pool.start(stop)
    try:
        deadline = time.monotonic() + 120
        while queue.depth()["ready"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        pool.join()
    assert queue.depth()["ready"] == 0


def accept_twice_queued(ledger: Ledger, repo: LocalRepository, count: int) -> list[str]:
    """`count` requests, each queued twice in a row (a duplicate delivery, as a re-sent message makes)."""
    ids = []
    for n in range(count):
        record, _ = accept_request(request_body(n), "api", "key-a", ledger, repo)
        first = first_message(ledger, record.id)
        assert first is not None
        with ledger.transaction() as connection:
            enqueue(connection, first[1], record.id)
        ids.append(record.id)
    return ids


def test_two_deliveries_for_one_database_never_overlap_while_databases_run_in_parallel(
    ledger: Ledger, repo: LocalRepository, gate: PolicyGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = accept_twice_queued(ledger, repo, 8)
    intervals = Intervals(ledger)
    monkeypatch.setattr(Worker, "_handle", intervals.wrap(Worker._handle))
    drain(ledger, repo, gate, workers=3)
    assert len(intervals.seen) == 16, "each message was handled once"
    assert intervals.overlapping(same_database=True) == []
    assert intervals.overlapping(same_database=False), "different databases ran at the same time"
    changes = repo.changes()
    assert sorted(c.request_id for c in changes) == sorted(ids), "one change per request"
    assert {ledger.get(i).status for i in ids} == {"change_open"}  # type: ignore[union-attr]


def test_without_the_database_locks_the_same_deliveries_would_overlap(
    ledger: Ledger, repo: LocalRepository, gate: PolicyGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the test above: what the locks prevent does happen without them."""
    accept_twice_queued(ledger, repo, 4)
    intervals = Intervals(ledger, pause=0.2)
    monkeypatch.setattr(Worker, "_handle", intervals.wrap(Worker._handle))
    drain(ledger, repo, gate, workers=2, locks=False)
    assert intervals.overlapping(same_database=True)


def test_database_locks_are_per_database_and_forgotten_when_free() -> None:
    locks = DatabaseLocks()
    done: list[str] = []

    def take(database: str) -> None:
        with locks.hold(database):
            done.append(database)

    with locks.hold("dev/a"):
        other = threading.Thread(target=take, args=("dev/b",))
        other.start()
        other.join(2)
        assert done == ["dev/b"], "another database is not held up"
        same = threading.Thread(target=take, args=("dev/a",))
        same.start()
        time.sleep(0.1)
        assert done == ["dev/b"], "the same database waits"
    same.join(2)
    assert done == ["dev/b", "dev/a"]
    assert len(locks) == 0


def test_share_out_gives_each_worker_one_item_at_a_time() -> None:
    busy: dict[int, int] = {}
    most = [0]
    guard = threading.Lock()

    def handle(worker: int, item: int) -> None:
        with guard:
            busy[worker] = busy.get(worker, 0) + 1
            assert busy[worker] == 1
            most[0] = max(most[0], sum(busy.values()))
        time.sleep(0.02)
        with guard:
            busy[worker] -= 1

    share_out(range(12), [1, 2, 3], handle)
    assert most[0] == 3


def test_many_requests_through_serve_with_two_workers_end_in_one_change_each(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "data", env={"DBVEND_WORKERS": "2"}).start()
    try:
        ids = []
        for n in range(24):
            answer = httpx.post(f"{server.url}/provision-rds", headers=HEADERS, json=request_body(n))
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["request_id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = httpx.get(
                f"{server.url}/v1/databases?limit=100&status=change_open", headers=HEADERS
            ).json()["items"]
            if len(listed) == len(ids):
                break
            time.sleep(0.2)
        changes = httpx.get(f"{server.url}/v1/changes", headers=HEADERS).json()["items"]
    finally:
        server.stop()
    assert sorted(c["request_id"] for c in changes) == sorted(ids)
    assert "2 worker(s) started" in server.log_text()


def test_a_lambda_batch_runs_records_side_by_side_and_reports_only_the_failed_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBVEND_WORKERS", "3")
    good = [provision(request_body(n)) for n in range(5)]
    world.topology.sqs.send_message(QueueUrl=world.topology.queue_url, MessageBody="{not json")
    batch = world.topology.receive()
    assert len(batch) == 6
    poison_id = next(m["MessageId"] for m in batch if m["Body"] == "{not json")
    ledger = world.ledger()
    intervals = Intervals(ledger)
    monkeypatch.setattr(Worker, "_handle", intervals.wrap(Worker._handle))
    assert world.consume(batch) == [poison_id]
    assert intervals.overlapping(same_database=False), "records ran at the same time"
    for accepted in good:
        record = ledger.get(accepted["request_id"])
        assert record is not None and record.status == "change_open"
    ledger.engine.dispose()
    assert len(world.repo.changes()) == 5


def test_hcl_parsed_in_several_threads_at_once_is_parsed_right() -> None:
    """python-hcl2 8.x serializes with one shared mutable context: without engine.hcl's lock, a
    parse running beside another returned objects and booleans as HCL text (a request refused by
    its own checks, seen in the crash test with two workers)."""
    from engine.hcl import parse_hcl

    text = (
        'resource "aws_db_instance" "this" {\n'
        '  tags = { environment = "dev", owner = "x" }\n'
        "  deletion_protection = true\n"
        '  list = [1, 2, "${var.x}"]\n'
        "}\n"
    )
    expected = parse_hcl(text)
    wrong: list[object] = []

    def parse_many() -> None:
        for _ in range(150):
            parsed = parse_hcl(text)
            if parsed != expected:
                wrong.append(parsed)

    threads = [threading.Thread(target=parse_many) for _ in range(3)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often: a race shows in every run
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []


# -- GitHub's pacing: one pacer per process ------------------------------------------------------


@pytest.fixture
def github_settings(tmp_path: Path) -> Iterator[Settings]:
    yield Settings(
        data=tmp_path / "data",
        gitops="github",
        github_repository="acme/infra",
        github_token="ghs_test",
        github_api_url="http://127.0.0.1:9/",
        api_keys=API_KEY,
        workers=4,
    )


def test_serve_and_the_lambda_consumer_give_every_worker_the_one_pacer(github_settings: Settings) -> None:
    from engine.aws import Consumer
    from engine.cli.serve import queue_workers
    from engine.queue.sqs import SqsBatch

    services, _ = build_services(github_settings)
    client = services.backend.client  # type: ignore[attr-defined]
    pacer = client.config.throttler
    assert services.replies.client is client and services.pulls.client is client  # type: ignore[union-attr]
    gates = [github_settings.policy_gate() for _ in range(github_settings.workers)]  # not started
    workers = queue_workers(services, LocalQueue(services.ledger), gates)
    assert len(workers) == 4 and len({id(w.gate) for w in workers}) == 4, "a policy gate each"
    assert {id(w.backend.client.config.throttler) for w in workers} == {id(pacer)}  # type: ignore[attr-defined]

    consumer = Consumer(github_settings)
    try:
        batch = consumer.workers(SqsBatch(consumer.ledger, 5), records=10)
        assert len(batch) == 4 and len({id(w.gate) for w in batch}) == 4
        pacers = {id(w.backend.client.config.throttler) for w in batch}  # type: ignore[attr-defined]
        assert pacers == {id(consumer.backend.client.config.throttler)}  # type: ignore[attr-defined]
        again = consumer.workers(SqsBatch(consumer.ledger, 5), records=2)
        assert [w.gate for w in again] == consumer.gates[:2], "gates are kept for the next batch"
    finally:
        consumer.close()


def test_one_pacer_counts_the_writes_of_every_worker_thread() -> None:
    import httpx as http

    from engine.github.client import Pacer

    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = Pacer(limits=((6, 60.0),), clock=lambda: now[0], sleep=sleep)
    post = http.Request("POST", "https://api.github.com/repos/acme/infra/pulls")

    def writes() -> None:
        for _ in range(4):
            with pacer.acquire(post):
                pass

    threads = [threading.Thread(target=writes) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert waits == [pytest.approx(60.0)], "8 writes from two threads, 6 a minute: one waited"
