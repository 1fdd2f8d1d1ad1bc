"""AWS mode end to end against a moto server process (moto[server]), as Lambda would run it.

API Gateway event -> api_handler (Mangum) -> SNS -> SQS (raw delivery) -> the messages SQS
returns, as Lambda's SQS event -> consumer_handler -> a change in a local git repository.
Between invocations the test does what Lambda's event source mapping does: deletes the records
not reported in batchItemFailures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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
from tests.test_sqs import REGION, SEED, Topology, lambda_event

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


def test_api_to_sns_to_sqs_to_the_consumer_to_a_change(world: World) -> None:
    accepted = provision(SEED)
    assert accepted["message"] == "Request accepted"
    assert [accepted["sns_message_id"]] == world.topology.sns_message_ids(), "SNS's own MessageId"
    status = aws.api_handler(http_api_event("GET", f"/v1/requests/{accepted['request_id']}"), None)
    assert status["statusCode"] == 200 and json.loads(status["body"])["status"] == "accepted"
    refused = aws.api_handler(rest_event("POST", "/provision-rds", SEED, key="wrong"), None)
    assert refused["statusCode"] == 403

    (first,) = world.topology.receive()
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    world.visible_again(first)  # SQS delivers at least once: the same message comes again
    (second,) = world.topology.receive()
    assert (
        second["MessageId"] == first["MessageId"] and second["Attributes"]["ApproximateReceiveCount"] == "2"
    )
    assert world.consume([second]) == []
    assert world.consume([first]) == []  # the first delivery, late: nothing more happens
    changes = world.repo.changes()
    assert [(c.branch, c.request_id) for c in changes] == [("dbvend/prod/mydb123", accepted["request_id"])]
    assert world.repo.read_file(changes[0].branch, "terraform/prod/mydb123/main.tf")
    ledger = world.ledger()
    record = ledger.get(accepted["request_id"])
    assert record is not None and record.status == "change_open"
    assert [e.status for e in record.history].count("change_open") == 1
    ledger.engine.dispose()
    assert world.topology.receive() == []


def page_event(method: str, path: str, cookie: str | None = None, form: str | None = None) -> dict[str, Any]:
    """A browser's call through the keyless portal routes: no x-api-key, HTML, maybe a form."""
    event = rest_event(method, path)
    headers = {k: v for k, v in event["headers"].items() if k != "x-api-key"}
    headers |= {"Accept": "text/html", "Content-Type": "application/x-www-form-urlencoded"}
    headers |= {"Cookie": cookie} if cookie else {}
    path_only, _, query = path.partition("?")
    event |= {
        "path": path_only,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": dict([query.split("=", 1)]) if query else None,
        "multiValueQueryStringParameters": {query.split("=", 1)[0]: [query.split("=", 1)[1]]}
        if query
        else None,
        "body": form,
    }
    event["requestContext"]["identity"]["apiKey"] = None
    return event


def test_the_portal_through_api_gateway_and_mangum(world: World) -> None:
    accepted = provision(SEED)
    assert world.consume(world.topology.receive()) == []
    away = aws.api_handler(page_event("GET", "/fleet"), None)
    assert away["statusCode"] == 303 and away["headers"]["location"] == "/signin?next=/fleet"
    form = aws.api_handler(page_event("GET", "/signin?next=/fleet"), None)
    token = re.search(r'name="signin_token" value="([^"]+)"', form["body"])
    assert form["statusCode"] == 200 and token is not None
    signin_cookie = form["headers"]["set-cookie"].split(";")[0]
    fields = f"api_key={API_KEY}&next=%2Ffleet&signin_token={token.group(1)}"
    signed = aws.api_handler(page_event("POST", "/signin", cookie=signin_cookie, form=fields), None)
    assert signed["statusCode"] == 303, signed
    # Mangum: several Set-Cookie headers go in multiValueHeaders (the session's, the sign-in form's removal)
    cookies = signed["multiValueHeaders"].get("set-cookie") or [signed["headers"]["set-cookie"]]
    (cookie,) = [c for c in cookies if c.startswith("dbvend_session=")]
    assert "; secure" in cookie.lower() and "httponly" in cookie.lower()  # HTTPS behind the gateway
    fleet = aws.api_handler(page_event("GET", "/fleet", cookie=cookie.split(";")[0]), None)
    assert fleet["statusCode"] == 200 and fleet["headers"]["content-type"].startswith("text/html")
    assert 'data-database="prod/mydb123"' in fleet["body"] and "change_open" in fleet["body"]
    status = aws.api_handler(
        page_event("GET", f"/requests/{accepted['request_id']}", cookie.split(";")[0]), None
    )
    assert 'data-status="change_open"' in status["body"]
    css = aws.api_handler(page_event("GET", "/static/portal.css"), None)
    assert css["statusCode"] == 200 and css["headers"]["content-type"].startswith("text/css")


def test_a_poison_message_ends_in_the_dlq_after_five_receives_while_its_batch_succeeds(world: World) -> None:
    good = [provision({**SEED, "database_name": name}) for name in ("orders", "billing")]
    world.topology.sqs.send_message(QueueUrl=world.topology.queue_url, MessageBody="{not json")
    batch = world.topology.receive()
    assert len(batch) == 3
    poison_id = next(m["MessageId"] for m in batch if m["Body"] == "{not json")
    assert world.consume(batch) == [poison_id]
    ledger = world.ledger()
    for accepted in good:
        record = ledger.get(accepted["request_id"])
        assert record is not None and record.status == "change_open"
    ledger.engine.dispose()
    assert len(world.repo.changes()) == 2

    receives = 1
    while True:
        (poison,) = [m for m in batch if m["MessageId"] == poison_id]
        world.visible_again(poison)
        batch = world.topology.receive()
        if not batch:
            break
        receives += 1
        assert world.consume(batch) == [poison_id]
    assert receives == 5
    (dead,) = world.topology.receive(world.topology.dlq_url)
    assert dead["Body"] == "{not json"
    assert len(world.repo.changes()) == 2


def test_cold_start_imports_nothing_heavy() -> None:
    """Importing the handler module costs only the standard library; the rest comes on first call."""
    code = (
        "import sys, engine.aws; heavy = [m for m in ('fastapi', 'mangum', 'boto3', 'githubkit', "
        "'sqlalchemy', 'pydantic') if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    )
    assert result.stdout.strip() == ""
