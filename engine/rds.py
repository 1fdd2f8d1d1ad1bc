"""What RDS and Aurora do by themselves, as dbvend renders for them: pure, but for the
instance memory table it reads from the package (kept with the prices, engine/data/prices.json).

Each rule names the AWS document or terraform-aws-modules file it comes from.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

GIB: Final = 1024**3


@cache
def price_table() -> dict[str, Any]:
    """engine/data/prices.json: AWS's list prices, and the instance classes' memory beside them."""
    text = resources.files("engine.data").joinpath("prices.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def instance_memory_gib() -> dict[str, float]:
    """Instance class -> memory in GiB (AWS's instance class pages, "Hardware specifications")."""
    memory: dict[str, float] = price_table()["instance_memory_gib"]
    return memory


# The parameters dbvend sets in every database's own parameter group, per engine, before the
# catalog's own (environments.<env>.parameters.<engine>). TLS is required and slow statements
# are logged; MySQL writes its logs to files, the only output RDS publishes to CloudWatch
# (RDS user guide, "Publishing MySQL logs to Amazon CloudWatch Logs": general_log,
# slow_query_log, log_output=FILE; Aurora MySQL turns on only the error log by default).
DEFAULT_PARAMETERS: Final[Mapping[str, Mapping[str, str]]] = {
    "postgres": {"rds.force_ssl": "1", "log_min_duration_statement": "1000", "log_statement": "ddl"},
    "aurora-postgresql": {
        "rds.force_ssl": "1",
        "log_min_duration_statement": "1000",
        "log_statement": "ddl",
    },
    "mysql": {
        "require_secure_transport": "1",
        "slow_query_log": "1",
        "long_query_time": "1",
        "log_output": "FILE",
    },
    "aurora-mysql": {
        "require_secure_transport": "ON",
        "slow_query_log": "1",
        "long_query_time": "1",
        "log_output": "FILE",
        # Advanced auditing of sign-ins and schema and permission changes, not every query
        # (Aurora user guide, AuroraMySQL.Auditing; checkov CKV_AWS_325 wants the audit log).
        "server_audit_logging": "1",
        "server_audit_events": "CONNECT,QUERY_DCL,QUERY_DDL",
    },
}

# Parameters RDS applies only after a reboot (static); the rest apply at once. The provider
# refuses apply_method "immediate" for a static parameter (InvalidParameterCombination).
STATIC_PARAMETERS: Final = frozenset({"rds.force_ssl"})
_ON: Final = frozenset({"1", "on", "true"})


def parameters(engine: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """dbvend's parameters for an engine with the catalog's on top, sorted by name."""
    merged = {**DEFAULT_PARAMETERS[engine], **overrides}
    return dict(sorted(merged.items()))


def apply_method(name: str) -> str:
    return "pending-reboot" if name in STATIC_PARAMETERS else "immediate"


def log_exports(engine: str, params: Mapping[str, str]) -> tuple[str, ...]:
    """The logs to publish to CloudWatch: only those the parameters turn on.

    PostgreSQL always writes its log (and RDS PostgreSQL its upgrade log); MySQL writes the
    general, slow and audit logs only when asked, and only to a file (log_output=FILE).
    """
    if engine == "postgres":
        return ("postgresql", "upgrade")
    if engine == "aurora-postgresql":
        return ("postgresql",)
    to_file = "FILE" in params.get("log_output", "").upper().split(",")
    on = {
        "general": to_file and params.get("general_log", "0").lower() in _ON,
        "slowquery": to_file and params.get("slow_query_log", "0").lower() in _ON,
        # Aurora MySQL's advanced auditing (Aurora user guide, AuroraMySQL.Auditing).
        "audit": engine == "aurora-mysql" and params.get("server_audit_logging", "0").lower() in _ON,
    }
    return tuple(sorted({"error", *(log for log, enabled in on.items() if enabled)}))


def log_group_name(is_aurora: bool, identifier: str, log: str) -> str:
    """The name RDS writes a published log to (terraform-aws-rds modules/db_instance/main.tf,
    terraform-aws-rds-aurora main.tf: /aws/rds/instance/<id>/<log>, /aws/rds/cluster/<id>/<log>)."""
    return f"/aws/rds/{'cluster' if is_aurora else 'instance'}/{identifier}/{log}"


# CloudWatch Logs' accepted retention periods (PutRetentionPolicy, retentionInDays).
LOG_RETENTION_DAYS: Final = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip


def max_connections(engine: str, memory_gib: float) -> int:
    """The engine's default max_connections for an instance of this much memory.

    PostgreSQL (RDS and Aurora): LEAST({DBInstanceClassMemory/9531392},5000); MySQL:
    {DBInstanceClassMemory/12582880} (RDS user guide, "Maximum number of database
    connections"); Aurora MySQL: GREATEST({log(DBInstanceClassMemory/805306368)*45},
    {log(DBInstanceClassMemory/8187281408)*1000}), log base 2 (Aurora user guide,
    AuroraMySQL.Managing.Performance). The class's nominal memory stands in for
    DBInstanceClassMemory, which is lower by what RDS keeps for itself.
    """
    memory = memory_gib * GIB
    if engine in ("postgres", "aurora-postgresql"):
        return int(min(memory / 9531392, 5000))
    if engine == "mysql":
        return int(memory / 12582880)
    if engine == "aurora-mysql":
        return int(max(math.log2(memory / 805306368) * 45, math.log2(memory / 8187281408) * 1000))
    raise ValueError(f"no max_connections formula for engine {engine!r}")


# An Aurora Serverless v2 instance's memory is about 2 GiB per ACU, and its max_connections
# follows the maximum capacity (Aurora user guide, aurora-serverless-v2.setting-capacity,
# "Maximum connections for Aurora Serverless v2"); with a minimum of 0 or 0.5 ACU,
# Aurora PostgreSQL caps it at 2,000.
GIB_PER_ACU: Final = 2.0


def serverless_max_connections(engine: str, min_acu: float, max_acu: float) -> int:
    limit = max_connections(engine, max_acu * GIB_PER_ACU)
    if engine == "aurora-postgresql" and min_acu <= 0.5:
        limit = min(limit, 2000)
    return limit


# Aurora Serverless v2 scales to 0 ACUs (automatic pause) from these versions on (Aurora user
# guide, aurora-serverless-v2-auto-pause, "Prerequisites and limitations"): Aurora PostgreSQL
# 13.15, 14.12, 15.7, 16.3 and every 17; Aurora MySQL 3.08.0. Seconds before pausing: 300 to
# 86,400 (RDS API, ServerlessV2ScalingConfiguration.SecondsUntilAutoPause).
_PAUSE_FROM_POSTGRESQL: Final = {13: 15, 14: 12, 15: 7, 16: 3}
_PAUSE_FROM_AURORA_MYSQL: Final = (3, 8)
AUTO_PAUSE_SECONDS: Final = (300, 86400)


def can_pause(engine: str, version: str) -> bool:
    """Whether the version, and every minor a prefix of it may become, scales to zero.

    "16" may be created as 16.1, which cannot pause, so only "17" and later can as prefixes;
    Aurora MySQL's "8.0" may be 3.04, while "8.0.mysql_aurora.3.08" is 3.08.0 or later.
    """
    numbers = [int(n) for n in re.findall(r"\d+", version)]
    if engine == "aurora-postgresql":
        major, minor = numbers[0], numbers[1] if len(numbers) > 1 else None
        if major >= 17 or major not in _PAUSE_FROM_POSTGRESQL:
            return major >= 17
        return minor is not None and minor >= _PAUSE_FROM_POSTGRESQL[major]
    if engine == "aurora-mysql":
        found = re.fullmatch(r"8\.0\.mysql_aurora\.(\d+)\.(\d+)(?:\.\d+)?", version)
        return found is not None and (int(found[1]), int(found[2])) >= _PAUSE_FROM_AURORA_MYSQL
    return False


# gp3 storage: 20 GiB to 64 TiB; storage autoscaling's maximum must be at least 10% above the
# allocated storage (RDS user guide, USER_PIOPS.Autoscaling: "the maximum storage threshold
# ... at least 10% more than the current allocated storage").
MAX_STORAGE_GB: Final = 65536


def max_allocated_storage(allocated_gb: int, factor: float) -> int | None:
    """The ceiling storage autoscaling may grow to; None when the factor turns it off."""
    if factor <= 1:
        return None
    ceiling = min(math.ceil(allocated_gb * factor), MAX_STORAGE_GB)
    return ceiling if ceiling >= math.ceil(allocated_gb * 1.1) else None


# Performance Insights is not available on these classes for RDS for MySQL and MariaDB (RDS
# user guide, USER_PerfInsights.Overview.Engines); every class supports it for PostgreSQL.
NO_PERFORMANCE_INSIGHTS: Final = {
    "mysql": frozenset(
        {"db.t2.micro", "db.t2.small", "db.t3.micro", "db.t3.small", "db.t4g.micro", "db.t4g.small"}
    ),
}
PERFORMANCE_INSIGHTS_FREE_DAYS: Final = 7


def performance_insights_available(engine: str, instance_class: str) -> bool:
    return instance_class not in NO_PERFORMANCE_INSIGHTS.get(engine, frozenset())


def final_snapshot_name(identifier: str, request_id: str) -> str:
    """`<identifier>-final-<request>`: one per request, so a name destroyed twice never collides."""
    request = "".join(ch for ch in request_id.lower() if ch.isalnum())[:8]
    return final_snapshot_prefix(identifier) + request


def final_snapshot_prefix(identifier: str) -> str:
    """What every final snapshot dbvend names for a database begins with."""
    return f"{identifier}-final-"
