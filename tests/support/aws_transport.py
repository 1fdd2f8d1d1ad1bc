"""dbvend's AWS transport as the tests stand it up: an SNS topic and its SQS queues (moto), the events
Lambda hands the functions (API Gateway's, SQS's), and AWS mode end to end against a moto server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from engine import aws
from engine.gitops.local import LocalRepository
from engine.keys import hash_key
from engine.store.ledger import Ledger

REGION = "us-east-1"


class Topology:
    """A topic, its queue (raw delivery, DLQ after 5 receives) and an observer queue that gets
    SNS's envelope (not raw), where SNS's own MessageId can be read."""

    def __init__(self, suffix: str = "") -> None:
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.topic_arn = self.sns.create_topic(Name=f"dbvend-requests{suffix}")["TopicArn"]
        self.dlq_url = self.sqs.create_queue(QueueName=f"dbvend-dlq{suffix}")["QueueUrl"]
        dlq_arn = self.arn(self.dlq_url)
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
        self.queue_url = self.sqs.create_queue(
            QueueName=f"dbvend-requests{suffix}",
            Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "30"},
        )["QueueUrl"]
        self.queue_arn = self.arn(self.queue_url)
        self.observer_url = self.sqs.create_queue(QueueName=f"observer{suffix}")["QueueUrl"]
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=self.queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=self.arn(self.observer_url))

    def arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def receive(self, url: str | None = None, count: int = 10) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=url or self.queue_url,
            MaxNumberOfMessages=count,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def sns_message_ids(self) -> list[str]:
        return [json.loads(m["Body"])["MessageId"] for m in self.receive(self.observer_url)]


def lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source hands the consumer, from messages SQS returned."""
    records = []
    for message in messages:
        attributes = {
            name: {
                "stringValue": value["StringValue"],
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": attributes,
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


API_KEY = "dbv_e2e-key"


class World:
    def __init__(self, topology: Topology, repo: Path, ledger_url: str) -> None:
        self.topology, self.repo_path, self.ledger_url = topology, repo, ledger_url

    @property
    def repo(self) -> LocalRepository:
        return LocalRepository.open_or_create(self.repo_path)

    def ledger(self) -> Ledger:
        return Ledger.connect(self.ledger_url)

    def consume(self, messages: list[dict[str, Any]]) -> list[str]:
        """One consumer invocation over these messages, then Lambda's deletes; the failed ids."""
        answer = aws.consumer_handler(lambda_event(messages, self.topology.queue_arn), None)
        failed = [item["itemIdentifier"] for item in answer["batchItemFailures"]]
        for message in messages:
            if message["MessageId"] not in failed:
                self.topology.sqs.delete_message(
                    QueueUrl=self.topology.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return failed

    def visible_again(self, message: dict[str, Any]) -> None:
        """Its visibility timeout has run out (the test does not wait for it)."""
        self.topology.sqs.change_message_visibility(
            QueueUrl=self.topology.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


@pytest.fixture
def world(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    topology = Topology(suffix=uuid.uuid4().hex[:8])
    secrets = boto3.client("secretsmanager", region_name=REGION)
    keys = secrets.create_secret(
        Name=f"dbvend/api-keys-{uuid.uuid4().hex[:8]}",
        SecretString=json.dumps({"sha256": [hash_key(API_KEY)]}),
    )["ARN"]
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    database = secrets.create_secret(
        Name=f"dbvend/database-url-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"url": ledger_url})
    )["ARN"]
    environment = {
        "DBVEND_QUEUE": "sqs",
        "DBVEND_SNS_TOPIC_ARN": topology.topic_arn,
        "DBVEND_GITOPS": "local",
        "DBVEND_DATA": str(tmp_path / "data"),
        "DBVEND_REPO": str(tmp_path / "repo"),
        "DBVEND_API_KEY_HASHES_SECRET_ARN": keys,
        "DBVEND_DATABASE_URL_SECRET_ARN": database,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for name in ("DBVEND_API_KEYS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    aws.reset()
    try:
        yield World(topology, tmp_path / "repo", ledger_url)
    finally:
        aws.reset()


def rest_event(
    method: str, path: str, body: dict[str, Any] | None = None, key: str = API_KEY
) -> dict[str, Any]:
    """An API Gateway REST API (v1) proxy event, as the `ANY /{proxy+}` integration sends it."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "curl/8.5.0",
        "X-Amzn-Trace-Id": "Root=1-65f0c0de-0123456789abcdef01234567",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        "x-api-key": key,
    }
    request_id = str(uuid.uuid4())
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "extendedRequestId": "UcqY5HXXoAMFmTw=",
            "requestTime": "23/Nov/2026:10:00:00 +0000",
            "path": f"/v1{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "v1",
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1795428000000,
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "apiKey": key,
                "apiKeyId": "k1a2b3c4d5",
                "sourceIp": "203.0.113.7",
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": "curl/8.5.0",
                "user": None,
            },
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def http_api_event(method: str, path: str, key: str = API_KEY) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "host": "xyz789.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-api-key": key,
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "xyz789",
            "domainName": "xyz789.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "xyz789",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:10:00:01 +0000",
            "timeEpoch": 1795428001000,
        },
        "isBase64Encoded": False,
    }


def provision(body: dict[str, Any]) -> dict[str, Any]:
    answer = aws.api_handler(rest_event("POST", "/provision-rds", body), None)
    assert answer["statusCode"] == 202, answer
    result: dict[str, Any] = json.loads(answer["body"])
    return result
