"""The SNS -> SQS transport and the Lambda pieces against moto in-process (mock_aws)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from engine import aws
from engine.app import create_app
from engine.errors import QueueUnavailable
from engine.gitops.local import LocalRepository
from engine.intake import accept_request
from engine.keys import hash_key
from engine.queue import Message
from engine.queue.sqs import Outbox, SnsPublisher, SqsBatch, batch_messages, queue_url_of
from engine.queue.tables import queue_messages
from engine.queue.worker import Worker
from engine.services import build_services
from engine.settings import Settings
from engine.store.ledger import Ledger
from tests.support.aws_transport import REGION, Topology, lambda_event
from tests.support.claims import SEED


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def topology(aws_env: None) -> Topology:
    return Topology()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    yield opened
    opened.engine.dispose()


def test_an_accepted_request_is_published_once_with_its_attributes(
    topology: Topology, ledger: Ledger, repo: LocalRepository
) -> None:
    outbox = Outbox(ledger, SnsPublisher(topology.topic_arn))
    record, sns_id = accept_request(SEED, "api", "key-a", ledger, repo, idempotency_key="k1", outbox=outbox)
    assert topology.sns_message_ids() == [sns_id]
    (message,) = topology.receive()
    body = json.loads(message["Body"])  # raw delivery: the body is dbvend's message itself
    assert body["request_id"] == record.id and body["request"] == SEED and body["channel"] == "api"
    assert message["MessageAttributes"]["request_id"]["StringValue"] == record.id
    assert message["MessageAttributes"]["channel"]["StringValue"] == "api"
    again, replayed_id = accept_request(
        SEED, "api", "key-a", ledger, repo, idempotency_key="k1", outbox=outbox
    )
    assert again.id == record.id and replayed_id == sns_id, "a replay answers the same SNS MessageId"
    assert topology.receive() == [] and topology.sns_message_ids() == []  # and publishes nothing


def test_a_publish_that_fails_fails_the_request_and_frees_its_name(
    topology: Topology, ledger: Ledger, repo: LocalRepository
) -> None:
    gone = Outbox(ledger, SnsPublisher(topology.topic_arn.replace("dbvend-requests", "missing")))
    with pytest.raises(QueueUnavailable, match="send it again"):
        accept_request(SEED, "api", "key-a", ledger, repo, idempotency_key="k1", outbox=gone)
    failed = ledger.latest("prod", "mydb123")
    assert (
        failed is not None
        and failed.status == "failed"
        and "could not be queued" in failed.errors[0]["error"]
    )
    with pytest.raises(QueueUnavailable, match="new Idempotency-Key"):
        accept_request(SEED, "api", "key-a", ledger, repo, idempotency_key="k1", outbox=gone)
    working = Outbox(ledger, SnsPublisher(topology.topic_arn))
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo, idempotency_key="k2", outbox=working)
    assert record.status == "accepted" and len(topology.receive()) == 1


def test_flush_sends_what_a_dead_sender_left_in_the_outbox(
    topology: Topology, ledger: Ledger, repo: LocalRepository
) -> None:
    record, message_id = accept_request(SEED, "api", "key-a", ledger, repo, outbox=None)
    with ledger.transaction() as conn:  # as if the process died after the commit, before SNS
        conn.execute(queue_messages.update().where(queue_messages.c.id == message_id).values(state="outbox"))
    now = [0.0]
    outbox = Outbox(ledger, SnsPublisher(topology.topic_arn), clock=lambda: now[0])
    with ledger.reading() as conn:
        enqueued = (
            conn.execute(queue_messages.select().where(queue_messages.c.id == message_id)).one().enqueued_at
        )
    now[0] = enqueued + 10
    assert outbox.flush(older_than=60) == [] and topology.receive() == []
    now[0] = enqueued + 61
    assert outbox.flush(older_than=60) == [message_id]
    (message,) = topology.receive()
    assert json.loads(message["Body"])["request_id"] == record.id
    assert outbox.flush(older_than=60) == [], "sent once"


def test_batch_messages_and_queue_urls() -> None:
    event = {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "r-1",
                "body": '{"request_id": "req-1"}',
                "attributes": {"ApproximateReceiveCount": "3"},
                "messageAttributes": {"request_id": {"stringValue": "req-1", "dataType": "String"}},
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:dbvend-requests",
            }
        ]
    }
    (message,) = batch_messages(event)
    assert message == Message("m-1", "req-1", '{"request_id": "req-1"}', 3, "r-1")
    assert batch_messages({}) == []
    arn = "arn:aws:sqs:eu-west-1:123456789012:dbvend-requests"
    assert queue_url_of(arn) == "https://sqs.eu-west-1.amazonaws.com/123456789012/dbvend-requests"
    assert queue_url_of(arn, "http://127.0.0.1:5000/") == "http://127.0.0.1:5000/123456789012/dbvend-requests"


def test_a_failed_record_is_reported_delayed_and_failed_on_its_last_receive(
    topology: Topology, ledger: Ledger, repo: LocalRepository
) -> None:
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo)
    body = json.dumps({"request_id": record.id})
    topology.sqs.send_message(QueueUrl=topology.queue_url, MessageBody=body)
    (sent,) = topology.receive()
    message = batch_messages(lambda_event([sent], topology.queue_arn))[0]
    batch = SqsBatch(ledger, 5, topology.sqs, {message.id: topology.queue_url})
    assert batch.ack(message) and batch.retry(message, "boom", 0)
    assert batch.response() == {"batchItemFailures": [{"itemIdentifier": message.id}]}
    assert len(topology.receive()) == 1, "visibility set to the retry delay (0 s): it is back at once"
    stored = ledger.get(record.id)
    assert stored is not None and stored.status == "accepted"
    last = Message(message.id, record.id, body, 5, message.receipt)
    SqsBatch(ledger, 5).retry(last, "RuntimeError: boom", 15)
    stored = ledger.get(record.id)
    assert (
        stored is not None
        and stored.status == "failed"
        and stored.errors == [{"error": "RuntimeError: boom"}]
    )


def test_the_worker_acknowledges_deliveries_with_nothing_left_to_do(
    ledger: Ledger, repo: LocalRepository, gate: Any
) -> None:
    class Settled:
        def __init__(self) -> None:
            self.acked: list[str] = []

        def ack(self, message: Message, connection: Any = None) -> bool:
            self.acked.append(message.id)
            return True

        def retry(self, message: Message, error: str, delay: float, connection: Any = None) -> bool:
            raise AssertionError("nothing to retry")

    settled = Settled()
    worker = Worker(ledger, settled, repo, gate, None)
    unknown = Message("m-1", "nope", json.dumps({"request_id": "nope"}), 1, "r")
    assert worker.handle(unknown) is None
    record, _ = accept_request(SEED, "api", "key-a", ledger, repo)
    ledger.transition(record.id, "rejected", "by hand")
    done = Message("m-2", record.id, json.dumps({"request_id": record.id}), 2, "r")
    assert worker.handle(done) is None
    assert settled.acked == ["m-1", "m-2"]
    assert repo.changes() == []
    with pytest.raises(TypeError, match="local queue"):
        worker.run_once()


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("github_private_key", "-----BEGIN KEY-----\nabc\n", "-----BEGIN KEY-----\nabc"),
        ("github_webhook_secret", '{"value": "s3cret"}', "s3cret"),
        ("api_key_hashes", '{"sha256": ["aa", "bb"]}', "aa,bb"),
        ("api_key_hashes", "aa,bb", "aa,bb"),
        ("database_url", "postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("database_url", '{"url": "sqlite:///x"}', "sqlite:///x"),
        (
            "database_url",
            '{"username": "dbvend", "password": "p@ss/word", "host": "h.rds", "port": 5432,'
            ' "dbname": "ledger", "engine": "postgres"}',
            "postgresql+psycopg://dbvend:p%40ss%2Fword@h.rds:5432/ledger",
        ),
    ],
)
def test_secret_values(name: str, raw: str, value: str) -> None:
    assert aws.secret_value(name, raw) == value


def test_secrets_are_read_from_secrets_manager(aws_env: None, tmp_path: Path) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    arn = client.create_secret(Name="dbvend/keys", SecretString=json.dumps({"sha256": [hash_key("k-1")]}))[
        "ARN"
    ]
    url = client.create_secret(Name="dbvend/db", SecretString=f"sqlite:///{tmp_path / 'l.sqlite3'}")["ARN"]
    settings = aws.resolve_secrets(
        Settings(data=tmp_path, api_key_hashes_secret_arn=arn, database_url_secret_arn=url)
    )
    assert settings.api_key_hash_list == [hash_key("k-1")]
    assert settings.ledger_url == f"sqlite:///{tmp_path / 'l.sqlite3'}"
    unchanged = Settings(data=tmp_path)
    assert aws.resolve_secrets(unchanged) is unchanged


def test_the_api_answers_503_when_the_queue_is_unreachable(topology: Topology, tmp_path: Path) -> None:
    settings = Settings(
        data=tmp_path / "data",
        api_keys="k",
        queue="sqs",
        sns_topic_arn=topology.topic_arn.replace("dbvend-requests", "missing"),
    )
    services, _ = build_services(settings)
    with TestClient(create_app(services)) as client:
        answer = client.post("/provision-rds", json=SEED, headers={"x-api-key": "k"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert "send it again" in answer.json()["detail"]
    record = services.ledger.latest("prod", "mydb123")
    assert record is not None and record.status == "failed" and services.ledger.count() == 1


def test_in_lambda_the_data_dir_defaults_to_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DBVEND_DATA", raising=False)
    aws.reset()
    try:
        assert aws.settings().data == aws.LAMBDA_DATA
        aws.reset()
        monkeypatch.setenv("DBVEND_DATA", str(tmp_path))
        assert aws.settings().data == tmp_path
    finally:
        aws.reset()
