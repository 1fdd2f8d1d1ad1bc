"""dbvend.yaml's environments, each checked into an engine.catalog.Environment: classes, limits, network."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from engine import rds
from engine.catalog import AuroraLimits, EngineOffer, Environment, Network, StorageLimits, TtlPolicy
from engine.catalog_checks import (
    AVAILABILITY_ZONE,
    BACKUP_WINDOW,
    DAYS,
    INSTANCE_CLASS,
    KMS_KEY,
    MAINTENANCE_WINDOW,
    NAME,
    PARAMETER,
    SECURITY_GROUP,
    SUBNET,
    WEEK_MINUTES,
    Section,
    acu,
    factor,
    int_between,
    list_of,
    matching,
    one_of_ints,
    time_to_live,
)
from engine.spec import (
    ENGINES,
    ENVIRONMENT_NAME,
    LEAST_MAX_ACU,
    MAX_ACU,
    MAX_READERS,
    SIZES,
    STORAGE_GB,
)

_KEYS: Final = (
    "instance_classes",
    "engines",
    "storage_gb",
    "ttl",
    "multi_az",
    "backup_retention_days",
    "deletion_protection",
    "final_snapshot",
    "aurora",
    "network",
    "tags",
    "production",
    "allowed_instance_classes",
    "destroy_protected",
    "parameters",
    "log_retention_days",
    "maintenance_window",
    "backup_window",
    "performance_insights",
    "master_secret_kms_key",
    "clone_from",
)
_LOG_RETENTION_RULE: Final = (
    "must be a CloudWatch Logs retention: " + ", ".join(str(d) for d in rds.LOG_RETENTION_DAYS) + " days"
)


def read_environments(top: Section, engines: Mapping[str, EngineOffer]) -> dict[str, Environment]:
    """The environments: section of the file (top), at least one."""
    envs = top.section("environments", None)
    if not envs.raw:
        raise top.error("environments", "must name at least one environment")
    found = {name: _environment(envs, name, engines) for name in envs.raw}
    for name, env in found.items():
        for i, source in enumerate(env.clone_from):
            if source not in found:
                raise envs.error((name, "clone_from", i), f"{source!r} is not an environment in this file")
    return found


def _environment(envs: Section, name: str, engines: Mapping[str, EngineOffer]) -> Environment:
    if not ENVIRONMENT_NAME.fullmatch(name):
        raise envs.error(name, "environment names are 1-20 lower-case letters, digits, hyphens")
    env = envs.section(name, _KEYS)
    classes = env.section("instance_classes", SIZES)
    for size, cls in classes.raw.items():
        if not isinstance(cls, str) or not INSTANCE_CLASS.fullmatch(cls):
            raise classes.error(size, "must be an instance class such as db.t3.micro")
    if not classes.raw:
        raise env.error("instance_classes", "must map at least one size to a class")
    allowed = env.get("engines", list_of(None), "must be a list of engines", list(engines))
    for i, engine in enumerate(allowed):
        if engine not in engines:
            raise env.error(("engines", i), f"{engine!r} is not offered under engines:")
    ttl = _ttl(env)
    protected = env.flag("destroy_protected", False)
    if protected and (ttl.default is not None or ttl.max is not None):
        raise env.error("ttl", "must be {default: none, max: none} where destroy_protected is true")
    production = env.flag("production", name == "prod")
    if production and ttl.auto_destroy:
        raise env.error(
            ("ttl", "auto_destroy"),
            "must be false in production: production databases are never destroyed without an approval",
        )
    return Environment(
        name=name,
        instance_classes=dict(classes.raw),
        engines=tuple(allowed),
        storage=_storage(env),
        ttl=ttl,
        multi_az=env.flag("multi_az", False),
        backup_retention_days=env.get(
            "backup_retention_days", int_between(0, 35), "must be a whole number of days, 0 to 35", 7
        ),
        deletion_protection=env.flag("deletion_protection", False),
        final_snapshot=env.flag("final_snapshot", True),
        aurora=_aurora(env, production),
        network=_network(env),
        tags=env.tags("tags"),
        production=production,
        destroy_protected=protected,
        allowed_instance_classes=tuple(
            env.get(
                "allowed_instance_classes",
                list_of(INSTANCE_CLASS),
                "must be a list of instance classes such as db.t3.micro",
                [],
            )
        ),
        parameters=_parameters(env),
        log_retention_days=env.get(
            "log_retention_days",
            one_of_ints(rds.LOG_RETENTION_DAYS),
            _LOG_RETENTION_RULE,
            365 if production else 30,
        ),
        **_windows(env),
        performance_insights=env.flag("performance_insights", production),
        master_secret_kms_key=env.get(
            "master_secret_kms_key",
            matching(KMS_KEY),
            "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
            None,
        ),
        clone_from=tuple(
            env.get("clone_from", list_of(ENVIRONMENT_NAME), "must be a list of environment names", [name])
        ),
    )


def _parameters(env: Section) -> dict[str, dict[str, str]]:
    spec = env.section("parameters", ENGINES)
    out: dict[str, dict[str, str]] = {}
    for engine in spec.raw:
        values = spec.section(engine, None)
        for name, value in values.raw.items():
            if not PARAMETER.fullmatch(name):
                raise values.error(name, "must be an RDS parameter name")
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise values.error(name, 'must be a value (quote it: "1")')
        out[engine] = {name: str(value) for name, value in values.raw.items()}
    return out


def _windows(env: Section) -> dict[str, str | None]:
    """maintenance_window and backup_window: AWS's formats, at least 30 minutes, apart."""
    maintenance = env.get(
        "maintenance_window",
        matching(MAINTENANCE_WINDOW),
        "must be a weekly window in UTC such as sun:05:00-sun:06:00",
        None,
    )
    backup = env.get(
        "backup_window", matching(BACKUP_WINDOW), "must be a daily window in UTC such as 03:00-04:00", None
    )
    # RDS API, CreateDBInstance: both at least 30 minutes, and the backup window "must not
    # overlap with the preferred maintenance window".
    minutes: dict[str, set[int]] = {}
    if maintenance is not None:
        start, end = (_week_minute(part) for part in maintenance.split("-"))
        minutes["maintenance_window"] = _circle(start, end, WEEK_MINUTES)
    if backup is not None:
        start, end = (_day_minute(part) for part in backup.split("-"))
        minutes["backup_window"] = {
            day * 1440 + minute for day in range(7) for minute in _circle(start, end, 1440)
        }
    for key, span in minutes.items():
        if len(span) < 30 * (7 if key == "backup_window" else 1):
            raise env.error(key, "must be at least 30 minutes long")
    if len(minutes) == 2 and minutes["maintenance_window"] & minutes["backup_window"]:
        raise env.error("backup_window", "must not overlap maintenance_window (AWS refuses it)")
    return {"maintenance_window": maintenance, "backup_window": backup}


def _storage(env: Section) -> StorageLimits:
    spec = env.section("storage_gb", ("default", "min", "max", "autoscale_factor"))
    least, most = STORAGE_GB
    gb = int_between(least, most)
    rule = f"must be a whole number of GB, {least} to {most}"
    low = spec.get("min", gb, rule, least)
    high = spec.get("max", gb, rule, max(low, 100))
    default = spec.get("default", gb, rule, low)
    if not low <= default <= high:
        raise spec.error("default", f"must lie between min ({low}) and max ({high})")
    autoscale = spec.get(
        "autoscale_factor",
        factor,
        "must be 1 (no storage autoscaling) or a multiple from 1.1 to 100 of the allocated storage",
        2.0,
    )
    return StorageLimits(default, low, high, autoscale)


def _ttl(env: Section) -> TtlPolicy:
    spec = env.section("ttl", ("default", "max", "max_extensions", "allow_none", "auto_destroy"))
    rule = "must be a TTL such as 12h or 7d, or none"
    high = spec.get("max", time_to_live, rule, None)
    default = spec.get("default", time_to_live, rule, high)
    if high is not None and (default is None or default > high):
        raise spec.error("default", "must not be longer than max")
    extensions = spec.get("max_extensions", int_between(0, 1000), "must be a whole number, 0 to 1000", None)
    allow_none = spec.flag("allow_none", True)
    if not allow_none and default is None:
        raise spec.error("default", "must be a TTL where allow_none is false")
    return TtlPolicy(default, high, extensions, allow_none, spec.flag("auto_destroy", False))


def _aurora(env: Section, production: bool) -> AuroraLimits:
    spec = env.section("aurora", ("min_acu", "max_acu", "max_readers", "seconds_until_auto_pause"))
    rule = f"must be a number of ACUs, 0 to {MAX_ACU:g} in steps of 0.5"
    low = spec.get("min_acu", acu, rule, 0.5)
    lowest, highest = rds.AUTO_PAUSE_SECONDS
    pause = spec.get(
        "seconds_until_auto_pause",
        int_between(lowest, highest),
        f"must be {lowest} to {highest} seconds",
        None,
    )
    if pause is not None and production:
        raise spec.error(
            "seconds_until_auto_pause",
            "must not be set in production: a paused database takes seconds to resume",
        )
    if low == 0 and pause is None:
        raise spec.error("min_acu", "may be 0 only with seconds_until_auto_pause (scale to zero)")
    high = spec.get("max_acu", acu, rule, max(low, 4.0))
    if high < LEAST_MAX_ACU:
        raise spec.error("max_acu", f"must be at least {LEAST_MAX_ACU:g}: AWS needs it above 0.5 ACU")
    if low > high:
        raise spec.error("min_acu", "must not exceed max_acu")
    readers = spec.get("max_readers", int_between(0, MAX_READERS), f"must be 0 to {MAX_READERS}", 1)
    return AuroraLimits(low, high, readers, pause)


def _network(env: Section) -> Network:
    spec = env.section("network", ("db_subnet_group", "security_group_ids", "subnet_ids"))
    subnets: list[str] = []
    azs: dict[str, str] = {}
    entries = spec.raw.get("subnet_ids") or []
    if not isinstance(entries, list):
        raise spec.error("subnet_ids", "must be a list of subnet-... ids or {id, az}")
    for i, entry in enumerate(entries):
        where = ("subnet_ids", i)
        if isinstance(entry, dict):
            item = spec.reader.section(entry, spec.at(*where), ("id", "az"))
            subnet = item.get("id", matching(SUBNET), "must be a subnet-... id")
            azs[subnet] = item.get(
                "az", matching(AVAILABILITY_ZONE), "must be an Availability Zone such as us-east-1a"
            )
        else:
            try:
                subnet = matching(SUBNET)(entry)
            except ValueError:
                raise spec.error(where, "must be a subnet-... id, or {id, az}") from None
        if subnet in subnets:
            raise spec.error(where, f"{subnet} is listed twice")
        subnets.append(subnet)
    return Network(
        db_subnet_group=spec.get("db_subnet_group", matching(NAME), "must be a DB subnet group name", None),
        security_group_ids=tuple(
            spec.get("security_group_ids", list_of(SECURITY_GROUP, True), "must be a list of sg-... ids", [])
        ),
        subnet_ids=tuple(subnets),
        subnet_azs=azs,
    )


def _week_minute(text: str) -> int:
    day, hour, minute = text.split(":")
    return DAYS.index(day) * 1440 + int(hour) * 60 + int(minute)


def _day_minute(text: str) -> int:
    hour, minute = text.split(":")
    return int(hour) * 60 + int(minute)


def _circle(start: int, end: int, size: int) -> set[int]:
    """The minutes from start to end on a clock of `size` minutes (a window may wrap around)."""
    return {minute % size for minute in range(start, end if end > start else end + size)}
