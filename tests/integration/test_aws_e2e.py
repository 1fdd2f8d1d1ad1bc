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
from typing import Any

from engine import aws
from tests.support import aws_transport
from tests.support.aws_transport import API_KEY, World, http_api_event, provision, rest_event
from tests.support.claims import SEED

# AWS mode against the moto server, shared with test_stuck_requests.py.
world = aws_transport.world


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
