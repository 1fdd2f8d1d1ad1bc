"""A request's restore_from: another database's snapshot or point in time, and the forms each takes."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Final

# A snapshot dbvend may restore from (RDS, DBSnapshotIdentifier and DBClusterSnapshotIdentifier: 1-255
# letters, digits and hyphens, a letter first, no two hyphens together, none at the end), or "final":
# the final snapshot dbvend named when it destroyed that database (engine.pipeline looks it up).
SNAPSHOT_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,254}")
FINAL_SNAPSHOT: Final = "final"
LATEST: Final = "latest"
# A point in time to restore to: UTC, to the second, as RDS's RestoreTime takes it (RFC 3339, "Z").
POINT_IN_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
RESTORE_FIELDS: Final = ("database", "snapshot", "point_in_time")


@dataclass(frozen=True)
class RestoreFrom:
    """Where a new database's data comes from: another database's snapshot, or its point in time."""

    database: str  # "<environment>/<identifier>"
    snapshot: str | None = None  # a snapshot id, or "final"
    point_in_time: str | None = None  # "2026-12-01T10:00:00Z", or "latest"

    @property
    def environment(self) -> str:
        return self.database.split("/", 1)[0]

    @property
    def identifier(self) -> str:
        return self.database.split("/", 1)[1]

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def snapshot_errors(snapshot: str) -> list[str]:
    """The RDS snapshot-identifier rules this value breaks (empty when valid)."""
    if not (snapshot.isascii() and SNAPSHOT_ID.fullmatch(snapshot)):
        return ["must be 1-255 ASCII letters, digits and hyphens, starting with a letter"]
    if "--" in snapshot or snapshot.endswith("-"):
        return ["must not hold two consecutive hyphens nor end with one"]
    return []


def point_in_time_valid(text: str) -> bool:
    if not (text.isascii() and POINT_IN_TIME.fullmatch(text)):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_restore_option(text: str) -> dict[str, str]:
    """The CLI's --restore-from: "dev/orders:final" or "dev/orders:<snapshot>" (a snapshot),
    "dev/orders@2026-12-01T10:00:00Z" or "dev/orders@latest" (a point in time). engine.spec checks
    the parts and names what is wrong; text with neither separator is a database without a source."""
    database, at, moment = text.partition("@")
    if at:
        return {"database": database, "point_in_time": moment}
    database, colon, snapshot = text.partition(":")
    return {"database": database, "snapshot": snapshot} if colon else {"database": database}
