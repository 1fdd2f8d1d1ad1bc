"""Queues between the front doors and the consumer: local (in the ledger database) or SNS/SQS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Message:
    """One delivery of a queued request; `receipt` proves this delivery when acknowledging it."""

    id: str
    request_id: str | None
    body: str
    receive_count: int
    receipt: str
    last_error: str | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data
