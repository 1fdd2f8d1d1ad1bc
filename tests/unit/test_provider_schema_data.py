"""The extracted AWS provider schema (engine/data/aws_provider_schema.json) matches the provider docs.

The file is produced by scripts/extract_provider_schema.py from the jsii assembly of
cdktf-cdktf-provider-aws; these facts come from the AWS provider's registry documentation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.paths import ROOT

SCHEMA_PATH = ROOT / "engine" / "data" / "aws_provider_schema.json"

EXPECTED_RESOURCES = {
    "aws_db_instance",
    "aws_rds_cluster",
    "aws_rds_cluster_instance",
    "aws_db_proxy",
    "aws_db_proxy_default_target_group",
    "aws_db_proxy_target",
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_cloudwatch_metric_alarm",
    "aws_db_parameter_group",
    "aws_rds_cluster_parameter_group",
    "aws_cloudwatch_log_group",
    "aws_db_proxy_endpoint",
    "aws_ssm_parameter",
}
TYPES = {"string", "number", "bool", "list", "set", "map", "any"}
CDKTF_ONLY = {"connection", "count", "depends_on", "for_each", "lifecycle", "provider", "provisioners"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def resources(schema: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = schema["resources"]
    return res


def test_file_is_small() -> None:
    assert SCHEMA_PATH.stat().st_size < 200 * 1024


def test_header(schema: dict[str, Any]) -> None:
    assert schema["source"].startswith("cdktf-cdktf-provider-aws==")
    assert schema["provider"] == "hashicorp/aws"
    version = schema["provider_version"]
    assert version is None or version.split(".")[0].isdigit()


def test_file_is_deterministic(schema: dict[str, Any]) -> None:
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert text == json.dumps(schema, sort_keys=True, indent=1) + "\n"


def test_resource_types(resources: dict[str, Any]) -> None:
    assert set(resources) == EXPECTED_RESOURCES


def _check_block(block: dict[str, Any], where: str) -> None:
    assert set(block) >= {"arguments", "blocks"}, where
    for name, arg in block["arguments"].items():
        assert name == name.lower() and " " not in name, f"{where}.{name}"
        assert arg["type"] in TYPES, f"{where}.{name}"
        assert isinstance(arg["required"], bool), f"{where}.{name}"
    assert not set(block["arguments"]) & set(block["blocks"]), where
    for name, sub in block["blocks"].items():
        assert sub["max_items"] in (1, None), f"{where}.{name}"
        _check_block(sub, f"{where}.{name}")


@pytest.mark.parametrize("resource_type", sorted(EXPECTED_RESOURCES))
def test_shape(resources: dict[str, Any], resource_type: str) -> None:
    res = resources[resource_type]
    _check_block(res, resource_type)
    assert not CDKTF_ONLY & set(res["arguments"])
    attributes = res["attributes"]
    assert attributes == sorted(set(attributes))
    # Everything settable is also readable.
    assert set(res["arguments"]) <= set(attributes)
    assert set(res["blocks"]) <= set(attributes)
    assert all(key.split(".")[0] in attributes for key in res["nested_attributes"])


def _args(resources: dict[str, Any], resource_type: str) -> dict[str, Any]:
    args: dict[str, Any] = resources[resource_type]["arguments"]
    return args


def test_db_instance(resources: dict[str, Any]) -> None:
    args = _args(resources, "aws_db_instance")
    for name in (
        "identifier",
        "engine",
        "engine_version",
        "instance_class",
        "allocated_storage",
        "storage_encrypted",
        "manage_master_user_password",
        "multi_az",
        "backup_retention_period",
        "deletion_protection",
        "skip_final_snapshot",
        "final_snapshot_identifier",
        "publicly_accessible",
        "db_subnet_group_name",
        "vpc_security_group_ids",
        "tags",
        "db_name",
        "username",
        "password",
        "iam_database_authentication_enabled",
        "kms_key_id",
    ):
        assert name in args, name
    assert args["instance_class"] == {"type": "string", "required": True}
    assert args["allocated_storage"]["type"] == "number"
    assert args["storage_encrypted"]["type"] == "bool"
    assert args["tags"]["type"] == "map"
    assert args["vpc_security_group_ids"]["type"] == "set"
    assert args["engine"]["required"] is False
    assert "not_an_argument" not in args
    assert "name" not in args  # removed from aws_db_instance in provider v5 (now db_name)

    res = resources["aws_db_instance"]
    assert "restore_to_point_in_time" in res["blocks"]
    assert res["blocks"]["restore_to_point_in_time"]["max_items"] == 1
    for name in ("endpoint", "address", "port", "arn", "master_user_secret", "resource_id"):
        assert name in res["attributes"], name
    # Computed-only attributes are readable but not settable.
    assert "endpoint" not in args and "master_user_secret" not in args
    assert "secret_arn" in res["nested_attributes"]["master_user_secret"]
    assert "not_an_argument" not in res["attributes"]


def test_rds_cluster(resources: dict[str, Any]) -> None:
    res = resources["aws_rds_cluster"]
    args = res["arguments"]
    for name in (
        "engine_mode",
        "cluster_identifier",
        "database_name",
        "master_username",
        "engine",
        "manage_master_user_password",
        "storage_encrypted",
        "deletion_protection",
        "skip_final_snapshot",
        "db_subnet_group_name",
        "vpc_security_group_ids",
        "tags",
        "backup_retention_period",
    ):
        assert name in args, name
    block = res["blocks"]["serverlessv2_scaling_configuration"]
    assert block["max_items"] == 1
    assert block["arguments"]["min_capacity"] == {"type": "number", "required": True}
    assert block["arguments"]["max_capacity"] == {"type": "number", "required": True}
    assert "serverlessv_2_scaling_configuration" not in res["blocks"]
    assert args["engine"]["required"] is True
    for name in ("endpoint", "reader_endpoint", "master_user_secret", "arn", "port"):
        assert name in res["attributes"], name
    assert "secret_arn" in res["nested_attributes"]["master_user_secret"]
    assert "not_an_argument" not in args


def test_rds_cluster_instance(resources: dict[str, Any]) -> None:
    args = _args(resources, "aws_rds_cluster_instance")
    for name in ("cluster_identifier", "instance_class", "promotion_tier", "engine", "identifier"):
        assert name in args, name
    assert args["cluster_identifier"]["required"] is True
    assert args["instance_class"]["required"] is True
    assert args["promotion_tier"]["type"] == "number"
    assert "endpoint" in resources["aws_rds_cluster_instance"]["attributes"]
    assert "not_an_argument" not in args


def test_ssm_parameter(resources: dict[str, Any]) -> None:
    """The provider docs, resources/ssm_parameter: name and type are required; exactly one of value,
    insecure_value (never marked sensitive, not valid with SecureString) or value_wo is set."""
    args = _args(resources, "aws_ssm_parameter")
    assert args["name"] == {"type": "string", "required": True}
    assert args["type"] == {"type": "string", "required": True}
    for name in ("value", "insecure_value", "value_wo", "tier", "data_type", "key_id", "description", "tags"):
        assert name in args, name
    assert {"arn", "version"} <= set(resources["aws_ssm_parameter"]["attributes"])


def test_db_proxy(resources: dict[str, Any]) -> None:
    res = resources["aws_db_proxy"]
    args = res["arguments"]
    for name in ("name", "require_tls", "role_arn", "vpc_subnet_ids", "engine_family", "tags"):
        assert name in args, name
    assert args["require_tls"]["type"] == "bool"
    assert args["vpc_subnet_ids"]["type"] == "set"
    assert args["role_arn"]["required"] is True
    auth = res["blocks"]["auth"]
    assert {"auth_scheme", "iam_auth", "secret_arn"} <= set(auth["arguments"])
    assert auth["max_items"] is None  # auth is a repeatable (set) block
    assert "endpoint" in res["attributes"]
    assert "not_an_argument" not in args


def test_db_proxy_default_target_group(resources: dict[str, Any]) -> None:
    res = resources["aws_db_proxy_default_target_group"]
    assert res["arguments"]["db_proxy_name"]["required"] is True
    pool = res["blocks"]["connection_pool_config"]
    assert pool["max_items"] == 1
    assert {"max_connections_percent", "connection_borrow_timeout"} <= set(pool["arguments"])
    assert "name" in res["attributes"]
    assert "not_an_argument" not in res["arguments"]


def test_db_proxy_target(resources: dict[str, Any]) -> None:
    args = _args(resources, "aws_db_proxy_target")
    for name in ("db_cluster_identifier", "db_instance_identifier", "target_group_name", "db_proxy_name"):
        assert name in args, name
    assert args["target_group_name"]["required"] is True
    assert args["db_proxy_name"]["required"] is True
    assert "endpoint" in resources["aws_db_proxy_target"]["attributes"]
    assert "not_an_argument" not in args


def test_iam(resources: dict[str, Any]) -> None:
    role = _args(resources, "aws_iam_role")
    assert role["assume_role_policy"] == {"type": "string", "required": True}
    assert {"name", "tags", "permissions_boundary", "max_session_duration"} <= set(role)
    assert "arn" in resources["aws_iam_role"]["attributes"]
    policy = _args(resources, "aws_iam_role_policy")
    assert policy["role"]["required"] is True
    assert policy["policy"]["required"] is True
    assert "name" in policy
    assert "not_an_argument" not in role and "not_an_argument" not in policy


def test_cloudwatch_metric_alarm(resources: dict[str, Any]) -> None:
    res = resources["aws_cloudwatch_metric_alarm"]
    args = res["arguments"]
    for name in (
        "alarm_name",
        "comparison_operator",
        "evaluation_periods",
        "metric_name",
        "namespace",
        "period",
        "statistic",
        "threshold",
        "alarm_actions",
        "ok_actions",
        "dimensions",
        "treat_missing_data",
        "alarm_description",
        "tags",
    ):
        assert name in args, name
    assert args["dimensions"]["type"] == "map"
    assert args["threshold"]["type"] == "number"
    assert args["alarm_actions"]["type"] == "set"
    assert args["comparison_operator"]["required"] is True
    assert args["alarm_name"]["required"] is True
    metric = res["blocks"]["metric_query"]["blocks"]["metric"]
    assert metric["max_items"] == 1
    assert "metric_name" in metric["arguments"]
    assert "not_an_argument" not in args


# Arguments the generated templates set; each must be in the recorded schema.
TEMPLATE_ARGUMENTS = {
    "aws_db_instance": (
        "max_allocated_storage",
        "parameter_group_name",
        "maintenance_window",
        "backup_window",
        "performance_insights_enabled",
        "performance_insights_retention_period",
        "auto_minor_version_upgrade",
        "allow_major_version_upgrade",
    ),
    "aws_rds_cluster": (
        "db_cluster_parameter_group_name",
        "preferred_maintenance_window",
        "preferred_backup_window",
        "master_user_secret_kms_key_id",
        "allow_major_version_upgrade",
    ),
    "aws_rds_cluster_instance": ("performance_insights_enabled", "performance_insights_retention_period"),
    "aws_db_parameter_group": ("name", "name_prefix", "family", "description", "tags"),
    "aws_rds_cluster_parameter_group": ("name", "name_prefix", "family", "description", "tags"),
    "aws_cloudwatch_log_group": ("name", "retention_in_days", "tags", "skip_destroy"),
    "aws_db_proxy_endpoint": (
        "db_proxy_name",
        "db_proxy_endpoint_name",
        "vpc_subnet_ids",
        "vpc_security_group_ids",
        "target_role",
        "tags",
    ),
}


@pytest.mark.parametrize("resource_type", sorted(TEMPLATE_ARGUMENTS))
def test_template_arguments(resources: dict[str, Any], resource_type: str) -> None:
    args = _args(resources, resource_type)
    for name in TEMPLATE_ARGUMENTS[resource_type]:
        assert name in args, f"{resource_type}.{name}"


def test_instance_and_cluster_template_types(resources: dict[str, Any]) -> None:
    db = _args(resources, "aws_db_instance")
    assert db["max_allocated_storage"]["type"] == "number"
    assert db["performance_insights_enabled"]["type"] == "bool"
    assert db["performance_insights_retention_period"]["type"] == "number"
    assert db["allow_major_version_upgrade"]["type"] == "bool"
    cluster = resources["aws_rds_cluster"]
    scaling = cluster["blocks"]["serverlessv2_scaling_configuration"]["arguments"]
    assert scaling["seconds_until_auto_pause"] == {"type": "number", "required": False}
    assert cluster["arguments"]["allow_major_version_upgrade"]["type"] == "bool"
    instance = _args(resources, "aws_rds_cluster_instance")
    assert instance["performance_insights_enabled"]["type"] == "bool"


@pytest.mark.parametrize("resource_type", ["aws_db_parameter_group", "aws_rds_cluster_parameter_group"])
def test_parameter_groups(resources: dict[str, Any], resource_type: str) -> None:
    res = resources[resource_type]
    args = res["arguments"]
    assert args["family"] == {"type": "string", "required": True}
    assert args["name"]["required"] is False  # name or name_prefix, or generated
    assert args["tags"]["type"] == "map"
    parameter = res["blocks"]["parameter"]
    assert parameter["max_items"] is None  # parameter is a repeatable (set) block
    assert parameter["arguments"]["name"] == {"type": "string", "required": True}
    assert parameter["arguments"]["value"] == {"type": "string", "required": True}
    assert parameter["arguments"]["apply_method"] == {"type": "string", "required": False}
    assert "parameter" not in args
    assert "arn" in res["attributes"]
    assert "not_an_argument" not in args


def test_cloudwatch_log_group(resources: dict[str, Any]) -> None:
    res = resources["aws_cloudwatch_log_group"]
    args = res["arguments"]
    assert args["retention_in_days"]["type"] == "number"
    assert args["skip_destroy"]["type"] == "bool"
    assert args["tags"]["type"] == "map"
    assert args["name"]["required"] is False
    assert "arn" in res["attributes"]
    assert "not_an_argument" not in args


def test_db_proxy_endpoint(resources: dict[str, Any]) -> None:
    res = resources["aws_db_proxy_endpoint"]
    args = res["arguments"]
    assert args["db_proxy_name"]["required"] is True
    assert args["db_proxy_endpoint_name"]["required"] is True
    assert args["vpc_subnet_ids"] == {"type": "set", "required": True}
    assert args["vpc_security_group_ids"]["type"] == "set"
    assert args["target_role"]["type"] == "string"
    # The endpoint address is computed: readable, not settable.
    assert "endpoint" in res["attributes"]
    assert "endpoint" not in args
    assert "not_an_argument" not in args
