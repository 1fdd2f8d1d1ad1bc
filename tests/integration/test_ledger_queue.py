"""The ledger and the local queue against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import engine.store.database as store_database
from engine.errors import Conflict, DbvendError, IdempotencyMismatch
from engine.intake import record_and_queue
from engine.queue.local import InHand, LocalQueue
from engine.store.ledger import Ledger
from tests.support import connections, ledgers
from tests.support.ledgers import PAYLOAD, Clock, new

# On SQLite and on PostgreSQL, shared with test_stuck_requests.py.
ledger = ledgers.ledger


def test_accept_records_and_queues_in_one_go(ledger: Ledger) -> None:
    record, message_id = record_and_queue(ledger, new())
    assert record.status == "accepted" and [e.status for e in record.history] == ["accepted"]
    message = LocalQueue(ledger).receive()
    assert message is not None and message.id == message_id and message.request_id == "req-1"
    assert message.payload()["request"] == PAYLOAD | {"database_name": "orders1"}


def test_a_failed_insert_queues_nothing(ledger: Ledger) -> None:
    record_and_queue(ledger, new(1))
    with pytest.raises(Conflict, match="already requested"):
        record_and_queue(ledger, new(2, identifier="orders1"))
    assert ledger.count() == 1
    assert LocalQueue(ledger).depth()["ready"] == 1


def test_the_name_is_free_again_after_a_refusal(ledger: Ledger) -> None:
    record_and_queue(ledger, new(1))
    ledger.transition("req-1", "rejected", errors=[{"field": "x", "rule": "y"}])
    second, _ = record_and_queue(ledger, new(2, identifier="orders1"))
    assert second.status == "accepted"
    holder = ledger.holder("dev", "orders1")
    assert holder is not None and holder.id == "req-2"
    assert ledger.get("req-1").errors == [{"field": "x", "rule": "y"}]  # type: ignore[union-attr]


def test_idempotency_key_replays_the_first_acceptance(ledger: Ledger) -> None:
    first, message = record_and_queue(ledger, new(1, idempotency_key="k-1"))
    again, again_message = record_and_queue(
        ledger, new(2, idempotency_key="k-1", payload=first.payload, identifier="orders1")
    )
    assert (again.id, again_message) == (first.id, message)
    assert ledger.count() == 1
    with pytest.raises(IdempotencyMismatch):
        record_and_queue(ledger, new(3, idempotency_key="k-1"))
    other, _ = record_and_queue(ledger, new(4, idempotency_key="k-1", requester="key-b"))
    assert other.id == "req-4"


def test_transitions_only_move_forward(ledger: Ledger) -> None:
    record_and_queue(ledger, new())
    assert ledger.transition("req-1", "processing")
    assert ledger.transition("req-1", "processing")  # a redelivery is recorded again
    assert ledger.transition("req-1", "change_open", change_id=7, change_link="/v1/changes/7")
    assert not ledger.transition("req-1", "processing")
    assert not ledger.transition("req-1", "failed")
    assert ledger.transition("req-1", "merged")
    record = ledger.get("req-1")
    assert record is not None and record.status == "merged" and record.change_id == 7
    assert [e.status for e in record.history] == [
        "accepted",
        "processing",
        "processing",
        "change_open",
        "merged",
    ]
    assert ledger.by_change(7) is not None and ledger.holder("dev", "orders1") is not None


def test_connection_details_are_kept_checked_and_never_a_secret(ledger: Ledger) -> None:
    record_and_queue(ledger, new())
    assert ledger.get("req-1").connection is None  # type: ignore[union-attr]
    with ledger.transaction() as connection:  # as `dbvend ci apply` does: before the move to applied
        ledger.record_connection("req-1", connections.POSTGRES, connection)
        assert ledger.transition("req-1", "change_open", connection=connection)
    assert ledger.get("req-1").connection == connections.POSTGRES  # type: ignore[union-attr]
    assert ledger.holder("dev", "orders1").connection == connections.POSTGRES  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="hold no secret"):
        ledger.record_connection("req-1", {**connections.POSTGRES, "password": "hunter2"})
    with pytest.raises(ValueError, match="host"):
        ledger.record_connection("req-1", {**connections.POSTGRES, "host": "x; rm -rf /"})
    with pytest.raises(DbvendError, match="no request"):
        ledger.record_connection("req-404", connections.POSTGRES)
    assert ledger.get("req-1").connection == connections.POSTGRES  # type: ignore[union-attr]


def test_a_destroy_keeps_its_final_snapshot_and_the_newest_one_is_found(ledger: Ledger) -> None:
    def destroyed(n: int, snapshot: str | None) -> None:
        record_and_queue(ledger, new(n, identifier="orders", database_name="orders"))
        for status in ("change_open", "merged"):
            assert ledger.transition(f"req-{n}", status)
        assert ledger.transition(f"req-{n}", "destroyed", "destroyed", final_snapshot=snapshot)

    assert ledger.final_snapshot("dev", "orders") is None
    destroyed(1, "orders-final-req1")
    assert ledger.final_snapshot("dev", "orders") == "orders-final-req1"
    destroyed(2, "orders-final-req2")  # the same name asked for again, and destroyed again
    assert ledger.final_snapshot("dev", "orders") == "orders-final-req2"
    destroyed(3, None)  # an environment that keeps none: the last one kept is still there
    assert ledger.final_snapshot("dev", "orders") == "orders-final-req2"
    assert ledger.get("req-2").final_snapshot == "orders-final-req2"  # type: ignore[union-attr]
    assert ledger.final_snapshot("staging", "orders") is None


def test_listing_filters_and_pages(ledger: Ledger) -> None:
    for n in range(1, 8):
        record_and_queue(ledger, new(n, owner="ann" if n % 2 else "bob"))
    ledger.transition("req-3", "rejected")
    assert [r.id for r in ledger.list_requests(owner="bob")] == ["req-6", "req-4", "req-2"]
    assert [r.id for r in ledger.list_requests(status="rejected")] == ["req-3"]
    seen: list[str] = []
    after = None
    while page := ledger.list_requests(limit=3, after=after):
        seen += [r.id for r in page]
        after = (page[-1].created_at, page[-1].id)
    assert seen == [f"req-{n}" for n in range(7, 0, -1)]


def test_an_unacknowledged_message_comes_back_after_the_visibility_timeout(ledger: Ledger) -> None:
    clock = Clock()
    queue = LocalQueue(ledger, visibility_timeout=10, clock=clock)
    record_and_queue(ledger, new())
    first = queue.receive()
    assert first is not None and first.receive_count == 1
    assert queue.receive() is None
    clock.now += 10.5
    second = queue.receive()
    assert second is not None and second.id == first.id and second.receive_count == 2
    assert not queue.ack(first), "an expired receipt must not acknowledge the newer delivery"
    assert queue.ack(second)
    clock.now += 100
    assert queue.receive() is None
    assert queue.depth() == {"ready": 0, "done": 1, "dead": 0}


def test_a_message_queued_in_hand_is_the_callers_until_its_visibility_runs_out(ledger: Ledger) -> None:
    clock = Clock()
    queue = LocalQueue(ledger, visibility_timeout=10, clock=clock)
    in_hand = InHand(visibility_timeout=10)
    _, message_id = record_and_queue(ledger, new(), in_hand=in_hand)
    assert queue.receive() is None, "another consumer must not take it"
    mine = queue.in_hand(message_id, in_hand)
    assert mine is not None and mine.receive_count == 1 and mine.receipt == in_hand.receipt
    assert queue.in_hand(message_id, InHand()) is None, "another receipt is not this delivery"
    clock.now += 10
    again = queue.receive()
    assert again is not None and again.id == message_id and again.receive_count == 2
    assert not queue.ack(mine) and queue.ack(again)


def test_retry_keeps_the_error_and_waits(ledger: Ledger) -> None:
    clock = Clock()
    queue = LocalQueue(ledger, clock=clock)
    record_and_queue(ledger, new())
    message = queue.receive()
    assert message is not None and queue.retry(message, "GitOpsError: disk full", delay=5)
    assert queue.receive() is None
    clock.now += 5
    again = queue.receive()
    assert again is not None and again.last_error == "GitOpsError: disk full"


def test_dead_letter_after_max_receives_runs_the_hook_in_the_same_transaction(ledger: Ledger) -> None:
    clock = Clock()
    queue = LocalQueue(ledger, visibility_timeout=1, max_receives=3, clock=clock)
    record_and_queue(ledger, new())
    for attempt in range(3):
        message = queue.receive()
        assert message is not None and message.receive_count == attempt + 1
        queue.retry(message, f"boom {attempt + 1}", delay=0)

    def record_failure(connection: sa.Connection, message: object) -> None:
        ledger.transition("req-1", "failed", "dead", errors=[{"error": "boom 3"}], connection=connection)

    assert queue.receive(on_dead=record_failure) is None
    (dead,) = queue.dead_letters()
    assert dead.last_error == "boom 3" and dead.receive_count == 3
    record = ledger.get("req-1")
    assert record is not None and record.status == "failed" and record.errors == [{"error": "boom 3"}]
    assert ledger.holder("dev", "orders1") is None


def test_concurrent_receivers_never_get_the_same_message(ledger: Ledger) -> None:
    for n in range(1, 41):
        record_and_queue(ledger, new(n))
    queue = LocalQueue(ledger, visibility_timeout=60)
    got: list[str] = []
    lock = threading.Lock()

    def drain() -> None:
        while (message := queue.receive()) is not None:
            with lock:
                got.append(message.id)
            queue.ack(message)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 40 and len(set(got)) == 40


def test_migrations_run_once_and_again_harmlessly(ledger: Ledger) -> None:
    again = Ledger.connect(ledger.engine.url.render_as_string(hide_password=False))
    with again.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == "0010"
    again.engine.dispose()


def test_a_ledger_at_the_first_schema_is_upgraded_with_its_rows(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from engine.store.database import create_ledger_engine

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_ledger_engine(url)
    config = Config()
    config.set_main_option("script_location", str(Path(store_database.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            sa.text(
                "INSERT INTO requests (id, channel, requester, payload, environment, identifier,"
                " database_name, status, created_at, updated_at) VALUES ('old-1', 'api', 'k',"
                " '{}', 'dev', 'old', 'old', 'accepted', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
            )
        )
    engine.dispose()
    upgraded = Ledger.connect(url)
    record = upgraded.get("old-1")
    assert record is not None and record.policy is None
    upgraded.transition("old-1", "processing", policy={"result": "pass"})
    record = upgraded.get("old-1")
    assert record is not None and record.policy == {"result": "pass"}
    upgraded.engine.dispose()


def test_readers_do_not_wait_for_a_writer_and_writers_take_turns(ledger: Ledger) -> None:
    """A status page stays answerable while a long write is under way; threads' writes queue."""
    record_and_queue(ledger, new(1))
    in_write, release = threading.Event(), threading.Event()
    order: list[str] = []

    def long_write() -> None:
        with ledger.transaction() as conn:
            conn.execute(sa.text("UPDATE requests SET owner = 'slow' WHERE id = 'req-1'"))
            in_write.set()
            release.wait(10)
            order.append("first")

    def second_write() -> None:
        ledger.transition("req-1", "processing", "second")
        order.append("second")

    first = threading.Thread(target=long_write)
    first.start()
    assert in_write.wait(10)
    second = threading.Thread(target=second_write)
    second.start()
    started = time.perf_counter()
    record = ledger.get("req-1")
    assert time.perf_counter() - started < 1.0
    assert record is not None and record.owner != "slow"  # the uncommitted write is not seen
    release.set()
    first.join(10)
    second.join(10)
    assert order == ["first", "second"]
    record = ledger.get("req-1")
    assert record is not None and record.owner == "slow" and record.status == "processing"


def test_schema_head_is_the_newest_migration(tmp_path: Path) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(store_database.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == store_database.SCHEMA_HEAD
    fresh = Ledger.connect(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    assert store_database.schema_version(fresh.engine) == store_database.SCHEMA_HEAD
    fresh.engine.dispose()
