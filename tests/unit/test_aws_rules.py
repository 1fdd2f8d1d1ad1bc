"""Rendered roots against AWS's own rules, which neither checkov, trivy nor the schema check see.

Each test names the document or module file it holds dbvend to (issue 19); each failed on the
roots dbvend rendered before.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import replace
from typing import Any

import pytest

from engine import rds
from engine.catalog import Catalog
from engine.catalog_reader import parse_catalog
from engine.claim import Claim
from engine.cost import estimate_monthly_cost
from engine.errors import CatalogError, InvalidRequest
from engine.hcl import hcl_unquote, parse_hcl, resources_of
from engine.render import render_claim
from engine.spec import ENGINES
from tests.support.catalogs import NETWORKED_CATALOG
from tests.support.claims import ENVIRONMENTS, claim_for


def resources(claim: Claim) -> dict[tuple[str, str], dict[str, Any]]:
    return _resources(render_claim(claim).files["main.tf"])


@functools.cache
def _resources(main_tf: str) -> dict[tuple[str, str], dict[str, Any]]:
    parsed = parse_hcl(main_tf)
    return {key: hcl_unquote(body) for key, body in resources_of(parsed).items()}


def database(found: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    return found.get(("aws_rds_cluster", "this")) or found[("aws_db_instance", "this")]


def every_default_root(catalog: Catalog) -> list[Claim]:
    return [
        claim_for(catalog, engine, env, {"size": size} if not engine.startswith("aurora") else {})
        for engine, env in itertools.product(ENGINES, ENVIRONMENTS)
        for size in ("small", "medium", "large")
    ]


# -- 1. versions: a prefix where AWS upgrades minors ----------------------------------------


# The provider's aws_db_instance docs: "If auto_minor_version_upgrade is enabled, you can provide a
# prefix of the version such as 8.0 (for 8.0.36)"; aws_rds_cluster: "The value can contain a
# partial version where supported by the API". terraform-aws-rds examples: postgres "17", mysql
# "8.0"; terraform-aws-rds-aurora examples/mysql: "8.0". A full version with automatic minor
# upgrades makes every plan after AWS's upgrade try to go back.
MAJOR = {
    "postgres": r"\d+",
    "aurora-postgresql": r"\d+",
    "mysql": r"\d+\.\d+",
    "aurora-mysql": r"\d+\.\d+",
}


def test_every_engine_renders_a_major_version_with_automatic_minor_upgrades(catalog: Catalog) -> None:
    for claim in every_default_root(catalog):
        found = resources(claim)
        body = database(found)
        engine = claim.request.database_engine
        assert re.fullmatch(MAJOR[engine], body["engine_version"]), (engine, body["engine_version"])
        upgraded = [
            b.get("auto_minor_version_upgrade")
            for (rtype, _), b in found.items()
            if rtype in ("aws_db_instance", "aws_rds_cluster_instance")
        ]
        assert upgraded and all(u is True for u in upgraded)
        # A major upgrade only where a reviewed modification asks for one (RDS API, ModifyDBInstance:
        # AllowMajorVersionUpgrade must be true when EngineVersion is a new major; engine.modify).
        assert body["allow_major_version_upgrade"] is False
        upgrade = replace(claim, allow_major_version_upgrade=True)
        assert database(resources(upgrade))["allow_major_version_upgrade"] is True


def test_the_catalog_offers_the_majors_and_every_one_of_them_renders(catalog: Catalog) -> None:
    offered = {name: offer.versions for name, offer in catalog.engines.items()}
    assert offered == {
        "postgres": ("17", "16"),
        "mysql": ("8.4", "8.0"),
        "aurora-postgresql": ("17", "16"),
        "aurora-mysql": ("8.0",),
    }
    for engine, versions in offered.items():
        for version in versions:
            claim = claim_for(catalog, engine, "dev", {"engine_version": version})
            assert database(resources(claim))["engine_version"] == version


# -- 2. Aurora capacity ------------------------------------------------------------------------


# RDS API, ServerlessV2ScalingConfiguration: MaxCapacity at least 1 (0.5 steps, up to 256);
# MinCapacity 0 only with SecondsUntilAutoPause (300 to 86,400) on versions that can pause
# (Aurora user guide, aurora-serverless-v2-auto-pause).
def test_a_maximum_of_half_an_acu_is_refused(catalog: Catalog) -> None:
    with pytest.raises(InvalidRequest, match="max_acu: must be at least 1"):
        claim_for(catalog, "aurora-postgresql", "dev", {"min_acu": 0.5, "max_acu": 0.5})


def test_scale_to_zero_renders_auto_pause_where_the_version_can_pause(catalog: Catalog) -> None:
    claim = claim_for(catalog, "aurora-postgresql", "dev", {"min_acu": 0, "engine_version": "17"})
    scaling = database(resources(claim))["serverlessv2_scaling_configuration"][0]
    assert (scaling["min_capacity"], scaling["seconds_until_auto_pause"]) == (0, 1800)
    # without a minimum of 0, no pause
    other = claim_for(catalog, "aurora-postgresql", "dev", {})
    assert (
        database(resources(other))["serverlessv2_scaling_configuration"][0]["seconds_until_auto_pause"]
        is None
    )


@pytest.mark.parametrize(
    ("env", "opts", "rule"),
    [
        # "16" may be created as 16.1 or 16.2, which cannot pause
        ("dev", {"min_acu": 0, "engine_version": "16"}, "cannot pause at 0 ACU"),
        ("staging", {"min_acu": 0}, "scaling to zero is not enabled there"),
        ("prod", {"min_acu": 0}, "scaling to zero is not enabled there"),
    ],
)
def test_scale_to_zero_is_refused_where_aws_would_refuse_it(
    catalog: Catalog, env: str, opts: dict[str, Any], rule: str
) -> None:
    with pytest.raises(InvalidRequest, match=rule):
        claim_for(catalog, "aurora-postgresql", env, opts)
    with pytest.raises(InvalidRequest, match="cannot pause"):
        claim_for(catalog, "aurora-mysql", "dev", {"min_acu": 0})  # "8.0" may be 3.04


@pytest.mark.parametrize(
    ("engine", "version", "pauses"),
    [
        ("aurora-postgresql", "17", True),
        ("aurora-postgresql", "16", False),
        ("aurora-postgresql", "16.3", True),
        ("aurora-postgresql", "16.2", False),
        ("aurora-postgresql", "15.7", True),
        ("aurora-postgresql", "13.14", False),
        ("aurora-postgresql", "12.22", False),
        ("aurora-mysql", "8.0", False),
        ("aurora-mysql", "8.0.mysql_aurora.3.08", True),
        ("aurora-mysql", "8.0.mysql_aurora.3.08.1", True),
        ("aurora-mysql", "8.0.mysql_aurora.3.07.1", False),
        ("postgres", "17", False),
    ],
)
def test_which_versions_can_pause(engine: str, version: str, pauses: bool) -> None:
    assert rds.can_pause(engine, version) is pauses


def test_an_environment_scaled_to_zero_must_say_when_it_pauses() -> None:
    text = NETWORKED_CATALOG.replace(", seconds_until_auto_pause: 1800}", "}").replace(
        "aurora: {min_acu: 0.5, max_acu: 4", "aurora: {min_acu: 0, max_acu: 4"
    )
    with pytest.raises(CatalogError, match="may be 0 only with seconds_until_auto_pause"):
        parse_catalog(text)
    production = NETWORKED_CATALOG.replace(
        "aurora: {min_acu: 1, max_acu: 64, max_readers: 5}",
        "aurora: {min_acu: 1, max_acu: 64, max_readers: 5, seconds_until_auto_pause: 600}",
    )
    with pytest.raises(CatalogError, match="must not be set in production"):
        parse_catalog(production)


# -- 3. exported logs are written -------------------------------------------------------------


# RDS user guide, "Publishing MySQL logs to Amazon CloudWatch Logs": the general and slow query
# logs are published only with general_log / slow_query_log on and log_output=FILE; Aurora MySQL
# writes only the error log by default (audit needs server_audit_logging).
LOG_SWITCHES = {
    "general": {"general_log": "1", "log_output": "FILE"},
    "slowquery": {"slow_query_log": "1", "log_output": "FILE"},
    "audit": {"server_audit_logging": "1"},
}


def test_every_exported_log_is_turned_on_by_the_roots_parameter_group(catalog: Catalog) -> None:
    for claim in every_default_root(catalog):
        found = resources(claim)
        group = (
            found.get(("aws_rds_cluster_parameter_group", "this"))
            or found[("aws_db_parameter_group", "this")]
        )
        params = {p["name"]: p["value"] for p in group["parameter"]}
        for log in database(found)["enabled_cloudwatch_logs_exports"]:
            for name, value in LOG_SWITCHES.get(log, {}).items():
                assert params.get(name, "").upper() in (value, "ON" if value == "1" else value), (
                    claim.request.database_engine,
                    log,
                    params,
                )


def test_a_log_the_catalog_turns_on_is_exported() -> None:
    text = NETWORKED_CATALOG.replace(
        "    log_retention_days: 7\n",
        "    log_retention_days: 7\n"
        '    parameters: {mysql: {general_log: "1"}, aurora-mysql: {server_audit_logging: "0"}}\n',
    )
    catalog = parse_catalog(text)
    mysql = database(resources(claim_for(catalog, "mysql", "dev", {})))
    assert mysql["enabled_cloudwatch_logs_exports"] == ["error", "general", "slowquery"]
    aurora = database(resources(claim_for(catalog, "aurora-mysql", "dev", {})))
    assert aurora["enabled_cloudwatch_logs_exports"] == ["error", "slowquery"]  # audit turned off


# RDS user guide, SSL/TLS for PostgreSQL (rds.force_ssl) and MySQL (require_secure_transport).
def test_every_database_requires_tls_and_logs_slow_statements(catalog: Catalog) -> None:
    for claim in every_default_root(catalog):
        found = resources(claim)
        group = (
            found.get(("aws_rds_cluster_parameter_group", "this"))
            or found[("aws_db_parameter_group", "this")]
        )
        params = {p["name"]: p for p in group["parameter"]}
        if claim.engine_family == "postgres":
            assert params["rds.force_ssl"]["value"] == "1"
            assert params["rds.force_ssl"]["apply_method"] == "pending-reboot"  # a static parameter
            assert params["log_min_duration_statement"]["value"] == "1000"
        else:
            assert params["require_secure_transport"]["value"] in ("1", "ON")
            assert params["long_query_time"]["value"] == "1"
        family = group["family"]
        assert family == claim.request.database_engine + database(found)["engine_version"]
        reference = "aws_rds_cluster_parameter_group" if claim.is_aurora else "aws_db_parameter_group"
        key = "db_cluster_parameter_group_name" if claim.is_aurora else "parameter_group_name"
        assert database(found)[key] == f"${{{reference}.this.name}}"


# -- 4. a connections alarm that can fire -----------------------------------------------------


# RDS user guide, "Maximum number of database connections": PostgreSQL
# LEAST({DBInstanceClassMemory/9531392},5000), MySQL {DBInstanceClassMemory/12582880}. The old
# fixed 500 was above the default max_connections of db.t3.micro/small/medium.
def test_the_connections_alarm_is_below_the_engines_max_connections(catalog: Catalog) -> None:
    for claim in every_default_root(catalog):
        alarm = resources(claim)[("aws_cloudwatch_metric_alarm", "connections")]
        engine = claim.request.database_engine
        if claim.is_aurora:
            assert claim.min_acu is not None and claim.max_acu is not None
            limit = rds.serverless_max_connections(engine, claim.min_acu, claim.max_acu)
        else:
            limit = rds.max_connections(engine, rds.instance_memory_gib()[claim.instance_class])
        assert 0 < alarm["threshold"] < limit, (engine, claim.instance_class, alarm["threshold"], limit)
    micro = claim_for(catalog, "postgres", "dev", {"size": "small"})
    assert micro.instance_class == "db.t3.micro" and micro.alarm_connections == 78  # 70% of 112


def test_known_max_connections() -> None:
    # db.r4.large (15.25 GiB): 1,660 for Aurora PostgreSQL (Aurora user guide, AuroraPostgreSQL.Managing)
    assert abs(rds.max_connections("aurora-postgresql", 15.25 * 10**9 / rds.GIB) - 1600) < 5
    assert rds.max_connections("postgres", 1024) == 5000
    assert rds.max_connections("mysql", 1) == 85


def test_a_class_missing_from_the_memory_table_needs_a_fixed_threshold() -> None:
    text = NETWORKED_CATALOG.replace("large: db.t3.medium}", "large: db.x2g.large}", 1)
    with pytest.raises(CatalogError, match=r"db\.x2g\.large is not in dbvend's table of instance memory"):
        parse_catalog(text)
    fixed = parse_catalog(text.replace("  connections: null ", "  connections: 300 "))
    assert claim_for(fixed, "postgres", "dev", {"size": "large"}).alarm_connections == 300


def test_alarms_fit_the_database(catalog: Catalog) -> None:
    instance = resources(claim_for(catalog, "postgres", "dev", {"storage_gb": 40}))
    free = instance[("aws_cloudwatch_metric_alarm", "free_storage")]
    assert (free["metric_name"], free["comparison_operator"], free["threshold"]) == (
        "FreeStorageSpace",
        "LessThanThreshold",
        4 * rds.GIB,  # 10% of 40 GB, in bytes (CloudWatch's FreeStorageSpace unit)
    )
    cluster = resources(claim_for(catalog, "aurora-mysql", "dev", {}))
    acu = cluster[("aws_cloudwatch_metric_alarm", "capacity")]
    assert (acu["metric_name"], acu["threshold"], acu["dimensions"]) == (
        "ACUUtilization",
        90,
        {"DBClusterIdentifier": "${aws_rds_cluster.this.cluster_identifier}"},
    )
    assert ("aws_cloudwatch_metric_alarm", "free_storage") not in cluster


def test_alarms_notify_the_environments_topic() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:dbvend-alarms"
    catalog = parse_catalog(NETWORKED_CATALOG.replace("sns_topic_arn: null", f"sns_topic_arn: {topic}"))
    alarms = [
        b
        for (t, _), b in resources(claim_for(catalog, "mysql", "prod", {})).items()
        if t == "aws_cloudwatch_metric_alarm"
    ]
    assert len(alarms) == 3 and all(a["alarm_actions"] == [topic] == a["ok_actions"] for a in alarms)


# -- 5. the proxy's network -------------------------------------------------------------------


# RDS user guide, rds-proxy-setup ("at least two subnets in different Availability Zones") and
# terraform-aws-rds-proxy's examples: the proxy sits in the database's VPC.
@pytest.mark.parametrize(
    ("network", "missing"),
    [
        (
            "{db_subnet_group: dbvend-private, subnet_ids: [{id: subnet-0123456789abcdef0, az: us-east-1a}]}",
            "at least two subnets",
        ),
        (
            "{db_subnet_group: null, subnet_ids: [{id: subnet-0123456789abcdef0, az: us-east-1a},"
            " {id: subnet-0fedcba9876543210, az: us-east-1b}]}",
            "network.db_subnet_group",
        ),
        (
            "{db_subnet_group: dbvend-private,"
            " subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]}",
            "the Availability Zone of subnet-0123456789abcdef0, subnet-0fedcba9876543210",
        ),
        (
            "{db_subnet_group: dbvend-private, subnet_ids: [{id: subnet-0123456789abcdef0, az: us-east-1a},"
            " {id: subnet-0fedcba9876543210, az: us-east-1a}]}",
            "two different Availability Zones",
        ),
    ],
)
def test_a_proxy_needs_the_databases_vpc_and_two_zones(network: str, missing: str) -> None:
    text = NETWORKED_CATALOG.replace(
        NETWORKED_CATALOG[NETWORKED_CATALOG.index("network: {db_subnet_group: dbvend-private") :].split("\n")[
            0
        ],
        f"network: {network}",
        1,
    )
    catalog = parse_catalog(text)
    with pytest.raises(InvalidRequest) as caught:
        claim_for(catalog, "aurora-postgresql", "dev", {"proxy": True})
    assert missing in str(caught.value)


def test_the_proxy_has_a_read_only_endpoint_only_with_readers(catalog: Catalog) -> None:
    with_readers = resources(
        claim_for(catalog, "aurora-postgresql", "staging", {"proxy": True, "readers": 2})
    )
    endpoint = with_readers[("aws_db_proxy_endpoint", "read_only")]
    assert (endpoint["target_role"], endpoint["db_proxy_endpoint_name"]) == ("READ_ONLY", "orders-ro")
    alone = resources(claim_for(catalog, "aurora-postgresql", "staging", {"proxy": True, "readers": 0}))
    assert ("aws_db_proxy_endpoint", "read_only") not in alone


def test_the_proxy_may_decrypt_a_secret_under_the_organisations_key() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    text = NETWORKED_CATALOG.replace(
        "    log_retention_days: 7\n", f"    log_retention_days: 7\n    master_secret_kms_key: {key}\n"
    )
    claim = claim_for(parse_catalog(text), "aurora-postgresql", "dev", {"proxy": True})
    main_tf = render_claim(claim).files["main.tf"]
    assert f'master_user_secret_kms_key_id       = "{key}"' in main_tf
    policy = main_tf[main_tf.index('resource "aws_iam_role_policy" "proxy"') :].split("\n}\n")[0]
    assert '"kms:Decrypt"' in policy and f'"{key}"' in policy
    assert '"kms:ViaService" = "secretsmanager.us-east-1.amazonaws.com"' in policy
    # without a key of its own, the role may not decrypt anything
    plain = render_claim(
        claim_for(parse_catalog(NETWORKED_CATALOG), "aurora-postgresql", "dev", {"proxy": True})
    )
    assert "kms:Decrypt" not in plain.files["main.tf"]


# -- 6. log groups Terraform owns ---------------------------------------------------------------


# terraform-aws-rds modules/db_instance/main.tf (aws_cloudwatch_log_group "this", name
# "/aws/rds/instance/${identifier}/${each.value}") and terraform-aws-rds-aurora main.tf
# ("/aws/rds/cluster/${cluster_identifier}/${each.value}"), created before the database.
def test_every_exported_log_has_a_log_group_with_retention_created_first(catalog: Catalog) -> None:
    for claim in every_default_root(catalog):
        found = resources(claim)
        body = database(found)
        kind = "cluster" if claim.is_aurora else "instance"
        groups = {name: b for (t, name), b in found.items() if t == "aws_cloudwatch_log_group"}
        exported = body["enabled_cloudwatch_logs_exports"]
        assert sorted(groups) == sorted(exported)
        for log, group in groups.items():
            assert group["name"] == f"/aws/rds/{kind}/{claim.identifier}/{log}"
            assert group["retention_in_days"] == {"dev": 7, "staging": 30, "prod": 365}[claim.environment]
        assert body["depends_on"] == [f"${{aws_cloudwatch_log_group.{log}}}" for log in exported]


# -- 7. Terraform 1.11: test_render.py's test_roots_need_the_terraform_whose_s3_backend_locks_by_itself


# -- storage, windows, Performance Insights ---------------------------------------------------


# RDS user guide, USER_PIOPS.Autoscaling: the maximum must be at least 10% above the allocated
# storage; gp3 goes to 64 TiB.
def test_storage_autoscales_to_a_ceiling_the_cost_estimate_shows(catalog: Catalog) -> None:
    claim = claim_for(catalog, "postgres", "dev", {"storage_gb": 40})
    assert database(resources(claim))["max_allocated_storage"] == 80
    cost = estimate_monthly_cost(claim)
    assert cost.ceiling is not None and "80 GB" in cost.ceiling.item
    assert cost.ceiling.monthly_usd == round(cost.monthly_usd + 40 * 0.115, 2)
    assert rds.max_allocated_storage(40000, 2) == 65536
    assert rds.max_allocated_storage(65536, 2) is None  # no room above: no autoscaling
    assert rds.max_allocated_storage(100, 1) is None


def test_production_has_windows_and_performance_insights(catalog: Catalog) -> None:
    prod = database(resources(claim_for(catalog, "mysql", "prod", {})))
    assert (prod["maintenance_window"], prod["backup_window"]) == ("sun:05:00-sun:06:00", "03:00-04:00")
    assert (prod["performance_insights_enabled"], prod["performance_insights_retention_period"]) == (True, 7)
    dev = database(resources(claim_for(catalog, "mysql", "dev", {})))
    assert dev["performance_insights_enabled"] is False
    cluster = resources(claim_for(catalog, "aurora-postgresql", "prod", {}))
    assert cluster[("aws_rds_cluster", "this")]["preferred_maintenance_window"] == "sun:05:00-sun:06:00"
    assert cluster[("aws_rds_cluster_instance", "writer")]["performance_insights_enabled"] is True


# RDS user guide, USER_PerfInsights.Overview.Engines: none for RDS for MySQL on micro and small.
def test_performance_insights_stays_off_where_mysql_has_none() -> None:
    text = NETWORKED_CATALOG.replace(
        "    log_retention_days: 7\n", "    log_retention_days: 7\n    performance_insights: true\n"
    )
    catalog = parse_catalog(text)
    assert claim_for(catalog, "mysql", "dev", {"size": "small"}).performance_insights is False
    assert claim_for(catalog, "postgres", "dev", {"size": "small"}).performance_insights is True


@pytest.mark.parametrize(
    ("windows", "rule"),
    [
        ('maintenance_window: "sun:05:00-sun:05:20"', "at least 30 minutes"),
        ('maintenance_window: "sun:03:30-sun:04:30"', "must not overlap maintenance_window"),
        ('maintenance_window: "sunday 5am"', "weekly window in UTC"),
        ('maintenance_window: "sat:23:45-sun:00:15"\n    backup_window: "23:50-00:30"', "must not overlap"),
    ],
)
def test_windows_aws_would_refuse_are_refused(windows: str, rule: str) -> None:
    both = 'maintenance_window: "sun:05:00-sun:06:00"\n    backup_window: "03:00-04:00"'
    assert both in NETWORKED_CATALOG
    if "backup_window" not in windows:
        windows += '\n    backup_window: "03:00-04:00"'
    text = NETWORKED_CATALOG.replace(both, windows)
    with pytest.raises(CatalogError, match=rule):
        parse_catalog(text)
