"""dbvend.yaml as typed values, and the limits they hold a request to (engine.catalog_reader reads it)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any, Final

from engine.access import AccessRules
from engine.errors import FieldError
from engine.rds import can_pause
from engine.spec import AURORA_ENGINES, format_ttl, parse_ttl

CATALOG_FILE: Final = "dbvend.yaml"


@dataclass(frozen=True)
class EngineOffer:
    name: str
    versions: tuple[str, ...]

    @property
    def default_version(self) -> str:
        return self.versions[0]


@dataclass(frozen=True)
class StorageLimits:
    default_gb: int
    min_gb: int
    max_gb: int
    # Storage autoscaling's ceiling as a multiple of the allocated storage (1: no autoscaling).
    autoscale_factor: float = 2.0


@dataclass(frozen=True)
class TtlPolicy:
    default: timedelta | None
    max: timedelta | None  # measured from the request's acceptance; extensions never pass it
    max_extensions: int | None = None  # None: as many as fit under max
    allow_none: bool = True  # whether a request may ask for no time-to-live (where max allows it)
    auto_destroy: bool = False  # the sweep destroys expired databases itself (no destroy change)


@dataclass(frozen=True)
class AuroraLimits:
    min_acu: float
    max_acu: float
    max_readers: int
    # Scale to zero: an idle cluster pauses after this many seconds (None: never; then a
    # minimum of 0 ACU is refused).
    seconds_until_auto_pause: int | None = None


@dataclass(frozen=True)
class Network:
    db_subnet_group: str | None = None
    security_group_ids: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    subnet_azs: Mapping[str, str] = field(default_factory=dict)  # subnet id -> Availability Zone

    def proxy_problems(self) -> list[str]:
        """What RDS Proxy lacks here: the database's VPC (its DB subnet group) and subnets in
        at least two Availability Zones (RDS user guide, rds-proxy-setup: "at least two subnets
        in different Availability Zones"; terraform-aws-rds-proxy examples)."""
        problems = []
        if self.db_subnet_group is None:
            problems.append("network.db_subnet_group (the proxy must be in the database's VPC)")
        if len(self.subnet_ids) < 2:
            problems.append("network.subnet_ids: at least two subnets")
        unnamed = [s for s in self.subnet_ids if s not in self.subnet_azs]
        if unnamed:
            problems.append(f"network.subnet_ids: the Availability Zone of {', '.join(unnamed)} ({{id, az}})")
        elif len(self.subnet_ids) >= 2 and len(set(self.subnet_azs.values())) < 2:
            problems.append("network.subnet_ids: subnets in two different Availability Zones")
        return problems


@dataclass(frozen=True)
class Environment:
    name: str
    instance_classes: Mapping[str, str]
    engines: tuple[str, ...]
    storage: StorageLimits
    ttl: TtlPolicy
    multi_az: bool
    backup_retention_days: int
    deletion_protection: bool
    final_snapshot: bool
    aurora: AuroraLimits
    network: Network
    tags: Mapping[str, str] = field(default_factory=dict)
    production: bool = False  # the policies' production rules apply (default: named prod)
    destroy_protected: bool = False  # no time-to-live at all: never expired, never swept
    # Instance classes the policy gate allows here (CKV_DBV_3); default: instance_classes' values.
    allowed_instance_classes: tuple[str, ...] = ()
    parameters: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # engine -> name -> value
    log_retention_days: int = 30
    maintenance_window: str | None = None  # ddd:hh:mm-ddd:hh:mm, UTC; None: AWS picks one
    backup_window: str | None = None  # hh:mm-hh:mm, UTC
    performance_insights: bool = False
    master_secret_kms_key: str | None = None  # KMS key ARN for the master secret; None: AWS's own
    # The environments whose databases a restore or a clone here may copy (issue 22); () : itself only.
    clone_from: tuple[str, ...] = ()

    @property
    def instance_class_allow_list(self) -> tuple[str, ...]:
        return self.allowed_instance_classes or tuple(sorted(set(self.instance_classes.values())))


@dataclass(frozen=True)
class StateBackend:
    bucket: str
    key_prefix: str
    region: str


@dataclass(frozen=True)
class Alarms:
    cpu_percent: int
    connections: int | None  # a fixed threshold; None: connections_percent of max_connections
    sns_topic_arn: str | None
    connections_percent: int = 70
    free_storage_percent: int = 10
    acu_percent: int = 90


@dataclass(frozen=True)
class PolicySkip:
    """A check not to enforce: always with a reason; optionally until a date, in some environments."""

    check_id: str
    reason: str
    expires: date | None = None  # the last day the skip applies
    environments: tuple[str, ...] | None = None  # None: every environment

    def applies(self, environment: str, today: date) -> bool:
        in_scope = self.environments is None or environment in self.environments
        return in_scope and (self.expires is None or today <= self.expires)


@dataclass(frozen=True)
class PolicyRules:
    """What a failed policy check means: a hard failure, a warning, or nothing (skipped)."""

    default: str = "fail"  # for a failed check named nowhere below: fail or warn
    fail: frozenset[str] = frozenset()
    warn: frozenset[str] = frozenset()
    skip: tuple[PolicySkip, ...] = ()

    def check_ids(self) -> set[str]:
        return set(self.fail) | set(self.warn) | {s.check_id for s in self.skip}


ISSUE_REQUESTERS: Final = ("anyone", "triage")


@dataclass(frozen=True)
class ApplyRules:
    """What /apply and /destroy need beyond write permission (from dbvend.yaml, or these defaults).

    required_checks None means every check present must pass (success, neutral or skipped);
    named checks must each be present and have concluded success. approvers and approver_teams,
    when given, narrow who may approve (either list qualifies) and imply an approval is required.
    """

    require_approval: bool = True
    required_checks: tuple[str, ...] | None = None
    require_mergeable: bool = True
    approvers: tuple[str, ...] | None = None
    approver_teams: tuple[str, ...] | None = None
    own_check_name: str = "dbvend/apply"
    allow_draft: bool = False


@dataclass(frozen=True)
class GitHubRules:
    """GitHub mode: the workflow `/plan`, `/apply` and `/destroy` dispatch, and who may apply."""

    workflow: str = "dbvend.yml"  # dispatched by /plan, /apply, /destroy
    plan_workflow: str = "dbvend-pr.yml"  # runs on dbvend's pull requests (`dbvend init` installs it)
    merge_workflow: str = "dbvend-main.yml"  # runs on a push to the default branch (apply on merge)
    apply: ApplyRules = field(default_factory=ApplyRules)
    issue_label: str = "database-request"  # an issue with this label is a request (the form sets it)
    issue_title_prefix: str | None = None  # or: an issue whose title starts with this
    # Who may turn an issue into a request: anyone who can open issues, or only an author with at
    # least triage permission (or the request label added by such a person).
    issue_requesters: str = "anyone"


# What dbvend tells a notification target about (README "Notifications"): a request's statuses,
# and the events that are no status (a modify change opened, a TTL reminder, drift found).
NOTIFICATION_EVENTS: Final = (
    "accepted",
    "rejected",
    "change_open",
    "planned",
    "applied",
    "failed",
    "modify_open",
    "expiring",
    "destroy_open",
    "destroyed",
    "drift",
)
NOTIFICATION_FORMATS: Final = ("slack", "json")


@dataclass(frozen=True)
class Notification:
    """A webhook dbvend posts events to: which events, of which environments (None: all)."""

    url: str
    format: str  # slack ({"text": ...}) or json (the event, signed when secret_env is set)
    events: frozenset[str] = frozenset(NOTIFICATION_EVENTS)
    environments: frozenset[str] | None = None
    secret_env: str | None = None  # the environment variable holding the HMAC secret

    @property
    def target_id(self) -> str:
        """The target's name in the ledger's deliveries: the same url and format, the same target."""
        return hashlib.sha256(f"{self.format} {self.url}".encode()).hexdigest()[:32]

    def wants(self, event: str, environment: str | None) -> bool:
        in_scope = self.environments is None or environment is None or environment in self.environments
        return event in self.events and in_scope


@dataclass(frozen=True)
class Catalog:
    region: str
    state: StateBackend
    engines: Mapping[str, EngineOffer]
    environments: Mapping[str, Environment]
    tags: Mapping[str, str]
    alarms: Alarms
    policy: PolicyRules = PolicyRules()
    github: GitHubRules = GitHubRules()
    notifications: tuple[Notification, ...] = ()
    access: AccessRules = field(default_factory=AccessRules)  # who may do what (engine.access.decide)

    def request_errors(self, parsed: Mapping[str, Any]) -> list[FieldError]:
        """The limits of this catalog a parsed request breaks (engine.spec.parse_request)."""
        return request_errors(parsed, self)

    def copy_refusal(self, source: str, target: str) -> str | None:
        """Why a database in `target` may not be a copy (restore, clone) of one in `source`; None
        when dbvend.yaml's environments.<target>.clone_from allows the pair. Production data goes
        elsewhere only where a clone_from names the production environment."""
        env = self.environments.get(target)
        if env is None:
            return f"{target} is not an environment in dbvend.yaml"
        allowed = env.clone_from or (target,)
        if source in allowed:
            return None
        where = f"dbvend.yaml: environments.{target}.clone_from"
        rule = f"{target} may copy only from {', '.join(allowed)} ({where})"
        if self.is_production(source) and not self.is_production(target):
            return f"production data stays in production: {rule}"
        return rule

    def is_production(self, environment: str) -> bool:
        """Whether an environment takes production's rules; one dbvend.yaml does not name does (the
        stricter answer)."""
        env = self.environments.get(environment)
        return env is None or env.production


@cache
def default_catalog_text() -> str:
    """The dbvend.yaml that `dbvend init` writes and that applies when a repo has none."""
    return resources.files("engine.data").joinpath(CATALOG_FILE).read_text(encoding="utf-8")


def request_errors(parsed: Mapping[str, Any], catalog: Catalog) -> list[FieldError]:
    """The organisation's limits (dbvend.yaml) that the parsed fields break.

    `parsed` maps field names to well-formed values, None where a field is unset
    or did not parse; rules about a missing value are skipped.
    """
    name = parsed.get("environment")
    if name is None:
        return []
    env = catalog.environments.get(name)
    if env is None:
        known = ", ".join(catalog.environments)
        return [FieldError("environment", f"must be one of the environments in dbvend.yaml: {known}")]
    errors: list[FieldError] = []
    fail: Callable[[str, str], None] = lambda f, r: errors.append(FieldError(f, r))  # noqa: E731
    engine_name = parsed.get("database_engine")
    version = parsed.get("engine_version")
    if engine_name is not None:
        engine = catalog.engines.get(engine_name)
        if engine is None or engine_name not in env.engines:
            fail("database_engine", f"is not offered in {env.name} by dbvend.yaml")
        elif version is not None and version not in engine.versions:
            fail("engine_version", f"must be one of {', '.join(engine.versions)} for {engine_name}")
    size = parsed.get("size")
    if size is not None and size not in env.instance_classes:
        fail("size", f"has no instance class in {env.name}")
    storage = parsed.get("storage_gb")
    if storage is not None and not env.storage.min_gb <= storage <= env.storage.max_gb:
        fail("storage_gb", f"must be between {env.storage.min_gb} and {env.storage.max_gb} in {env.name}")
    if parsed.get("ttl") is not None:
        ttl = parse_ttl(parsed["ttl"])
        if env.destroy_protected and ttl is not None:
            fail("ttl", f"must be none: {env.name} is destroy-protected (its databases have no time-to-live)")
        elif ttl is None and not env.ttl.allow_none:
            fail("ttl", f"must be a time-to-live in {env.name} (none is not allowed there)")
        elif env.ttl.max is not None and (ttl is None or ttl > env.ttl.max):
            fail("ttl", f"must be at most {format_ttl(env.ttl.max)} in {env.name}")
    if engine_name in AURORA_ENGINES:
        limits = env.aurora
        min_acu, max_acu = parsed.get("min_acu"), parsed.get("max_acu")
        for field, value in (("min_acu", min_acu), ("max_acu", max_acu)):
            if value is not None and value > limits.max_acu:
                fail(field, f"must be at most {limits.max_acu:g} ACU in {env.name}")
        if min_acu is None and max_acu is not None and max_acu < limits.min_acu:
            fail(
                "max_acu",
                f"must be at least {limits.min_acu:g} ACU, the default min_acu in {env.name}"
                " (or ask for a lower min_acu too)",
            )
        readers = parsed.get("readers")
        if readers is not None and readers > limits.max_readers:
            fail("readers", f"must be at most {limits.max_readers} in {env.name}")
        if parsed.get("proxy"):
            missing = env.network.proxy_problems()
            if missing:
                fail("proxy", f"needs, for {env.name} in dbvend.yaml: {'; '.join(missing)}")
        offer = catalog.engines.get(engine_name)
        floor = min_acu if min_acu is not None else limits.min_acu
        if floor == 0 and offer is not None:
            chosen = version or offer.default_version
            if limits.seconds_until_auto_pause is None:
                fail("min_acu", f"must be at least 0.5 in {env.name}: scaling to zero is not enabled there")
            elif not can_pause(engine_name, chosen):
                fail(
                    "min_acu",
                    f"must be at least 0.5 for {engine_name} {chosen}: it cannot pause at 0 ACU (Aurora"
                    " PostgreSQL 13.15, 14.12, 15.7, 16.3, 17 and Aurora MySQL 3.08 onwards can)",
                )
    return errors
