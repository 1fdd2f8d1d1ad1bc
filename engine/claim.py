"""The claim: a request resolved against the catalog; request.json, the source of truth."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from engine import rds
from engine.catalog import Catalog, Environment
from engine.errors import FieldError, InvalidRequest
from engine.restore import RestoreSource, restore_errors, time_errors
from engine.restore_from import FINAL_SNAPSHOT, LATEST, RestoreFrom
from engine.roots import Root
from engine.spec import DatabaseRequest, format_ttl, parse_request, parse_ttl
from engine.ttl import parse_time

CLAIM_SCHEMA: Final = 1
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


@dataclass(frozen=True)
class Claim:
    """Everything main.tf is rendered from; rendering needs nothing else."""

    request: DatabaseRequest
    request_id: str
    accepted_at: str  # ISO 8601, UTC, seconds
    expires_at: str | None
    ttl: str
    engine_family: str  # postgres | mysql
    engine_version: str
    instance_class: str
    storage_gb: int | None
    multi_az: bool
    backup_retention_days: int
    deletion_protection: bool
    final_snapshot: bool
    region: str
    min_acu: float | None
    max_acu: float | None
    readers: int
    proxy: bool
    db_subnet_group: str | None
    security_group_ids: tuple[str, ...]
    subnet_ids: tuple[str, ...]
    state_bucket: str
    state_key: str
    state_region: str
    alarm_cpu_percent: int
    alarm_connections: int
    alarm_topic_arn: str | None
    tags: Mapping[str, str] = field(default_factory=dict)
    extensions: int = 0  # how many times the time-to-live was extended
    destroy_requested_at: str | None = None  # set by a destroy change: plan -destroy, then removal
    destroy_reason: str | None = None
    # From here on, fields added with issue 19; a request.json written before has their defaults.
    parameters: Mapping[str, str] = field(default_factory=dict)  # the catalog's, over dbvend's own
    log_retention_days: int = 30
    max_allocated_storage: int | None = None  # storage autoscaling's ceiling (instances)
    maintenance_window: str | None = None
    backup_window: str | None = None
    performance_insights: bool = False
    seconds_until_auto_pause: int | None = None  # Aurora scaled to zero (min_acu 0)
    master_secret_kms_key: str | None = None
    alarm_free_storage_percent: int = 10
    alarm_acu_percent: int = 90
    # From here on, fields added with issue 21 (day-two changes); older request.json files have these.
    modifications: int = 0  # how many day-two changes (engine.modify) were proposed from main
    allow_major_version_upgrade: bool = False  # set by a modification that moves to a new major only
    # From here on, fields added with issue 22 (restores), in request.json only when the database was
    # restored: the source's AWS identifier (an instance's, or a cluster's: both are its dbvend
    # identifier), and a snapshot, or a point in time, or the source's latest restorable time.
    restore_source_identifier: str | None = None
    restore_snapshot: str | None = None
    restore_time: str | None = None
    restore_latest: bool = False

    @property
    def environment(self) -> str:
        return self.request.environment

    @property
    def identifier(self) -> str:
        return self.request.identifier

    @property
    def is_aurora(self) -> bool:
        return self.request.is_aurora

    @property
    def restored(self) -> bool:
        """Whether the database is created from another's snapshot or point in time."""
        return self.restore_source_identifier is not None

    @property
    def root(self) -> str:
        """The database's Terraform root inside the infrastructure repository."""
        return Root(self.environment, self.identifier).path

    def to_json(self) -> str:
        """request.json: same claim, same bytes."""
        body = asdict(self)
        body["request"] = self.request.as_dict()
        for name, unset in _RESTORE_DEFAULTS.items():
            if body[name] == unset:
                del body[name]
        body = {"schema": CLAIM_SCHEMA, **body}
        return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


_RESTORE_DEFAULTS: Final[Mapping[str, object]] = {
    "restore_source_identifier": None,
    "restore_snapshot": None,
    "restore_time": None,
    "restore_latest": False,
}


def extended(claim: Claim, expires_at: datetime) -> Claim:
    """The claim with its expiry moved to `expires_at` (the tag too), one more extension counted."""
    moment = format_time(expires_at)
    tags = {**claim.tags, "expires-at": moment}
    return replace(claim, expires_at=moment, extensions=claim.extensions + 1, tags=dict(sorted(tags.items())))


# What a changed request field moves in the claim: the claim's own fields resolve_claim derives from it.
_DERIVED: Final[Mapping[str, tuple[str, ...]]] = {
    "size": ("instance_class", "alarm_connections", "performance_insights"),
    "storage_gb": ("storage_gb", "max_allocated_storage"),
    "engine_version": ("engine_version",),
    "readers": ("readers",),
    "proxy": ("proxy",),
    "min_acu": ("min_acu", "max_acu", "alarm_connections", "seconds_until_auto_pause"),
    "max_acu": ("min_acu", "max_acu", "alarm_connections", "seconds_until_auto_pause"),
    "owner": (),
    "team": (),
}


def modified(claim: Claim, request: DatabaseRequest, catalog: Catalog, major_upgrade: bool) -> Claim:
    """The claim of a day-two change: `request` (validated against `catalog`) replaces the claim's,
    and only what its changed fields derive moves (resolve_claim's rules); the request id, acceptance,
    expiry, extensions and everything else the catalog gave at acceptance stay. One more modification
    is counted; `major_upgrade` sets allow_major_version_upgrade for this change alone."""
    fresh = resolve_claim(request, catalog, claim.request_id, parse_time(claim.accepted_at))
    before = claim.request.as_dict()
    changed = [name for name in _DERIVED if request.as_dict().get(name) != before.get(name)]
    moved: dict[str, Any] = {name: getattr(fresh, name) for field in changed for name in _DERIVED[field]}
    tags = dict(claim.tags)
    for tag in ("owner", "team"):  # the tags a request sets; the catalog's and the expiry stay
        tags.pop(tag, None)
        if tag in fresh.tags:
            tags[tag] = fresh.tags[tag]
    return replace(
        claim,
        request=request,
        tags=dict(sorted(tags.items())),
        modifications=claim.modifications + 1,
        allow_major_version_upgrade=major_upgrade,
        **moved,
    )


def marked_for_destroy(claim: Claim, at: datetime, reason: str) -> Claim:
    """The claim of a destroy change: CI plans -destroy for it, and removes the root once destroyed."""
    return replace(claim, destroy_requested_at=format_time(at), destroy_reason=reason)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def resolve_claim(
    request: DatabaseRequest,
    catalog: Catalog,
    request_id: str,
    accepted_at: datetime,
    source: RestoreSource | None = None,
) -> Claim:
    """Fill every default from the catalog; the request was validated against it already.

    A restore (request.restore_from) is held to engine.restore's rules against `source` when the
    caller knows it (the edges look it up: engine.pipeline.find_restore_source), and takes the
    source's engine version and storage by default; "final" must have been resolved to a snapshot.
    """
    if not _REQUEST_ID.fullmatch(request_id):
        raise InvalidRequest([FieldError("request_id", "must be 1-64 letters, digits, hyphens")])
    restore = request.restore_from
    if restore is not None:
        _check_restore(request, restore, source, accepted_at)
    env = catalog.environments[request.environment]
    offer = catalog.engines[request.database_engine]
    ttl = parse_ttl(request.ttl) if request.ttl is not None else env.ttl.default
    expires = format_time(accepted_at + ttl) if ttl is not None else None
    aurora = request.is_aurora
    min_acu = request.min_acu if request.min_acu is not None else env.aurora.min_acu
    max_acu = request.max_acu if request.max_acu is not None else max(env.aurora.max_acu, min_acu)
    default_readers = min(1, env.aurora.max_readers) if env.multi_az else 0
    tags = {**catalog.tags, **env.tags}
    if request.team:
        tags["team"] = request.team
    tags.update(
        {
            "owner": request.owner or "unassigned",
            "environment": request.environment,
            "request-id": request_id,
            "managed-by": "dbvend",
        }
    )
    if expires is not None:
        tags["expires-at"] = expires
    prefix = catalog.state.key_prefix
    engine = request.database_engine
    instance_class = "db.serverless" if aurora else env.instance_classes[request.size]
    known = source if restore is not None else None
    source_storage = known.storage_gb if known is not None else None
    storage_gb = None if aurora else request.storage_gb or source_storage or env.storage.default_gb
    version = request.engine_version or (known.engine_version if known is not None else None)
    return Claim(
        request=request,
        request_id=request_id,
        accepted_at=format_time(accepted_at),
        expires_at=expires,
        ttl=format_ttl(ttl),
        engine_family="mysql" if request.database_engine.endswith("mysql") else "postgres",
        engine_version=version or offer.default_version,
        instance_class=instance_class,
        storage_gb=storage_gb,
        multi_az=False if aurora else env.multi_az,
        backup_retention_days=env.backup_retention_days,
        deletion_protection=env.deletion_protection,
        final_snapshot=env.final_snapshot,
        region=catalog.region,
        min_acu=min_acu if aurora else None,
        max_acu=max_acu if aurora else None,
        readers=(request.readers if request.readers is not None else default_readers) if aurora else 0,
        proxy=bool(request.proxy) if aurora else False,
        db_subnet_group=env.network.db_subnet_group,
        security_group_ids=env.network.security_group_ids,
        subnet_ids=env.network.subnet_ids,
        state_bucket=catalog.state.bucket,
        state_key=f"{prefix}/{request.environment}/{request.identifier}/terraform.tfstate",
        state_region=catalog.state.region,
        alarm_cpu_percent=catalog.alarms.cpu_percent,
        alarm_connections=_connections_threshold(catalog, request, instance_class, min_acu, max_acu),
        alarm_topic_arn=catalog.alarms.sns_topic_arn,
        tags=dict(sorted(tags.items())),
        parameters=dict(sorted(env.parameters.get(engine, {}).items())),
        log_retention_days=env.log_retention_days,
        max_allocated_storage=(
            rds.max_allocated_storage(storage_gb, env.storage.autoscale_factor) if storage_gb else None
        ),
        maintenance_window=env.maintenance_window,
        backup_window=env.backup_window,
        performance_insights=_performance_insights(env, engine, instance_class),
        seconds_until_auto_pause=env.aurora.seconds_until_auto_pause if aurora and min_acu == 0 else None,
        master_secret_kms_key=env.master_secret_kms_key,
        alarm_free_storage_percent=catalog.alarms.free_storage_percent,
        alarm_acu_percent=catalog.alarms.acu_percent,
        restore_source_identifier=restore.identifier if restore is not None else None,
        restore_snapshot=restore.snapshot if restore is not None else None,
        restore_time=restore.point_in_time
        if restore is not None and restore.point_in_time != LATEST
        else None,
        restore_latest=restore is not None and restore.point_in_time == LATEST,
    )


def _check_restore(
    request: DatabaseRequest, restore: RestoreFrom, source: RestoreSource | None, accepted_at: datetime
) -> None:
    errors = restore_errors(request, source, accepted_at) if source else time_errors(restore, accepted_at)
    if errors:
        raise InvalidRequest(errors)
    if restore.snapshot == FINAL_SNAPSHOT:
        raise InvalidRequest(
            [
                FieldError(
                    "restore_from.snapshot",
                    f"final names the snapshot dbvend kept when it destroyed {restore.database}: it is"
                    " looked up in dbvend's ledger, and there is none here",
                )
            ]
        )


def _connections_threshold(
    catalog: Catalog, request: DatabaseRequest, instance_class: str, min_acu: float, max_acu: float
) -> int:
    """The connections alarm's threshold: fixed in the catalog, or a share of max_connections."""
    if catalog.alarms.connections is not None:
        return catalog.alarms.connections
    engine = request.database_engine
    if request.is_aurora:
        limit = rds.serverless_max_connections(engine, min_acu, max_acu)
    else:
        limit = rds.max_connections(engine, rds.instance_memory_gib()[instance_class])
    return max(1, limit * catalog.alarms.connections_percent // 100)


def _performance_insights(env: Environment, engine: str, instance_class: str) -> bool:
    # Aurora Serverless v2 supports Performance Insights at every capacity.
    return env.performance_insights and rds.performance_insights_available(engine, instance_class)


def parse_claim(text: str) -> Claim:
    """request.json back into a Claim; the request inside is validated again."""
    try:
        body: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest([FieldError("request.json", f"not valid JSON: {exc}")]) from None
    if not isinstance(body, dict) or body.pop("schema", None) != CLAIM_SCHEMA:
        raise InvalidRequest([FieldError("request.json", f"must be a claim of schema {CLAIM_SCHEMA}")])
    request = parse_request(body.pop("request", None) or {})
    try:
        for key in ("security_group_ids", "subnet_ids"):
            body[key] = tuple(body[key])
        return Claim(request=request, **body)
    except (TypeError, KeyError) as exc:
        raise InvalidRequest([FieldError("request.json", f"malformed claim: {exc}")]) from None


def claim_from_raw(
    raw: Mapping[str, object],
    catalog: Catalog,
    request_id: str,
    accepted_at: datetime,
    source: RestoreSource | None = None,
) -> Claim:
    """The whole front half: raw fields -> validated request -> claim."""
    return resolve_claim(parse_request(raw, catalog), catalog, request_id, accepted_at, source)
