"""Notifications against a local HTTP receiver: every event arrives once per occurrence (signed),
a receiver answering 500 then 200 gets it again and keeps one, a hung one delays no request."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from engine.catalog import NOTIFICATION_EVENTS, Catalog
from engine.catalog_reader import parse_catalog
from engine.ci import claims_at
from engine.cli.drift import notify_drift
from engine.drift import DriftAction
from engine.notifier import Answer, deliver_pending
from engine.notify import EVENT_FIELDS, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER
from engine.signing import signature_matches
from engine.store.ledger import Ledger
from engine.store.notifications import NotificationOutbox
from engine.store.schema import notification_deliveries, notification_events
from engine.sweep import remind
from engine.ttl import due, lease_of
from tests.support import aws_transport, ledgers
from tests.support.aws_transport import World, provision
from tests.support.connections import POSTGRES
from tests.support.ledgers import new
from tests.support.notification_sink import HungSink, Sink, catalog_text, served_repo
from tests.support.server import API_KEY, ServeProcess

ledger = ledgers.ledger
world = aws_transport.world
SECRET = "hook-secret-3f9a"
HEADERS = {"x-api-key": API_KEY}
REQUEST = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}


def wait_for_status(server: ServeProcess, request_id: str, wanted: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = str(httpx.get(f"{server.url}/v1/requests/{request_id}", headers=HEADERS).json()["status"])
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def test_every_event_arrives_once_per_occurrence_signed(
    tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    repo = served_repo(
        data,
        catalog_text(
            f"{{url: '{sink.url}/json', format: json, secret_env: DBVEND_HOOK_SECRET}}",
            f"{{url: '{sink.url}/slack?token=abc', format: slack}}",
        ),
    )
    server = ServeProcess(data, env={"DBVEND_HOOK_SECRET": SECRET}).start()
    url = f"sqlite:///{data / 'ledger.sqlite3'}"
    book = Ledger.connect(url)
    try:
        accepted = httpx.post(f"{server.url}/provision-rds", headers=HEADERS, json=REQUEST).json()
        request_id = accepted["request_id"]
        assert wait_for_status(server, request_id, "change_open") == "change_open"
        # What CI, the webhooks and the sweep do, through the same ledger `dbvend serve` reads:
        assert book.transition(request_id, "planned", "dbvend ci plan: 1 to add")
        with book.transaction() as connection:
            book.record_connection(request_id, POSTGRES, connection)
            assert book.transition(request_id, "applied", "dbvend ci apply: applied", connection=connection)
        assert httpx.post(f"{server.url}/v1/changes/1/merge", headers=HEADERS).status_code == 200
        assert wait_for_status(server, request_id, "merged") == "merged"
        modified = httpx.patch(
            f"{server.url}/v1/databases/dev/orders", headers=HEADERS, json={"team": "payments"}, timeout=60
        )
        assert modified.status_code == 200, modified.text
        leases = [lease_of(d, t) for d, t in claims_at(repo.path, "main").items()]
        expires = leases[0].expires_at
        assert expires is not None
        soon = expires - timedelta(hours=47)
        assert len(remind(due(leases, soon), book, None, soon)) == 1
        assert remind(due(leases, soon), book, None, soon) == [], "a reminder is sent once"
        monkeypatch.setenv("DATABASE_URL", url)
        drifted = DriftAction(
            "terraform/dev/orders", "open", body="## Drift\n- ~ aws_db_instance", detail="1 to change"
        )
        notify_drift([drifted], tracked=False)
        notify_drift([drifted], tracked=False)  # the next run sees the same drift: not news
        destroy = httpx.post(
            f"{server.url}/v1/databases/dev/orders/destroy", headers=HEADERS, json={"reason": "project over"}
        )
        assert destroy.status_code == 202, destroy.text
        assert book.transition(request_id, "destroyed", "dbvend ci apply: destroyed")
        for n, status in ((1, "rejected"), (2, "failed")):
            with book.transaction() as connection:
                book.record_accepted(connection, new(n, id=f"other-{n}"))
            assert book.transition(f"other-{n}", status, f"refused: reason {n}")

        expected = 11 + 2  # each event once, and the two other requests' acceptance
        json_posts = sink.wait_for(expected, "/json", timeout=20)
        slack_posts = sink.wait_for(expected, "/slack?token=abc", timeout=20)
        time.sleep(2.5)  # two more passes of the sender: nothing is sent again
        assert len(sink.events("/json")) == len(sink.events("/slack?token=abc")) == expected
    finally:
        server.stop()
        book.engine.dispose()

    bodies = [post.json() for post in json_posts]
    assert Counter(body["event"] for body in bodies) == Counter(
        {**dict.fromkeys(NOTIFICATION_EVENTS, 1), "accepted": 3}
    )
    assert len({body["id"] for body in bodies}) == expected
    for post, body in zip(json_posts, bodies, strict=True):
        assert signature_matches(SECRET, post.body, post.headers[SIGNATURE_HEADER])
        assert post.headers[EVENT_ID_HEADER] == body["id"] and post.headers[EVENT_HEADER] == body["event"]
        assert set(body) >= set(EVENT_FIELDS)
    mine = [body for body in bodies if body["request_id"] == request_id]
    assert [body["event"] for body in mine] == [
        *("accepted", "change_open", "planned", "applied", "modify_open"),
        *("expiring", "drift", "destroy_open", "destroyed"),
    ]
    (applied,) = [body for body in mine if body["event"] == "applied"]
    assert applied["connection"] == POSTGRES and applied["link"] == "/v1/changes/1"
    assert "password" not in json.dumps(bodies).lower()
    texts = [post.json() for post in slack_posts]
    assert all(list(text) == ["text"] and "\n" not in text["text"] for text in texts)
    assert SIGNATURE_HEADER not in slack_posts[0].headers
    assert any(text["text"].startswith(":white_check_mark: dev/orders applied") for text in texts)
    log = server.log_text()
    assert "token=abc" not in log and SECRET not in log


def one_target(sink_url: str, secret_env: str | None = "DBVEND_HOOK_SECRET") -> Catalog:
    secret = f", secret_env: {secret_env}" if secret_env else ""
    return parse_catalog(catalog_text(f"{{url: '{sink_url}/hook', format: json{secret}}}"))


def deliveries(book: Ledger) -> list[Any]:
    with book.reading() as conn:
        return list(conn.execute(sa.select(notification_deliveries)))


def test_a_receiver_answering_500_then_200_gets_the_event_again_and_keeps_one(ledger: Ledger) -> None:
    with Sink(answers=[500]) as sink:
        catalog = one_target(sink.url)
        with ledger.transaction() as connection:
            ledger.record_accepted(connection, new(1))
        send: dict[str, Any] = {"secrets": {"DBVEND_HOOK_SECRET": SECRET}, "jitter": lambda: 1.0}
        start = time.time()
        first = deliver_pending(ledger, lambda: catalog, now=start, **send)
        assert (first.sent, first.retrying) == (0, 1) and "HTTP 500" in first.errors[0]
        assert "/hook" not in first.errors[0]
        assert deliver_pending(ledger, lambda: catalog, now=start + 9, **send).sent == 0, "not before 10 s"
        assert deliver_pending(ledger, lambda: catalog, now=start + 10, **send).sent == 1
        assert deliver_pending(ledger, lambda: catalog, now=start + 100000, **send).sent == 0
        posts = sink.events()
    assert len(posts) == 2 and posts[0].body == posts[1].body
    assert posts[0].headers[EVENT_ID_HEADER] == posts[1].headers[EVENT_ID_HEADER]
    assert all(signature_matches(SECRET, post.body, post.headers[SIGNATURE_HEADER]) for post in posts)
    (row,) = deliveries(ledger)
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)
    with ledger.reading() as conn:
        assert conn.execute(sa.select(notification_events.c.done)).scalar_one() is True


def test_two_senders_at_once_post_each_event_once(ledger: Ledger) -> None:
    with Sink() as sink:
        catalog = one_target(sink.url, secret_env=None)
        for n in range(20):
            with ledger.transaction() as connection:
                ledger.record_accepted(connection, new(n))
        barrier = threading.Barrier(2)

        def sender() -> None:
            barrier.wait()
            for _ in range(5):
                deliver_pending(ledger, lambda: catalog)

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ids = [post.headers[EVENT_ID_HEADER] for post in sink.events()]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert {row.state for row in deliveries(ledger)} == {"sent"}


def test_the_outbox_is_written_with_the_status_change_or_not_at_all(tmp_path: Path) -> None:
    book = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    with book.transaction() as connection:
        book.record_accepted(connection, new(1))
    assert book.notified.is_set()
    with pytest.raises(RuntimeError), book.transaction() as connection:
        assert book.transition("req-1", "failed", "boom", connection=connection)
        raise RuntimeError("rolled back")
    assert not book.transition("req-1", "applied", "not from accepted")  # refused: no event either
    with pytest.raises(ValueError, match="unknown notification event"):
        book.notify("exploded", "req-1")
    outbox = NotificationOutbox(book)
    assert [event.event for event in outbox.unplanned()] == ["accepted"]
    assert book.get("req-1").status == "accepted"  # type: ignore[union-attr]


def test_events_no_target_wants_are_done_without_a_post_and_a_missing_secret_sends_nothing(
    tmp_path: Path,
) -> None:
    book = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    posted: list[str] = []

    def post(url: str, body: bytes, headers: Any, timeout: float) -> Answer:
        posted.append(url)
        return Answer(200)

    prod_only = parse_catalog(
        catalog_text("{url: 'http://127.0.0.1:9/x', format: json, environments: [prod]}")
    )
    with book.transaction() as connection:
        book.record_accepted(connection, new(1))
    assert deliver_pending(book, lambda: prod_only, post=post).sent == 0
    assert posted == [] and NotificationOutbox(book).unplanned() == []

    unsigned = one_target("http://127.0.0.1:9")
    with book.transaction() as connection:
        book.record_accepted(connection, new(2))
    tally = deliver_pending(book, lambda: unsigned, post=post, secrets={})
    assert posted == [] and tally.retrying == 1 and "DBVEND_HOOK_SECRET is not set" in tally.errors[0]
    # the target is taken out of dbvend.yaml: its delivery is given up, the event done
    later = deliver_pending(book, lambda: prod_only, post=post, now=time.time() + 60)
    assert later.given_up == 1 and posted == []
    assert {row.state for row in deliveries(book)} == {"failed"}


def test_a_receiver_that_never_answers_delays_no_request(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with HungSink() as hung:
        served_repo(data, catalog_text(f"{{url: '{hung.url}/hook', format: json}}"))
        server = ServeProcess(data).start()
        try:
            started = time.monotonic()
            accepted = httpx.post(f"{server.url}/provision-rds", headers=HEADERS, json=REQUEST)
            assert accepted.status_code == 202
            status = wait_for_status(server, accepted.json()["request_id"], "change_open")
            took = time.monotonic() - started
            assert status == "change_open" and took < 5
            assert hung.connections, "the sender is connected to the hung receiver meanwhile"
            book = Ledger.connect(f"sqlite:///{data / 'ledger.sqlite3'}")
            assert {row.state for row in deliveries(book)} == {"pending"}
            book.engine.dispose()
        finally:
            stopped = time.monotonic()
            server.stop()
            assert time.monotonic() - stopped < 15


def test_the_sqs_consumer_sends_the_batch_s_events_after_it(world: World, sink: Sink) -> None:
    served_repo(world.repo_path.parent, catalog_text(f"{{url: '{sink.url}/hook', format: slack}}"))
    accepted = provision(REQUEST)
    messages = world.topology.receive()
    assert world.consume(messages) == []
    texts = [post.json()["text"] for post in sink.events()]
    assert len(texts) == 2 and "dev/orders accepted" in texts[0] and "dev/orders change opened" in texts[1]
    book = world.ledger()
    assert book.get(accepted["request_id"]).status == "change_open"  # type: ignore[union-attr]
    assert {row.state for row in deliveries(book)} == {"sent"}
    book.engine.dispose()


def test_dbvend_notify_send_sends_what_is_due_once(tmp_path: Path, sink: Sink) -> None:
    from click.testing import CliRunner

    from engine.cli import main

    checkout = tmp_path / "infra"
    checkout.mkdir()
    (checkout / "dbvend.yaml").write_text(catalog_text(f"{{url: '{sink.url}/hook?key=k', format: json}}"))
    (tmp_path / "data").mkdir()
    book = Ledger.connect(f"sqlite:///{tmp_path / 'data' / 'ledger.sqlite3'}")
    with book.transaction() as connection:
        book.record_accepted(connection, new(1))
    book.engine.dispose()
    env = {"DBVEND_DATA": str(tmp_path / "data")}
    first = CliRunner().invoke(main, ["notify", "send", "--repo", str(checkout)], env=env)
    assert first.exit_code == 0 and "1 sent, 0 to retry, 0 given up" in first.output, first.output
    again = CliRunner().invoke(main, ["notify", "send", "--repo", str(checkout)], env=env)
    assert again.exit_code == 0 and "0 sent" in again.output
    assert [post.json()["event"] for post in sink.events()] == ["accepted"]


def test_the_address_connected_to_is_checked_when_sending(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolves to a refused address (here: loopback, refused for the test's sake) gets
    nothing: the check is on the socket's peer, after the resolver, not on the URL's text."""
    import engine.notifier as notifier

    monkeypatch.setattr(notifier, "refused_address", lambda address: f"{address} is refused here")
    answer = notifier.post_webhook(f"{sink.url.replace('127.0.0.1', 'localhost')}/hook", b"{}", {}, 2.0)
    assert answer.status is None and answer.error is not None
    assert answer.error.startswith("refused: localhost resolves to 127.0.0.1 is refused here")
    assert sink.events() == []
    monkeypatch.undo()
    assert notifier.post_webhook(f"{sink.url}/hook", b"{}", {}, 2.0).ok


def test_a_receiver_down_for_good_is_given_up_after_a_day(tmp_path: Path) -> None:
    from engine.notify import BACKOFF

    book = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    posted: list[float] = []
    clock = time.time()

    def down(url: str, body: bytes, headers: Any, timeout: float) -> Answer:
        posted.append(clock)
        return Answer(503, "HTTP 503")

    catalog = one_target("http://127.0.0.1:9", secret_env=None)
    with book.transaction() as connection:
        book.record_accepted(connection, new(1))
    started = clock
    while clock - started < 3 * 86400:
        deliver_pending(book, lambda: catalog, now=clock, post=down, jitter=lambda: 1.0)
        clock += 60
    assert len(posted) == len(BACKOFF) + 1 == 29
    assert 23 * 3600 < posted[-1] - posted[0] < 25 * 3600
    (row,) = deliveries(book)
    assert (row.state, row.attempts, row.last_error) == ("failed", 29, "HTTP 503")
    assert NotificationOutbox(book).due(clock + 10**9) == []
