"""Queues between the front doors and the consumer: local (in the ledger database) or SNS/SQS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


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


class Settlement(Protocol):
    """How the consumer settles a delivery: the local queue, or one Lambda batch from SQS."""

    def ack(self, message: Message, connection: Connection | None = None) -> bool:
        """Done with it: it is never delivered again."""
        ...

    def retry(self, message: Message, error: str, delay: float, connection: Connection | None = None) -> bool:
        """Failed: deliver it again after `delay` seconds (or dead-letter it when out of receives)."""
        ...
