"""Reading dbvend.yaml: parsed raw with the line of every key, then checked into engine.catalog's types."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import yaml

from engine import rds
from engine.catalog import (
    CATALOG_FILE,
    ISSUE_REQUESTERS,
    NOTIFICATION_EVENTS,
    NOTIFICATION_FORMATS,
    Alarms,
    ApplyRules,
    Catalog,
    EngineOffer,
    Environment,
    GitHubRules,
    Notification,
    PolicyRules,
    PolicySkip,
    StateBackend,
    default_catalog_text,
)
from engine.catalog_access import read_access
from engine.catalog_checks import (
    ARN,
    BUCKET,
    CHECK_ID,
    CHECK_NAME,
    ENV_VAR,
    KEY_PREFIX,
    LABEL,
    LOGIN,
    REGION,
    WORKFLOW,
    KeyPath,
    KeyReader,
    Section,
    dotted,
    int_between,
    iso_date,
    list_of,
    list_of_mappings,
    matching,
    one_of,
    sentence,
    text_of,
    webhook_url_problem,
)
from engine.catalog_environments import read_environments
from engine.errors import CatalogError
from engine.spec import ENGINE_VERSION, ENGINES, ENVIRONMENT_NAME

_TOP_KEYS: Final = (
    "version",
    "region",
    "state",
    "engines",
    "tags",
    "alarms",
    "environments",
    "policy",
    "github",
    "notifications",
    "access",
)
_APPLY_KEYS: Final = (
    "require_approval",
    "required_checks",
    "require_mergeable",
    "approvers",
    "approver_teams",
    "allow_draft",
)
_ALARM_KEYS: Final = (
    "cpu_percent",
    "connections",
    "connections_percent",
    "free_storage_percent",
    "acu_percent",
    "sns_topic_arn",
)


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
    return _catalog(KeyReader(lines, source).section(raw, (), _TOP_KEYS))


# -- raw: YAML values plus the line of every key -------------------------------------------


def _load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[KeyPath, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError("", f"not valid YAML: {problem}", line, source) from None
    lines: dict[KeyPath, int] = {}
    if node is None:
        return {}, lines
    constructor = yaml.constructor.SafeConstructor()

    def build(node: yaml.Node, path: KeyPath) -> Any:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node)
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    raise CatalogError(
                        dotted((*path, key)), "is given twice", key_node.start_mark.line + 1, source
                    )
                out[key] = build(value_node, (*path, key))
                lines[(*path, key)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(node.value)]
        return constructor.construct_object(node)

    return build(node, ()), lines


# -- typed: every value checked, every error naming its key and line ----------------------


def _catalog(top: Section) -> Catalog:
    if top.raw.get("version", 1) != 1:
        raise top.error("version", "must be 1 (the only format this dbvend reads)")
    region = top.get("region", matching(REGION), "must be an AWS region such as us-east-1", "us-east-1")
    engines = _engines(top)
    environments = read_environments(top, engines)
    alarms = _alarms(top)
    if alarms.connections is None:
        _classes_with_memory(top, environments)
    return Catalog(
        region=region,
        state=_state(top, region),
        engines=engines,
        environments=environments,
        tags=top.tags("tags"),
        alarms=alarms,
        policy=_policy(top),
        github=_github(top),
        notifications=_notifications(top, tuple(environments)),
        access=read_access(top, tuple(environments)),
    )


def _notifications(top: Section, environments: tuple[str, ...]) -> tuple[Notification, ...]:
    items = top.get("notifications", list_of_mappings, "must be a list of {url, format, ...}", [])
    targets: dict[str, Notification] = {}
    for i, item in enumerate(items):
        spec = top.reader.section(
            item, top.at("notifications", i), ("url", "format", "events", "environments", "secret_env")
        )
        target = _notification(spec, environments)
        if target.target_id in targets:
            raise spec.error("url", "is given twice with the same format")
        targets[target.target_id] = target
    return tuple(targets.values())


def _notification(spec: Section, environments: tuple[str, ...]) -> Notification:
    url = spec.get("url", text_of(1, 2000), "must be an http(s) URL")
    problem = webhook_url_problem(url)
    if problem is not None:
        raise spec.error("url", problem)
    known_events = ", ".join(NOTIFICATION_EVENTS)
    events = spec.get("events", list_of(None), f"must be a non-empty list of events: {known_events}", None)
    for n, event in enumerate(events or []):
        if event not in NOTIFICATION_EVENTS:
            raise spec.error(("events", n), f"must be one of {known_events}")
    envs = spec.get("environments", list_of(None), "must be a non-empty list of environments", None)
    for n, env in enumerate(envs or []):
        if env not in environments:
            raise spec.error(
                ("environments", n), f"must be one of the environments: {', '.join(environments)}"
            )
    return Notification(
        url=url,
        format=spec.get("format", one_of(NOTIFICATION_FORMATS), "must be slack or json"),
        events=frozenset(events) if events is not None else frozenset(NOTIFICATION_EVENTS),
        environments=frozenset(envs) if envs is not None else None,
        secret_env=spec.get(
            "secret_env", matching(ENV_VAR), "must be the name of an environment variable", None
        ),
    )


def _github(top: Section) -> GitHubRules:
    spec = top.section(
        "github", ("workflow", "apply", "issue_label", "issue_title_prefix", "issue_requesters")
    )
    workflow = spec.get(
        "workflow",
        matching(WORKFLOW),
        "must be a workflow file name in .github/workflows, such as dbvend.yml",
        "dbvend.yml",
    )
    rules = spec.section("apply", _APPLY_KEYS)
    checks = rules.get("required_checks", list_of(CHECK_NAME, True), "must be check names", None)
    approvers = rules.get("approvers", list_of(LOGIN, True), "must be GitHub logins", [])
    teams = rules.get("approver_teams", list_of(LOGIN, True), "must be team slugs", [])
    label = spec.get(
        "issue_label",
        matching(LABEL),
        "must be a label name (1-50 characters, no comma)",
        "database-request",
    )
    prefix = spec.get("issue_title_prefix", text_of(1, 100), "must be 1-100 characters", None)
    requesters = spec.get("issue_requesters", one_of(ISSUE_REQUESTERS), "must be anyone or triage", "anyone")
    return GitHubRules(
        issue_label=label,
        issue_title_prefix=prefix,
        issue_requesters=requesters,
        workflow=workflow,
        apply=ApplyRules(
            require_approval=rules.flag("require_approval", True),
            required_checks=None if checks is None else tuple(checks),
            require_mergeable=rules.flag("require_mergeable", True),
            approvers=tuple(approvers) or None,
            approver_teams=tuple(teams) or None,
            allow_draft=rules.flag("allow_draft", False),
        ),
    )


def _policy(top: Section) -> PolicyRules:
    spec = top.section("policy", ("default", "fail", "warn", "skip"))
    default = spec.get("default", one_of(("fail", "warn")), "must be fail or warn", "fail")
    rule = "must be a list of check ids such as CKV_AWS_16"
    fail = spec.get("fail", list_of(CHECK_ID, True), rule, [])
    warn = spec.get("warn", list_of(CHECK_ID, True), rule, [])
    skips = spec.get("skip", list_of_mappings, "must be a list of {id, reason}", [])
    seen: set[str] = set()
    for key, ids in (("fail", fail), ("warn", warn)):
        for i, check_id in enumerate(ids):
            if check_id in seen:
                raise spec.error((key, i), f"{check_id} is listed twice in policy")
            seen.add(check_id)
    parsed = []
    for i, item in enumerate(skips):
        skip = _skip(
            spec.reader.section(item, spec.at("skip", i), ("id", "reason", "expires", "environments"))
        )
        if skip.check_id in seen:
            raise spec.error(("skip", i, "id"), f"{skip.check_id} is listed twice in policy")
        seen.add(skip.check_id)
        parsed.append(skip)
    return PolicyRules(default, frozenset(fail), frozenset(warn), tuple(parsed))


def _skip(spec: Section) -> PolicySkip:
    check_id = spec.get("id", matching(CHECK_ID), "must be a check id such as CKV_AWS_16")
    reason = spec.get("reason", sentence, "must say why the check is skipped (a sentence)")
    expires = spec.get("expires", iso_date, "must be a date such as 2027-06-30", None)
    # Environment names are not checked against environments: (the built-in skips name dev
    # and staging); a name that matches none only makes the check apply, the safe side.
    envs = spec.get("environments", list_of(ENVIRONMENT_NAME), "must be a list of environments", None)
    return PolicySkip(check_id, reason, expires, None if envs is None else tuple(envs))


def _state(top: Section, region: str) -> StateBackend:
    state = top.section("state", ("bucket", "key_prefix", "region"))
    return StateBackend(
        bucket=state.get("bucket", matching(BUCKET), "must be an S3 bucket name"),
        key_prefix=state.get(
            "key_prefix",
            matching(KEY_PREFIX),
            "must be an S3 key prefix: letters, digits, . _ / -",
            "dbvend",
        ).strip("/"),
        region=state.get("region", matching(REGION), "must be an AWS region", region),
    )


def _engines(top: Section) -> dict[str, EngineOffer]:
    engines = top.section("engines", ENGINES)
    if not engines.raw:
        raise top.error("engines", f"must offer at least one of {', '.join(ENGINES)}")
    offers = {}
    for name in engines.raw:
        versions = engines.section(name, ("versions",)).get(
            "versions",
            list_of(ENGINE_VERSION),
            'must be a non-empty list of versions such as "16.4" (quote them)',
        )
        offers[name] = EngineOffer(name, tuple(versions))
    return offers


def _classes_with_memory(top: Section, environments: Mapping[str, Environment]) -> None:
    """The connections alarm follows each class's memory: every class must be in the table."""
    memory = rds.instance_memory_gib()
    for name, env in environments.items():
        for size, cls in env.instance_classes.items():
            if cls not in memory:
                raise top.error(
                    ("environments", name, "instance_classes", size),
                    f"{cls} is not in dbvend's table of instance memory, which the connections"
                    " alarm is derived from: set alarms.connections to a fixed threshold",
                )


def _alarms(top: Section) -> Alarms:
    spec = top.section("alarms", _ALARM_KEYS)
    percent = int_between(1, 100)
    return Alarms(
        cpu_percent=spec.get("cpu_percent", percent, "must be 1 to 100", 80),
        connections=spec.get(
            "connections",
            int_between(1, 100000),
            "must be a whole number of connections, or null (a percentage of max_connections)",
            None,
        ),
        connections_percent=spec.get(
            "connections_percent", percent, "must be 1 to 100 (% of max_connections)", 70
        ),
        free_storage_percent=spec.get(
            "free_storage_percent", percent, "must be 1 to 100 (% of allocated storage)", 10
        ),
        acu_percent=spec.get("acu_percent", percent, "must be 1 to 100", 90),
        sns_topic_arn=spec.get("sns_topic_arn", matching(ARN), "must be an SNS topic ARN", None),
    )
