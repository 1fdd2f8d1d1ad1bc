"""dbvend.yaml: environments, instance classes, limits and defaults, parsed raw then typed."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml

from engine import rds
from engine.errors import CatalogError, FieldError
from engine.rds import can_pause
from engine.spec import AURORA_ENGINES, ENGINES, LEAST_MAX_ACU, SIZES, format_ttl, parse_ttl

CATALOG_FILE: Final = "dbvend.yaml"
_CLASS = re.compile(r"db\.[a-z0-9]+\.[a-z0-9]+")
_TAG_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/=+@-]{0,127}")
_TAG_VALUE = re.compile(r"[A-Za-z0-9 _.:/=+@-]{0,256}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_SG = re.compile(r"sg-[0-9a-f]{8,17}")
_SUBNET = re.compile(r"subnet-[0-9a-f]{8,17}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]")
_ENV = re.compile(r"[a-z][a-z0-9-]{0,19}")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,39}")
_BOOL = "must be true or false"
_CHECK_ID = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+")
_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:[A-Za-z0-9_./:-]+")
_KMS_KEY = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,64}")
_AZ = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9][a-z]")
_PARAMETER = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,127}")
_DAY_TIME = r"(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):([0-5][0-9])"
_MAINTENANCE_WINDOW = re.compile(f"{_DAY_TIME}-{_DAY_TIME}")
_TIME = r"([01][0-9]|2[0-3]):([0-5][0-9])"
_BACKUP_WINDOW = re.compile(f"{_TIME}-{_TIME}")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = 7 * 24 * 60


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

    def request_errors(self, parsed: Mapping[str, Any]) -> list[FieldError]:
        """The limits of this catalog a parsed request breaks (engine.spec.parse_request)."""
        return request_errors(parsed, self)


@cache
def default_catalog_text() -> str:
    """The dbvend.yaml that `dbvend init` writes and that applies when a repo has none."""
    return resources.files("engine.data").joinpath(CATALOG_FILE).read_text(encoding="utf-8")


def load_catalog(path: Path) -> Catalog:
    """Read dbvend.yaml from a file; a missing file means the defaults."""
    if not path.exists():
        return parse_catalog(default_catalog_text(), "dbvend.yaml (built-in defaults)")
    return parse_catalog(path.read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=16)
def parse_catalog(text: str, source: str = CATALOG_FILE) -> Catalog:
    """Parse dbvend.yaml raw, then validate it into typed values (memoised: Catalog is frozen)."""
    raw, lines = _load_yaml_with_lines(text, source)
    if isinstance(raw, dict):
        # A top-level section left out of the file keeps dbvend's default for it.
        defaults, _ = _load_yaml_with_lines(default_catalog_text(), "built-in dbvend.yaml")
        raw = {**{k: v for k, v in defaults.items() if k not in raw}, **raw}
    return _Validator(lines, source).catalog(raw)


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


# -- raw: YAML values plus the line of every key -------------------------------------------

Path_ = tuple[str | int, ...]


def _load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[Path_, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError("", f"not valid YAML: {problem}", line, source) from None
    lines: dict[Path_, int] = {}
    if node is None:
        return {}, lines
    constructor = yaml.constructor.SafeConstructor()

    def build(node: yaml.Node, path: Path_) -> Any:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node)
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    raise CatalogError(
                        _dotted((*path, key)), "is given twice", key_node.start_mark.line + 1, source
                    )
                out[key] = build(value_node, (*path, key))
                lines[(*path, key)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(node.value)]
        return constructor.construct_object(node)

    return build(node, ()), lines


def _dotted(path: Path_) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


# -- typed: every value checked, every error naming its key and line ----------------------

T = TypeVar("T")


class _Validator:
    def __init__(self, lines: dict[Path_, int], source: str) -> None:
        self.lines, self.source = lines, source

    def error(self, path: Path_, rule: str) -> CatalogError:
        line = None
        for i in range(len(path), -1, -1):
            if path[:i] in self.lines:
                line = self.lines[path[:i]]
                break
        return CatalogError(_dotted(path), rule, line, self.source)

    def mapping(self, value: Any, path: Path_, allowed: tuple[str, ...] | None) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self.error(path, "must be a mapping of keys to values")
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    raise self.error((*path, key), f"is not a known key (known: {', '.join(allowed)})")
        return value

    def get(
        self,
        raw: dict[str, Any],
        path: Path_,
        key: str,
        kind: Callable[[Any], T],
        rule: str,
        default: Any = ...,
    ) -> T:
        if key not in raw or (raw[key] is None and default is not ...):
            if default is ...:
                raise self.error((*path, key), "is required")
            return default  # type: ignore[no-any-return]
        try:
            return kind(raw[key])
        except (TypeError, ValueError):
            raise self.error((*path, key), rule) from None

    def catalog(self, raw: Any) -> Catalog:
        top = self.mapping(
            raw,
            (),
            ("version", "region", "state", "engines", "tags", "alarms", "environments", "policy", "github"),
        )
        version = top.get("version", 1)
        if version != 1:
            raise self.error(("version",), "must be 1 (the only format this dbvend reads)")
        region = self.get(
            top, (), "region", _matching(_REGION), "must be an AWS region such as us-east-1", "us-east-1"
        )
        engines = self.engines(top.get("engines"))
        environments = self.environments(top.get("environments"), engines)
        alarms = self.alarms(top.get("alarms"))
        if alarms.connections is None:
            self.classes_with_memory(environments)
        return Catalog(
            region=region,
            state=self.state(top.get("state"), region),
            engines=engines,
            environments=environments,
            tags=self.tags(top.get("tags"), ("tags",)),
            alarms=alarms,
            policy=self.policy(top.get("policy")),
            github=self.github(top.get("github")),
        )

    def github(self, raw: Any) -> GitHubRules:
        path: Path_ = ("github",)
        spec = self.mapping(
            raw, path, ("workflow", "apply", "issue_label", "issue_title_prefix", "issue_requesters")
        )
        workflow = self.get(
            spec,
            path,
            "workflow",
            _matching(re.compile(r"[A-Za-z0-9._-]{1,100}\.ya?ml")),
            "must be a workflow file name in .github/workflows, such as dbvend.yml",
            "dbvend.yml",
        )
        apply_path: Path_ = (*path, "apply")
        rules = self.mapping(
            spec.get("apply"),
            apply_path,
            (
                "require_approval",
                "required_checks",
                "require_mergeable",
                "approvers",
                "approver_teams",
                "allow_draft",
            ),
        )
        names = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/()-]{0,99}")
        logins = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
        checks = self.get(
            rules, apply_path, "required_checks", _list_of(names, True), "must be check names", None
        )
        approvers = self.get(
            rules, apply_path, "approvers", _list_of(logins, True), "must be GitHub logins", []
        )
        teams = self.get(
            rules, apply_path, "approver_teams", _list_of(logins, True), "must be team slugs", []
        )
        label = self.get(
            spec,
            path,
            "issue_label",
            _matching(re.compile(r"[^,\s][^,]{0,49}")),
            "must be a label name (1-50 characters, no comma)",
            "database-request",
        )
        prefix = self.get(
            spec, path, "issue_title_prefix", _text_of(1, 100), "must be 1-100 characters", None
        )
        requesters = self.get(
            spec,
            path,
            "issue_requesters",
            _one_of(ISSUE_REQUESTERS),
            "must be anyone or triage",
            "anyone",
        )
        return GitHubRules(
            issue_label=label,
            issue_title_prefix=prefix,
            issue_requesters=requesters,
            workflow=workflow,
            apply=ApplyRules(
                require_approval=self.get(rules, apply_path, "require_approval", _boolean, _BOOL, True),
                required_checks=None if checks is None else tuple(checks),
                require_mergeable=self.get(rules, apply_path, "require_mergeable", _boolean, _BOOL, True),
                approvers=tuple(approvers) or None,
                approver_teams=tuple(teams) or None,
                allow_draft=self.get(rules, apply_path, "allow_draft", _boolean, _BOOL, False),
            ),
        )

    def policy(self, raw: Any) -> PolicyRules:
        path: Path_ = ("policy",)
        spec = self.mapping(raw, path, ("default", "fail", "warn", "skip"))
        default = self.get(spec, path, "default", _one_of(("fail", "warn")), "must be fail or warn", "fail")
        rule = "must be a list of check ids such as CKV_AWS_16"
        fail = self.get(spec, path, "fail", _list_of(_CHECK_ID, True), rule, [])
        warn = self.get(spec, path, "warn", _list_of(_CHECK_ID, True), rule, [])
        skips = self.get(spec, path, "skip", _list_of_mappings, "must be a list of {id, reason}", [])
        seen: dict[str, Path_] = {}
        for key, ids in (("fail", fail), ("warn", warn)):
            for i, check_id in enumerate(ids):
                if check_id in seen:
                    raise self.error((*path, key, i), f"{check_id} is listed twice in policy")
                seen[check_id] = (*path, key, i)
        parsed = []
        for i, item in enumerate(skips):
            skip = self.skip(item, (*path, "skip", i))
            if skip.check_id in seen:
                raise self.error((*path, "skip", i, "id"), f"{skip.check_id} is listed twice in policy")
            seen[skip.check_id] = (*path, "skip", i)
            parsed.append(skip)
        return PolicyRules(default, frozenset(fail), frozenset(warn), tuple(parsed))

    def skip(self, raw: Any, path: Path_) -> PolicySkip:
        spec = self.mapping(raw, path, ("id", "reason", "expires", "environments"))
        check_id = self.get(spec, path, "id", _matching(_CHECK_ID), "must be a check id such as CKV_AWS_16")
        reason = self.get(spec, path, "reason", _text, "must say why the check is skipped (a sentence)")
        expires = self.get(spec, path, "expires", _date, "must be a date such as 2027-06-30", None)
        # Environment names are not checked against environments: (the built-in skips name dev
        # and staging); a name that matches none only makes the check apply, the safe side.
        envs = self.get(spec, path, "environments", _list_of(_ENV), "must be a list of environments", None)
        return PolicySkip(check_id, reason, expires, None if envs is None else tuple(envs))

    def state(self, raw: Any, region: str) -> StateBackend:
        path: Path_ = ("state",)
        state = self.mapping(raw, path, ("bucket", "key_prefix", "region"))
        bucket = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
        return StateBackend(
            bucket=self.get(state, path, "bucket", _matching(bucket), "must be an S3 bucket name"),
            key_prefix=self.get(
                state,
                path,
                "key_prefix",
                _matching(re.compile(r"[A-Za-z0-9._/-]{1,200}")),
                "must be an S3 key prefix: letters, digits, . _ / -",
                "dbvend",
            ).strip("/"),
            region=self.get(state, path, "region", _matching(_REGION), "must be an AWS region", region),
        )

    def engines(self, raw: Any) -> dict[str, EngineOffer]:
        engines = self.mapping(raw, ("engines",), ENGINES)
        if not engines:
            raise self.error(("engines",), f"must offer at least one of {', '.join(ENGINES)}")
        offers = {}
        for name, value in engines.items():
            path: Path_ = ("engines", name)
            spec = self.mapping(value, path, ("versions",))
            versions = self.get(
                spec,
                path,
                "versions",
                _list_of(_VERSION),
                'must be a non-empty list of versions such as "16.4" (quote them)',
            )
            offers[name] = EngineOffer(name, tuple(versions))
        return offers

    def environments(self, raw: Any, engines: Mapping[str, EngineOffer]) -> dict[str, Environment]:
        envs = self.mapping(raw, ("environments",), None)
        if not envs:
            raise self.error(("environments",), "must name at least one environment")
        return {name: self.environment(name, value, engines) for name, value in envs.items()}

    def environment(self, name: str, raw: Any, engines: Mapping[str, EngineOffer]) -> Environment:
        path: Path_ = ("environments", name)
        if not _ENV.fullmatch(name):
            raise self.error(path, "environment names are 1-20 lower-case letters, digits, hyphens")
        env = self.mapping(
            raw,
            path,
            (
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
            ),
        )
        classes = self.mapping(env.get("instance_classes"), (*path, "instance_classes"), SIZES)
        for size, cls in classes.items():
            if not isinstance(cls, str) or not _CLASS.fullmatch(cls):
                raise self.error(
                    (*path, "instance_classes", size), "must be an instance class such as db.t3.micro"
                )
        if not classes:
            raise self.error((*path, "instance_classes"), "must map at least one size to a class")
        allowed = self.get(env, path, "engines", _list_of(None), "must be a list of engines", list(engines))
        for i, engine in enumerate(allowed):
            if engine not in engines:
                raise self.error((*path, "engines", i), f"{engine!r} is not offered under engines:")
        ttl = self.ttl(env.get("ttl"), (*path, "ttl"))
        protected = self.get(env, path, "destroy_protected", _boolean, _BOOL, False)
        if protected and (ttl.default is not None or ttl.max is not None):
            raise self.error(
                (*path, "ttl"), "must be {default: none, max: none} where destroy_protected is true"
            )
        production = self.get(env, path, "production", _boolean, _BOOL, name == "prod")
        if production and ttl.auto_destroy:
            raise self.error(
                (*path, "ttl", "auto_destroy"),
                "must be false in production: production databases are never destroyed without an approval",
            )
        return Environment(
            name=name,
            instance_classes=dict(classes),
            engines=tuple(allowed),
            storage=self.storage(env.get("storage_gb"), (*path, "storage_gb")),
            ttl=ttl,
            multi_az=self.get(env, path, "multi_az", _boolean, _BOOL, False),
            backup_retention_days=self.get(
                env,
                path,
                "backup_retention_days",
                _int_between(0, 35),
                "must be a whole number of days, 0 to 35",
                7,
            ),
            deletion_protection=self.get(env, path, "deletion_protection", _boolean, _BOOL, False),
            final_snapshot=self.get(env, path, "final_snapshot", _boolean, _BOOL, True),
            aurora=self.aurora(env.get("aurora"), (*path, "aurora"), production),
            network=self.network(env.get("network"), (*path, "network")),
            tags=self.tags(env.get("tags"), (*path, "tags")),
            production=production,
            destroy_protected=protected,
            allowed_instance_classes=tuple(
                self.get(
                    env,
                    path,
                    "allowed_instance_classes",
                    _list_of(_CLASS),
                    "must be a list of instance classes such as db.t3.micro",
                    [],
                )
            ),
            parameters=self.parameters(env.get("parameters"), (*path, "parameters"), allowed),
            log_retention_days=self.get(
                env,
                path,
                "log_retention_days",
                _one_of_ints(rds.LOG_RETENTION_DAYS),
                "must be a CloudWatch Logs retention: "
                + ", ".join(str(d) for d in rds.LOG_RETENTION_DAYS)
                + " days",
                365 if production else 30,
            ),
            **self.windows(env, path),
            performance_insights=self.get(env, path, "performance_insights", _boolean, _BOOL, production),
            master_secret_kms_key=self.get(
                env,
                path,
                "master_secret_kms_key",
                _matching(_KMS_KEY),
                "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
                None,
            ),
        )

    def parameters(self, raw: Any, path: Path_, engines: list[str]) -> dict[str, dict[str, str]]:
        spec = self.mapping(raw, path, ENGINES)
        out: dict[str, dict[str, str]] = {}
        for engine, params in spec.items():
            values = self.mapping(params, (*path, engine), None)
            for name, value in values.items():
                if not _PARAMETER.fullmatch(name):
                    raise self.error((*path, engine, name), "must be an RDS parameter name")
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    raise self.error((*path, engine, name), 'must be a value (quote it: "1")')
            out[engine] = {name: str(value) for name, value in values.items()}
        return out

    def windows(self, env: dict[str, Any], path: Path_) -> dict[str, str | None]:
        """maintenance_window and backup_window: AWS's formats, at least 30 minutes, apart."""
        maintenance = self.get(
            env,
            path,
            "maintenance_window",
            _matching(_MAINTENANCE_WINDOW),
            "must be a weekly window in UTC such as sun:05:00-sun:06:00",
            None,
        )
        backup = self.get(
            env,
            path,
            "backup_window",
            _matching(_BACKUP_WINDOW),
            "must be a daily window in UTC such as 03:00-04:00",
            None,
        )
        # RDS API, CreateDBInstance: both at least 30 minutes, and the backup window "must not
        # overlap with the preferred maintenance window".
        minutes: dict[str, set[int]] = {}
        if maintenance is not None:
            start, end = (_week_minute(part) for part in maintenance.split("-"))
            minutes["maintenance_window"] = _circle(start, end, _WEEK)
        if backup is not None:
            start, end = (_day_minute(part) for part in backup.split("-"))
            minutes["backup_window"] = {
                day * 1440 + minute for day in range(7) for minute in _circle(start, end, 1440)
            }
        for key, span in minutes.items():
            if len(span) < 30 * (7 if key == "backup_window" else 1):
                raise self.error((*path, key), "must be at least 30 minutes long")
        if len(minutes) == 2 and minutes["maintenance_window"] & minutes["backup_window"]:
            raise self.error((*path, "backup_window"), "must not overlap maintenance_window (AWS refuses it)")
        return {"maintenance_window": maintenance, "backup_window": backup}

    def classes_with_memory(self, environments: Mapping[str, Environment]) -> None:
        """The connections alarm follows each class's memory: every class must be in the table."""
        memory = rds.instance_memory_gib()
        for name, env in environments.items():
            for size, cls in env.instance_classes.items():
                if cls not in memory:
                    raise self.error(
                        ("environments", name, "instance_classes", size),
                        f"{cls} is not in dbvend's table of instance memory, which the connections"
                        " alarm is derived from: set alarms.connections to a fixed threshold",
                    )

    def storage(self, raw: Any, path: Path_) -> StorageLimits:
        spec = self.mapping(raw, path, ("default", "min", "max", "autoscale_factor"))
        gb = _int_between(20, 65536)
        rule = "must be a whole number of GB, 20 to 65536"
        low = self.get(spec, path, "min", gb, rule, 20)
        high = self.get(spec, path, "max", gb, rule, max(low, 100))
        default = self.get(spec, path, "default", gb, rule, low)
        if not low <= default <= high:
            raise self.error((*path, "default"), f"must lie between min ({low}) and max ({high})")
        factor = self.get(
            spec,
            path,
            "autoscale_factor",
            _factor,
            "must be 1 (no storage autoscaling) or a multiple from 1.1 to 100 of the allocated storage",
            2.0,
        )
        return StorageLimits(default, low, high, factor)

    def ttl(self, raw: Any, path: Path_) -> TtlPolicy:
        spec = self.mapping(raw, path, ("default", "max", "max_extensions", "allow_none", "auto_destroy"))
        rule = "must be a TTL such as 12h or 7d, or none"
        high = self.get(spec, path, "max", _ttl, rule, None)
        default = self.get(spec, path, "default", _ttl, rule, high)
        if high is not None and (default is None or default > high):
            raise self.error((*path, "default"), "must not be longer than max")
        extensions = self.get(
            spec, path, "max_extensions", _int_between(0, 1000), "must be a whole number, 0 to 1000", None
        )
        allow_none = self.get(spec, path, "allow_none", _boolean, _BOOL, True)
        if not allow_none and default is None:
            raise self.error((*path, "default"), "must be a TTL where allow_none is false")
        auto = self.get(spec, path, "auto_destroy", _boolean, _BOOL, False)
        return TtlPolicy(default, high, extensions, allow_none, auto)

    def aurora(self, raw: Any, path: Path_, production: bool) -> AuroraLimits:
        spec = self.mapping(raw, path, ("min_acu", "max_acu", "max_readers", "seconds_until_auto_pause"))
        rule = "must be a number of ACUs, 0 to 256 in steps of 0.5"
        low = self.get(spec, path, "min_acu", _acu, rule, 0.5)
        lowest, highest = rds.AUTO_PAUSE_SECONDS
        pause = self.get(
            spec,
            path,
            "seconds_until_auto_pause",
            _int_between(lowest, highest),
            f"must be {lowest} to {highest} seconds",
            None,
        )
        if pause is not None and production:
            raise self.error(
                (*path, "seconds_until_auto_pause"),
                "must not be set in production: a paused database takes seconds to resume",
            )
        if low == 0 and pause is None:
            raise self.error(
                (*path, "min_acu"), "may be 0 only with seconds_until_auto_pause (scale to zero)"
            )
        high = self.get(spec, path, "max_acu", _acu, rule, max(low, 4.0))
        if high < LEAST_MAX_ACU:
            raise self.error(
                (*path, "max_acu"), f"must be at least {LEAST_MAX_ACU:g}: AWS needs it above 0.5 ACU"
            )
        if low > high:
            raise self.error((*path, "min_acu"), "must not exceed max_acu")
        readers = self.get(spec, path, "max_readers", _int_between(0, 15), "must be 0 to 15", 1)
        return AuroraLimits(low, high, readers, pause)

    def network(self, raw: Any, path: Path_) -> Network:
        spec = self.mapping(raw, path, ("db_subnet_group", "security_group_ids", "subnet_ids"))
        subnets: list[str] = []
        azs: dict[str, str] = {}
        entries = spec.get("subnet_ids") or []
        if not isinstance(entries, list):
            raise self.error((*path, "subnet_ids"), "must be a list of subnet-... ids or {id, az}")
        for i, entry in enumerate(entries):
            where = (*path, "subnet_ids", i)
            if isinstance(entry, dict):
                item = self.mapping(entry, where, ("id", "az"))
                subnet = self.get(item, where, "id", _matching(_SUBNET), "must be a subnet-... id")
                azs[subnet] = self.get(
                    item, where, "az", _matching(_AZ), "must be an Availability Zone such as us-east-1a"
                )
            else:
                try:
                    subnet = _matching(_SUBNET)(entry)
                except ValueError:
                    raise self.error(where, "must be a subnet-... id, or {id, az}") from None
            if subnet in subnets:
                raise self.error(where, f"{subnet} is listed twice")
            subnets.append(subnet)
        return Network(
            db_subnet_group=self.get(
                spec, path, "db_subnet_group", _matching(_NAME), "must be a DB subnet group name", None
            ),
            security_group_ids=tuple(
                self.get(
                    spec, path, "security_group_ids", _list_of(_SG, True), "must be a list of sg-... ids", []
                )
            ),
            subnet_ids=tuple(subnets),
            subnet_azs=azs,
        )

    def tags(self, raw: Any, path: Path_) -> dict[str, str]:
        tags = self.mapping(raw, path, None)
        for key, value in tags.items():
            if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
                raise self.error((*path, key), "must be a tag key: letters, digits, spaces, _ . : / = + @ -")
            if not isinstance(value, str) or not _TAG_VALUE.fullmatch(value):
                raise self.error((*path, key), "must be a tag value (a string; quote numbers)")
        return dict(tags)

    def alarms(self, raw: Any) -> Alarms:
        path: Path_ = ("alarms",)
        spec = self.mapping(
            raw,
            path,
            (
                "cpu_percent",
                "connections",
                "connections_percent",
                "free_storage_percent",
                "acu_percent",
                "sns_topic_arn",
            ),
        )
        percent = _int_between(1, 100)
        return Alarms(
            cpu_percent=self.get(spec, path, "cpu_percent", percent, "must be 1 to 100", 80),
            connections=self.get(
                spec,
                path,
                "connections",
                _int_between(1, 100000),
                "must be a whole number of connections, or null (a percentage of max_connections)",
                None,
            ),
            connections_percent=self.get(
                spec, path, "connections_percent", percent, "must be 1 to 100 (% of max_connections)", 70
            ),
            free_storage_percent=self.get(
                spec, path, "free_storage_percent", percent, "must be 1 to 100 (% of allocated storage)", 10
            ),
            acu_percent=self.get(spec, path, "acu_percent", percent, "must be 1 to 100", 90),
            sns_topic_arn=self.get(
                spec, path, "sns_topic_arn", _matching(_ARN), "must be an SNS topic ARN", None
            ),
        )


def _matching(pattern: re.Pattern[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.isascii() or not pattern.fullmatch(value):
            raise ValueError(value)
        return value

    return check


def _list_of(pattern: re.Pattern[str] | None, empty_ok: bool = False) -> Callable[[Any], list[str]]:
    def check(value: Any) -> list[str]:
        if not isinstance(value, list) or (not value and not empty_ok):
            raise ValueError(value)
        if pattern is not None:
            return [_matching(pattern)(item) for item in value]
        if not all(isinstance(item, str) for item in value):
            raise ValueError(value)
        return value

    return check


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(value)
        return str(value)

    return check


def _list_of_mappings(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(value)
    return value


def _text_of(low: int, high: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not low <= len(value) <= high or not value.isprintable():
            raise ValueError(value)
        return value

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value.strip()) < 10 or len(value) > 500:
        raise ValueError(value)
    return " ".join(value.split())


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(value)
    return date.fromisoformat(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(value)
        return value

    return check


def _acu(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    if not 0 <= value <= 256 or (value * 2) % 1:
        raise ValueError(value)
    return float(value)


def _factor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    if value != 1 and not 1.1 <= value <= 100:
        raise ValueError(value)
    return float(value)


def _one_of_ints(choices: tuple[int, ...]) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or value not in choices:
            raise ValueError(value)
        return int(value)

    return check


def _week_minute(text: str) -> int:
    day, hour, minute = text.split(":")
    return _DAYS.index(day) * 1440 + int(hour) * 60 + int(minute)


def _day_minute(text: str) -> int:
    hour, minute = text.split(":")
    return int(hour) * 60 + int(minute)


def _circle(start: int, end: int, size: int) -> set[int]:
    """The minutes from start to end on a clock of `size` minutes (a window may wrap around)."""
    return {minute % size for minute in range(start, end if end > start else end + size)}


def _ttl(value: Any) -> timedelta | None:
    if not isinstance(value, str):
        raise ValueError(value)
    return parse_ttl(value)
