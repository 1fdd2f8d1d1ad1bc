"""A restore's rules: what dbvend knows of the source database, and what a restore of it may ask."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.errors import FieldError
from engine.restore_from import FINAL_SNAPSHOT, LATEST, RestoreFrom
from engine.spec import DatabaseRequest
from engine.versions import major_version


@dataclass(frozen=True)
class RestoreSource:
    """The database a restore copies, as dbvend knows it: from its claim on the default branch (live),
    or from the ledger's record of its destroyed request (what that request asked, and the final
    snapshot its destroy kept). None of a value: not known."""

    database: str  # "<environment>/<identifier>"
    engine: str
    engine_version: str | None
    database_name: str
    storage_gb: int | None
    backup_retention_days: int | None
    live: bool
    final_snapshot: str | None = None


def source_of_request(database: str, payload: Mapping[str, Any], final_snapshot: str | None) -> RestoreSource:
    """A destroyed source: the fields its request (the ledger's payload) asked for, the rest unknown."""

    def text(name: str) -> str | None:
        value = payload.get(name)
        return value if isinstance(value, str) else None

    storage = payload.get("storage_gb")
    return RestoreSource(
        database=database,
        engine=text("database_engine") or "",
        engine_version=text("engine_version"),
        database_name=text("database_name") or "",
        storage_gb=storage if isinstance(storage, int) and not isinstance(storage, bool) else None,
        backup_retention_days=None,
        live=False,
        final_snapshot=final_snapshot,
    )


def restore_time(restore: RestoreFrom) -> datetime | None:
    """The point in time asked for; None for a snapshot or "latest"."""
    if restore.point_in_time is None or restore.point_in_time == LATEST:
        return None
    return datetime.fromisoformat(restore.point_in_time)


def time_errors(restore: RestoreFrom, accepted_at: datetime) -> list[FieldError]:
    """A point in time must be in the past when the request is accepted (RDS restores up to its
    LatestRestorableTime, a few minutes ago at most)."""
    moment = restore_time(restore)
    if moment is not None and moment > accepted_at:
        shown = accepted_at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return [FieldError("restore_from.point_in_time", f"is in the future (the request came at {shown})")]
    return []


def restore_errors(
    request: DatabaseRequest, source: RestoreSource, accepted_at: datetime
) -> list[FieldError]:
    """Every rule a restore of `source` breaks: the same engine, major version and database name, a
    point in time within the source's backups, a final snapshot that exists; empty when it may go."""
    restore = request.restore_from
    assert restore is not None
    where = source.database
    errors = time_errors(restore, accepted_at)
    if restore.point_in_time is not None:
        errors += _point_in_time_errors(restore, source, accepted_at)
    if restore.snapshot == FINAL_SNAPSHOT and source.final_snapshot is None:
        errors.append(
            FieldError("restore_from.snapshot", f"final: dbvend's ledger holds no final snapshot of {where}")
        )
    if source.engine and request.database_engine != source.engine:
        errors.append(
            FieldError(
                "database_engine", f"must be {source.engine}, the engine of {where}: a restore keeps it"
            )
        )
    elif source.engine_version is not None and request.engine_version is not None:
        wanted = major_version(source.engine, source.engine_version)
        if major_version(request.database_engine, request.engine_version) != wanted:
            errors.append(
                FieldError(
                    "engine_version",
                    f"must be of major version {wanted}, as {where} is: a restore keeps the major version"
                    " (upgrade it after, with a modification)",
                )
            )
    if source.database_name and request.database_name != source.database_name:
        errors.append(
            FieldError(
                "database_name",
                f"must be {source.database_name}: the restored database keeps the name it has in {where}",
            )
        )
    if (
        source.storage_gb is not None
        and request.storage_gb is not None
        and request.storage_gb < source.storage_gb
    ):
        errors.append(
            FieldError(
                "storage_gb",
                f"must be at least {source.storage_gb}, the storage of {where}: RDS cannot shrink it",
            )
        )
    return errors


def _point_in_time_errors(
    restore: RestoreFrom, source: RestoreSource, accepted_at: datetime
) -> list[FieldError]:
    field = "restore_from.point_in_time"
    if not source.live:
        return [
            FieldError(
                field,
                f"needs a running source, and {source.database} was destroyed: restore its final snapshot"
                " instead (snapshot: final)",
            )
        ]
    days = source.backup_retention_days
    if days is None:
        return []
    if days == 0:
        return [FieldError(field, f"needs automated backups, and {source.database} keeps none")]
    moment = restore_time(restore)
    earliest = accepted_at - timedelta(days=days)
    if moment is not None and moment < earliest:
        return [
            FieldError(
                field,
                f"is older than the backups of {source.database} reach ({days} days of backups: from"
                f" {earliest.replace(microsecond=0).isoformat().replace('+00:00', 'Z')})",
            )
        ]
    return []
