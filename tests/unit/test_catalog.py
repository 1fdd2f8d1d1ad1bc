"""engine/catalog.py and engine/catalog_reader.py: dbvend.yaml parsed (parse_catalog), each error naming
its key and line, and the limits a catalog sets on a request (request_errors)."""

from __future__ import annotations

from datetime import timedelta
from textwrap import dedent
from typing import Any

import pytest

from engine.catalog import Catalog, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.errors import CatalogError, InvalidRequest
from engine.spec import ENGINES, parse_request

BASE: dict[str, Any] = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}


# -- the limits a catalog sets on a request (request_errors) ----------------------------------


def test_all_catalog_limits_broken_are_reported_together(catalog: Catalog) -> None:
    raw = {**BASE, "engine_version": "99.0", "storage_gb": 101, "ttl": "31d"}
    with pytest.raises(InvalidRequest) as refused:
        parse_request(raw, catalog)
    assert refused.value.fields == {"engine_version", "storage_gb", "ttl"}


def test_aurora_catalog_limits_are_reported_together(catalog: Catalog) -> None:
    raw = {**BASE, "database_engine": "aurora-postgresql", "min_acu": 8, "max_acu": 16, "readers": 2}
    with pytest.raises(InvalidRequest) as refused:
        parse_request(raw, catalog)
    assert refused.value.fields == {"min_acu", "max_acu", "readers"}


def test_format_and_catalog_rules_are_reported_together(catalog: Catalog) -> None:
    """A malformed field must not hide a catalog limit broken by another field."""
    raw = {**BASE, "database_name": "1orders", "ttl": "31d"}
    with pytest.raises(InvalidRequest) as refused:
        parse_request(raw, catalog)
    assert refused.value.fields == {"database_name", "ttl"}


def test_unknown_environment_is_named_with_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_request({**BASE, "environment": "qa"}, catalog)
    (error,) = refused.value.errors
    assert error.field == "environment"
    assert "dev, staging, prod" in error.rule


def test_a_valid_request_keeps_its_values(catalog: Catalog) -> None:
    request = parse_request({**BASE, "identifier": "Orders-Main", "ttl": "30d", "storage_gb": 100}, catalog)
    assert request.identifier == "orders-main"
    assert request.size == "small"
    assert request.as_dict() == {
        "database_name": "orders",
        "database_engine": "postgres",
        "environment": "dev",
        "identifier": "orders-main",
        "size": "small",
        "storage_gb": 100,
        "ttl": "30d",
    }


def test_a_maximum_of_half_an_acu_is_refused_naming_the_field(catalog: Catalog) -> None:
    """AWS refuses min = max = 0.5: "The maximum capacity must be at least 1.0" (RDS API reference,
    ServerlessV2ScalingConfiguration); the AWS provider validates max_capacity within 1 to 256."""
    raw = {**BASE, "database_engine": "aurora-postgresql", "min_acu": 0.5, "max_acu": 0.5}
    with pytest.raises(InvalidRequest) as refused:
        parse_request(raw, catalog)
    assert refused.value.fields == {"max_acu"}
    assert "must be at least 1: AWS needs the maximum above 0.5 ACU" in str(refused.value)
    accepted = parse_request({**raw, "max_acu": 1}, catalog)
    assert (accepted.min_acu, accepted.max_acu) == (0.5, 1.0)


# -- parse_catalog --------------------------------------------------------------------------


def test_default_catalog_instance_classes() -> None:
    catalog = parse_catalog(default_catalog_text())
    assert catalog.environments["dev"].instance_classes["small"] == "db.t3.micro"
    assert catalog.environments["prod"].instance_classes["small"] == "db.t3.medium"


def test_default_catalog_ttl_policies() -> None:
    catalog = parse_catalog(default_catalog_text())
    dev, prod = catalog.environments["dev"].ttl, catalog.environments["prod"].ttl
    assert (dev.default, dev.max) == (timedelta(days=7), timedelta(days=30))
    assert (prod.default, prod.max) == (None, None)


def test_default_catalog_offers_every_engine_everywhere() -> None:
    catalog = parse_catalog(default_catalog_text())
    assert set(catalog.engines) == set(ENGINES)
    for env in catalog.environments.values():
        assert set(env.engines) == set(ENGINES)


# A small valid file; each broken case below changes one thing in it.
GOOD_CATALOG = dedent(
    """\
    version: 1
    region: us-east-1
    tags:
      cost-centre: "1234"
    environments:
      dev:
        instance_classes:
          small: db.t3.micro
        storage_gb:
          default: 20
          max: 100
        ttl:
          default: 7d
          max: 30d
        aurora:
          min_acu: 0.5
          max_acu: 4
        network:
          security_group_ids: [sg-0123456789abcdef0]
    """
)


def test_the_small_catalog_is_valid() -> None:
    catalog = parse_catalog(GOOD_CATALOG)
    assert catalog.tags == {"cost-centre": "1234"}
    assert list(catalog.environments) == ["dev"]
    assert catalog.environments["dev"].network.security_group_ids == ("sg-0123456789abcdef0",)


def broken(old: str, new: str) -> str:
    assert old in GOOD_CATALOG
    return GOOD_CATALOG.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        pytest.param(
            broken("      max: 30d\n", "      max: 30d: 31d\n"), "", 14, "not valid YAML", id="bad-yaml"
        ),
        pytest.param(
            broken("    storage_gb:\n", "\tstorage_gb:\n"), "", 9, "not valid YAML", id="tab-indent"
        ),
        pytest.param(
            GOOD_CATALOG + "  dev:\n    instance_classes: {small: db.t3.micro}\n",
            "environments.dev",
            20,
            "given twice",
            id="duplicate-environment",
        ),
        pytest.param(
            broken("      small: db.t3.micro\n", "      small: db.t3.micro\n      small: db.t3.small\n"),
            "environments.dev.instance_classes.small",
            9,
            "given twice",
            id="duplicate-size",
        ),
        pytest.param(
            broken("    ttl:\n", "    colour: blue\n    ttl:\n"),
            "environments.dev.colour",
            12,
            "not a known key",
            id="unknown-environment-key",
        ),
        pytest.param(
            broken("region: us-east-1\n", "region: us-east-1\nregoin: eu-west-1\n"),
            "regoin",
            3,
            "not a known key",
            id="unknown-top-level-key",
        ),
        pytest.param(
            broken("small: db.t3.micro", "small: t3.micro"),
            "environments.dev.instance_classes.small",
            8,
            "instance class",
            id="bad-instance-class",
        ),
        pytest.param(
            broken("small: db.t3.micro", "huge: db.t3.micro"),
            "environments.dev.instance_classes.huge",
            8,
            "not a known key",
            id="unknown-size",
        ),
        pytest.param(
            broken("max: 30d", "max: forever"),
            "environments.dev.ttl.max",
            14,
            "TTL",
            id="ttl-forever",
        ),
        pytest.param(
            broken("default: 7d", "default: 31d"),
            "environments.dev.ttl.default",
            13,
            "longer than max",
            id="ttl-default-above-max",
        ),
        pytest.param(
            broken("default: 20", "default: 200"),
            "environments.dev.storage_gb.default",
            10,
            "between min (20) and max (100)",
            id="storage-default-above-max",
        ),
        pytest.param(
            broken("max_acu: 4", "max_acu: 0.5"),
            "environments.dev.aurora.max_acu",
            17,
            "must be at least 1: AWS needs it above 0.5 ACU",
            id="max-acu-0.5",  # the RDS API's ServerlessV2ScalingConfiguration: "at least 1.0"
        ),
        pytest.param(
            broken("min_acu: 0.5", "min_acu: 8"),
            "environments.dev.aurora.min_acu",
            16,
            "must not exceed max_acu",
            id="min-acu-above-max-acu",
        ),
        pytest.param(
            broken("[sg-0123456789abcdef0]", "[subnet-0123456789abcdef0]"),
            "environments.dev.network.security_group_ids",
            19,
            "sg-",
            id="security-group-not-sg",
        ),
        pytest.param(
            broken("[sg-0123456789abcdef0]", "['sg-${var.x}']"),
            "environments.dev.network.security_group_ids",
            19,
            "sg-",
            id="security-group-injection",
        ),
        pytest.param(
            broken("[sg-0123456789abcdef0]", "[sg-0123456789abcdef0]\n      subnet_ids: [subnet-01, sg-1]"),
            "environments.dev.network.subnet_ids[0]",
            20,
            "must be a subnet-... id, or {id, az}",
            id="subnet-not-subnet",
        ),
        pytest.param(broken("version: 1", "version: 2"), "version", 1, "must be 1", id="version-2"),
        pytest.param(
            broken("  dev:\n", "  Dev:\n"),
            "environments.Dev",
            6,
            "lower-case",
            id="environment-name-capitals",
        ),
        pytest.param(
            broken('cost-centre: "1234"', "cost-centre: 1234"),
            "tags.cost-centre",
            4,
            "tag value",
            id="tag-value-number",
        ),
    ],
)
def test_broken_catalog_names_the_key_and_line(text: str, key: str, line: int, words: str) -> None:
    with pytest.raises(CatalogError) as refused:
        parse_catalog(text, "infra/dbvend.yaml")
    error = refused.value
    assert (error.key, error.line) == (key, line)
    assert words in error.rule
    assert str(error).startswith(f"infra/dbvend.yaml line {line}: ")
    if key:
        assert f": {key}: " in str(error)
    assert error.exit_code == 2


# -- dbvend.yaml's github section, and a TTL's max_extensions -----------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("workflow: dbvend.yml", "workflow: ../evil.sh", "github.workflow"),
        ("require_approval: true", "require_approval: maybe", "github.apply.require_approval"),
        ("approvers: []", "approvers: ['bad login!']", "github.apply.approvers"),
        ("issue_label: database-request", "issue_label: 'a,b'", "github.issue_label"),
    ],
)
def test_github_section_errors_name_the_key(old: str, new: str, key: str) -> None:
    text = default_catalog_text()
    assert old in text
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text.replace(old, new, 1))
    assert caught.value.key == key


def test_github_section_values() -> None:
    text = default_catalog_text().replace("approvers: []", "approvers: [alice, bob-2]")
    rules = parse_catalog(
        text.replace("required_checks: null", "required_checks: [ci, dbvend/policy]")
    ).github
    assert rules.apply.approvers == ("alice", "bob-2") and rules.apply.required_checks == (
        "ci",
        "dbvend/policy",
    )
    assert rules.workflow == "dbvend.yml" and rules.issue_label == "database-request"


def test_ttl_max_extensions_is_read_and_checked() -> None:
    from engine.catalog_reader import parse_catalog

    text = default_catalog_text().replace(
        "ttl: {default: 7d, max: 30d}", "ttl: {default: 7d, max: 30d, max_extensions: 3}"
    )
    assert parse_catalog(text).environments["dev"].ttl.max_extensions == 3
    assert parse_catalog(default_catalog_text()).environments["dev"].ttl.max_extensions is None
    broken = text.replace("max_extensions: 3", "max_extensions: -1")
    with pytest.raises(CatalogError, match="max_extensions: must be a whole number"):
        parse_catalog(broken)


# -- notifications: targets read strictly; no URL that reaches a metadata service ------------


def with_notifications(section: str) -> str:
    text = default_catalog_text()
    assert "\nnotifications: []\n" in text
    return text.replace("\nnotifications: []\n", "\nnotifications:\n" + dedent(section), 1)


def test_notification_targets_are_read_with_their_defaults() -> None:
    from engine.catalog import NOTIFICATION_EVENTS

    catalog = parse_catalog(
        with_notifications(
            """\
              - url: http://127.0.0.1:8999/hook
                format: json
                secret_env: DBVEND_HOOK_SECRET
              - url: https://chat.internal.example/hooks/abc
                format: slack
                events: [applied, failed]
                environments: [prod]
            """
        )
    )
    local, chat = catalog.notifications
    assert local.events == frozenset(NOTIFICATION_EVENTS) and local.environments is None
    assert local.secret_env == "DBVEND_HOOK_SECRET" and local.format == "json"
    assert chat.events == {"applied", "failed"} and chat.environments == {"prod"}
    assert parse_catalog(default_catalog_text()).notifications == ()


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://files.example.com/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://instance-data/latest",
        "http://[fd00:ec2::254]/",
        "http://169.254.10.20/",
        "http://0.0.0.0:8080/",
        "http://[::]/",
        "http://2852039166/",  # 169.254.169.254 as one number
        "http://[::ffff:169.254.169.254]/",
        "https:///no-host",
        "https://user:token@hooks.example.com/x",
    ],
)
def test_a_notification_url_that_is_not_http_or_reaches_metadata_is_refused(url: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(with_notifications(f"  - {{url: '{url}', format: json}}\n"))
    assert caught.value.key == "notifications[0].url"
    assert "token" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://10.1.2.3/hooks/x", "https://[::1]:8443/x", "http://mm.corp/x"]
)
def test_loopback_private_and_named_hosts_are_allowed(url: str) -> None:
    (target,) = parse_catalog(with_notifications(f"  - {{url: '{url}', format: slack}}\n")).notifications
    assert target.url == url


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ("{url: 'https://a.example/x', format: xml}", "notifications[0].format", "slack or json"),
        ("{url: 'https://a.example/x'}", "notifications[0].format", "required"),
        ("{url: 'https://a.example/x', format: json, method: PUT}", "notifications[0].method", "not a known"),
        (
            "{url: 'https://a.example/x', format: json, events: [appplied]}",
            "notifications[0].events[0]",
            "one of",
        ),
        ("{url: 'https://a.example/x', format: json, events: []}", "notifications[0].events", "non-empty"),
        (
            "{url: 'https://a.example/x', format: json, environments: [qa]}",
            "notifications[0].environments[0]",
            "dev",
        ),
        (
            "{url: 'https://a.example/x', format: json, secret_env: 'A-B'}",
            "notifications[0].secret_env",
            "variable",
        ),
        ("https://a.example/x", "notifications[0]", "mapping"),
    ],
)
def test_notification_errors_name_the_key(entry: str, key: str, words: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(with_notifications(f"  - {entry}\n"))
    assert caught.value.key == key and words in str(caught.value)


def test_the_same_target_twice_is_refused() -> None:
    twice = "  - {url: 'https://a.example/x', format: json}\n  - {url: 'https://a.example/x', format: json}\n"
    with pytest.raises(CatalogError, match=r"notifications\[1\]\.url: is given twice"):
        parse_catalog(with_notifications(twice))


# -- clone_from: which environments' databases a restore or a clone may copy (issue 22) ----------


def test_the_default_copies_stay_within_their_own_side() -> None:
    catalog = parse_catalog(default_catalog_text())
    allowed = {
        (source, target)
        for source in catalog.environments
        for target in catalog.environments
        if catalog.copy_refusal(source, target) is None
    }
    assert allowed == {("dev", "dev"), ("staging", "dev"), ("staging", "staging"), ("prod", "prod")}
    assert catalog.copy_refusal("dev", "staging") == (
        "staging may copy only from staging (dbvend.yaml: environments.staging.clone_from)"
    )
    refused = catalog.copy_refusal("prod", "dev")
    assert refused is not None and refused.startswith("production data stays in production: dev may copy")
    assert catalog.copy_refusal("dev", "qa") == "qa is not an environment in dbvend.yaml"


def test_an_environment_without_clone_from_copies_only_itself() -> None:
    text = default_catalog_text().replace("    clone_from: [staging]\n", "", 1)
    catalog = parse_catalog(text)
    assert catalog.environments["staging"].clone_from == ("staging",)
    assert catalog.copy_refusal("staging", "staging") is None
    # production data elsewhere only where the file says so
    allowed = parse_catalog(text.replace("clone_from: [dev, staging]", "clone_from: [dev, prod]", 1))
    assert allowed.copy_refusal("prod", "dev") is None and allowed.copy_refusal("staging", "dev") is not None


@pytest.mark.parametrize(
    ("new", "key", "words"),
    [
        ("clone_from: [dev, qa]", "environments.dev.clone_from[1]", "'qa' is not an environment"),
        ("clone_from: dev", "environments.dev.clone_from", "must be a list of environment names"),
        ("clone_from: [Dev]", "environments.dev.clone_from", "must be a list of environment names"),
    ],
)
def test_clone_from_errors_name_the_key(new: str, key: str, words: str) -> None:
    text = default_catalog_text()
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text.replace("clone_from: [dev, staging]", new, 1))
    assert caught.value.key == key and words in caught.value.rule
