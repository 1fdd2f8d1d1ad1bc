"""engine/notify.py: an event's JSON body, its Slack line, the signature, the retry schedule, the targets."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from engine.catalog import NOTIFICATION_EVENTS, Notification
from engine.notify import (
    BACKOFF,
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    NotificationEvent,
    request_body,
    request_headers,
    retry_delay,
    shown_url,
    slack_escape,
    slack_text,
    targets_for,
)
from engine.signing import signature, signature_matches

FIELDS = ["id", "event", "at", "request_id", "environment", "identifier", "status", "detail", "link"]


def event(name: str = "change_open", **changes: object) -> NotificationEvent:
    values: dict[str, object] = {
        "id": "0f" * 16,
        "event": name,
        "at": "2026-12-07T18:00:00.000000Z",
        "request_id": "req-1",
        "environment": "dev",
        "identifier": "orders",
        "status": name,
        "detail": "change #12 on dbvend/dev/orders",
        "link": "https://github.com/acme/infra/pull/12",
        "data": {},
    }
    values.update(changes)
    return NotificationEvent(**values)  # type: ignore[arg-type]


def test_the_json_body_has_exactly_the_event_fields() -> None:
    body = json.loads(request_body(event(), "json"))
    assert sorted(body) == sorted(FIELDS)
    assert body["event"] == "change_open" and body["link"].endswith("/pull/12")


def test_applied_carries_the_connection_and_only_applied_does() -> None:
    details = {"engine": "postgres", "host": "orders.example", "port": 5432}
    applied = json.loads(request_body(event("applied", data={"connection": details}), "json"))
    assert sorted(applied) == sorted([*FIELDS, "connection"]) and applied["connection"] == details
    assert "connection" not in json.loads(
        request_body(event("planned", data={"connection": details}), "json")
    )


def test_the_slack_body_is_one_text_line_with_the_change_linked() -> None:
    body = json.loads(request_body(event("applied"), "slack"))
    assert list(body) == ["text"]
    assert body["text"] == (
        ":white_check_mark: dev/orders applied — <https://github.com/acme/infra/pull/12|change #12>:"
        " change #12 on dbvend/dev/orders"
    )
    assert "\n" not in slack_text(event(detail="two\nlines"))


def test_slack_text_escapes_what_slack_reads_as_markup() -> None:
    text = slack_text(event("rejected", detail="<!channel> & <https://evil|click>", link="/v1/changes/3"))
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;" in text
    assert "— /v1/changes/3" in text  # a relative link is shown, not linked
    assert slack_escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_the_signature_is_the_hmac_of_the_body_and_verifies() -> None:
    body = request_body(event(), "json")
    headers = request_headers(event(), body, "s3cret")
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected == signature("s3cret", body)
    assert signature_matches("s3cret", body, headers[SIGNATURE_HEADER])
    assert not signature_matches("other", body, headers[SIGNATURE_HEADER])
    assert not signature_matches("s3cret", body + b" ", headers[SIGNATURE_HEADER])
    assert headers[EVENT_ID_HEADER] == "0f" * 16 and headers[EVENT_HEADER] == "change_open"
    assert SIGNATURE_HEADER not in request_headers(event(), body, None)


def test_the_retry_schedule_grows_then_gives_up_after_about_a_day() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4, 5, 6)] == [10, 30, 120, 600, 1800, 3600]
    assert retry_delay(len(BACKOFF)) == 3600 and retry_delay(len(BACKOFF) + 1) is None
    assert 23 * 3600 < sum(BACKOFF) < 25 * 3600


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com"),
        ("http://user:pw@10.0.0.5:8065/hooks/abc?token=1", "http://10.0.0.5:8065"),
    ],
)
def test_a_target_is_shown_by_scheme_and_host_only(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_targets_are_chosen_by_event_and_environment() -> None:
    everything = Notification("https://a.example/x", "json")
    prod_applied = Notification("https://b.example/x", "slack", frozenset({"applied"}), frozenset({"prod"}))
    assert everything.events == frozenset(NOTIFICATION_EVENTS)
    targets = (everything, prod_applied)
    assert targets_for(event("applied", environment="prod"), targets) == [everything, prod_applied]
    assert targets_for(event("applied"), targets) == [everything]
    assert targets_for(event("failed", environment="prod"), targets) == [everything]


def test_a_target_is_named_by_its_url_and_format() -> None:
    one = Notification("https://a.example/x", "json")
    assert one.target_id == Notification("https://a.example/x", "json", frozenset({"drift"})).target_id
    assert one.target_id != Notification("https://a.example/x", "slack").target_id
    assert len(one.target_id) == 32
