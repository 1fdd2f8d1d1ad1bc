"""engine/queue/stuck.py's decision on a request whose queue message never reached the consumer: wait,
re-send once, or fail it, and the history line that says so (tests/integration/test_stuck_requests.py
runs the pass on SQS, the local queue and the ledger)."""

from __future__ import annotations

import pytest

from engine.queue.stuck import StuckMessage, decide_stuck, stuck_interval

SENT = 1_795_428_000.0  # 2026-11-23T10:00:00Z


def sent(resent_at: float | None = None, state: str = "sent", error: str | None = None) -> StuckMessage:
    return StuckMessage("m-1", "req-1", "{}", state, SENT, resent_at, error)


@pytest.mark.parametrize(
    ("message", "now", "action"),
    [
        (sent(), SENT + 899.9, "wait"),
        (sent(), SENT + 900, "resend"),
        (sent(), SENT + 86_400, "resend"),  # however late: re-sent first, failed only after
        (sent(), SENT - 60, "wait"),  # this clock is behind the sender's
        (sent(resent_at=SENT + 950), SENT + 1849, "wait"),
        (sent(resent_at=SENT + 950), SENT + 1850, "fail"),
        (sent(state="ready"), SENT + 900, "resend"),
        (sent(state="dead"), SENT + 10, "wait"),
        (sent(state="dead", resent_at=SENT + 900), SENT + 1800, "fail"),
    ],
)
def test_the_decision(message: StuckMessage, now: float, action: str) -> None:
    assert decide_stuck(message, now, 900).action == action


def test_the_history_lines_say_what_happened() -> None:
    assert decide_stuck(sent(), SENT + 901, 900).detail == (
        "its queue message was sent at 2026-11-23T10:00:00Z and had not reached the consumer"
        " after 900 s; re-sent at 2026-11-23T10:15:01Z"
    )
    assert decide_stuck(sent(resent_at=SENT + 901), SENT + 1801, 900).detail == (
        "its queue message was sent at 2026-11-23T10:00:00Z and never reached the consumer;"
        " re-sent at 2026-11-23T10:15:01Z; still not processed after 900 s"
    )
    assert decide_stuck(sent(state="ready"), SENT + 120, 120).detail == (
        "its queue message was queued at 2026-11-23T10:00:00Z and no worker had taken it after"
        " 120 s; queued again at 2026-11-23T10:02:00Z"
    )
    dead = decide_stuck(sent(state="dead", error="boom"), SENT + 900, 900).detail
    assert dead.startswith("its queue message, queued at 2026-11-23T10:00:00Z, was dead-lettered (boom)")
    failed = decide_stuck(sent(SENT + 900, "ready", "boom"), SENT + 1800, 900).detail
    assert failed == (
        "its queue message was queued at 2026-11-23T10:00:00Z and never taken by a worker; queued"
        " again at 2026-11-23T10:15:00Z; still not processed after 900 s (last error: boom)"
    )


def test_serve_runs_the_pass_often_enough() -> None:
    assert stuck_interval(900) == 60 and stuck_interval(120) == 30 and stuck_interval(1) == 0.25
