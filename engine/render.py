"""Claim -> files of one Terraform root, via the jinja2 templates in terraform/templates/."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

import jinja2

from engine import rds
from engine.claim import Claim
from engine.versions import parameter_group_family

MASTER_USERNAME: Final = "dbadmin"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class HclText(str):
    """Text already safe to place in HCL: an escaped literal or dbvend's own expression."""


def hcl_string(value: str) -> str:
    """A quoted HCL string literal whose content is exactly `value`, never a template."""
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    out = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
    # HCL reads ${ and %{ inside quotes as interpolation and directives; $${ / %%{ are literal.
    return '"' + out.replace("${", "$${").replace("%{", "%%{") + '"'


def hcl(value: Any) -> HclText:
    """Any claim value as an HCL literal (the only way values reach a template)."""
    if isinstance(value, HclText):
        return value
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError, naming what is missing
    if value is None:
        return HclText("null")
    if isinstance(value, bool):
        return HclText("true" if value else "false")
    if isinstance(value, int):
        return HclText(str(value))
    if isinstance(value, float):
        return HclText(str(int(value)) if value.is_integer() else repr(value))
    if isinstance(value, str):
        return HclText(hcl_string(value))
    if isinstance(value, list | tuple):
        return HclText("[" + ", ".join(hcl(item) for item in value) + "]")
    raise TypeError(f"no HCL literal for {type(value).__name__}")


def hcl_map(value: Mapping[str, Any], indent: int) -> HclText:
    """A multi-line HCL map, keys quoted and '=' aligned as terraform fmt aligns them."""
    if not value:
        return HclText("{}")
    keys = {key: hcl_string(key) for key in value}
    width = max(len(k) for k in keys.values())
    pad = " " * (indent + 2)
    lines = [f"{pad}{k.ljust(width)} = {hcl(value[key])}" for key, k in keys.items()]
    return HclText("{\n" + "\n".join(lines) + "\n" + " " * indent + "}")


def _only_escaped(value: Any) -> Any:
    """jinja2 finalize: a template may print escaped HCL and integers, nothing raw."""
    if isinstance(value, HclText) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"template printed an unescaped {type(value).__name__}: use the hcl filter")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("engine.templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # HCL, not HTML: every value goes through the hcl filter instead
        finalize=_only_escaped,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["hcl"] = hcl
    env.filters["hcl_map"] = hcl_map
    return env


@dataclass(frozen=True)
class RenderedRoot:
    """The files of one database root, by path relative to the repository."""

    root: str
    files: Mapping[str, str]

    def relative(self, name: str) -> str:
        return f"{self.root}/{name}"


def render_main_tf(claim: Claim) -> str:
    """main.tf for a claim: same claim, same bytes."""
    engine = claim.request.database_engine
    params = rds.parameters(engine, claim.parameters)
    logs = rds.log_exports(engine, params)
    log_groups = [
        {"name": log, "group": rds.log_group_name(claim.is_aurora, claim.identifier, log)} for log in logs
    ]
    context = {
        "claim": claim,
        "master_username": MASTER_USERNAME,
        "log_exports": logs,
        "log_groups": log_groups,
        "log_group_references": HclText(
            "[" + ", ".join(f"aws_cloudwatch_log_group.{log}" for log in logs) + "]"
        ),
        "parameter_group": {
            "type": "aws_rds_cluster_parameter_group" if claim.is_aurora else "aws_db_parameter_group",
            "family": parameter_group_family(engine, claim.engine_version),
            "parameters": [
                {"name": name, "value": value, "apply_method": rds.apply_method(name)}
                for name, value in params.items()
            ],
        },
        "performance_insights_days": (
            rds.PERFORMANCE_INSIGHTS_FREE_DAYS if claim.performance_insights else None
        ),
        "final_snapshot_identifier": final_snapshot_identifier(claim) if claim.final_snapshot else None,
        "instances": _cluster_instances(claim) if claim.is_aurora else [],
        "alarms": _alarms(claim),
        "connection": _connection_fields(claim),
        "connection_parameter": connection_parameter_name(claim.environment, claim.identifier),
        "alarm_actions": [claim.alarm_topic_arn] if claim.alarm_topic_arn else [],
        "dimension": HclText("DBClusterIdentifier" if claim.is_aurora else "DBInstanceIdentifier"),
        "dimension_value": HclText(
            "aws_rds_cluster.this.cluster_identifier"
            if claim.is_aurora
            else "aws_db_instance.this.identifier"
        ),
    }
    text = _environment().get_template("main.tf.j2").render(context)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def render_claim(claim: Claim) -> RenderedRoot:
    """The claim and the Terraform generated from it."""
    return RenderedRoot(
        root=claim.root,
        files={"request.json": claim.to_json(), "main.tf": render_main_tf(claim)},
    )


def connection_parameter_name(environment: str, identifier: str) -> str:
    """The SSM parameter a root publishes its connection details under."""
    return f"/dbvend/{environment}/{identifier}/connection"


def _connection_fields(claim: Claim) -> dict[str, HclText]:
    """The connection's attributes as references to what the root creates (no secret among them)."""
    if claim.is_aurora:
        main = "aws_rds_cluster.this"
        fields = {
            "host": f"{main}.endpoint",
            "database": f"{main}.database_name",
            "username": f"{main}.master_username",
            "reader_host": f"{main}.reader_endpoint",
            "proxy_host": "aws_db_proxy.this.endpoint" if claim.proxy else "null",
        }
    else:
        main = "aws_db_instance.this"
        fields = {
            "host": f"{main}.address",
            "database": f"{main}.db_name",
            "username": f"{main}.username",
            "reader_host": "null",
            "proxy_host": "null",
        }
    fields |= {
        "port": f"{main}.port",
        "master_secret_arn": f"{main}.master_user_secret[0].secret_arn",
        "iam_auth": f"{main}.iam_database_authentication_enabled",
    }
    return {name: HclText(expression) for name, expression in fields.items()}


def _cluster_instances(claim: Claim) -> list[dict[str, Any]]:
    writer = {"name": "writer", "identifier": f"{claim.identifier}-writer", "promotion_tier": 0}
    readers = [
        {"name": f"reader_{n}", "identifier": f"{claim.identifier}-reader-{n}", "promotion_tier": 1}
        for n in range(1, claim.readers + 1)
    ]
    return [writer, *readers]


def _alarms(claim: Claim) -> list[dict[str, Any]]:
    where = f"{claim.environment}/{claim.identifier}"
    prefix = f"dbvend-{claim.environment}-{claim.identifier}"

    def alarm(name: str, metric: str, threshold: int, what: str, shown: str) -> dict[str, Any]:
        below = metric == "FreeStorageSpace"
        return {
            "name": name,
            "alarm_name": f"{prefix}-{name.replace('_', '-')}",
            "description": f"{what} of {where} {'below' if below else 'above'} {shown} for 15 minutes",
            "metric": metric,
            "threshold": threshold,
            "statistic": "Minimum" if below else "Average",
            "comparison": "LessThanThreshold" if below else "GreaterThanThreshold",
        }

    connections = claim.alarm_connections
    alarms = [
        alarm("cpu", "CPUUtilization", claim.alarm_cpu_percent, "CPU", f"{claim.alarm_cpu_percent}%"),
        alarm("connections", "DatabaseConnections", connections, "Connections", str(connections)),
    ]
    if claim.is_aurora:
        # Capacity used against the maximum ACUs (Aurora user guide, aurora-serverless-v2
        # CloudWatch metrics: ACUUtilization, per cluster).
        share = f"{claim.alarm_acu_percent}% of {claim.max_acu:g} ACU"
        alarms.append(alarm("capacity", "ACUUtilization", claim.alarm_acu_percent, "Capacity used", share))
    elif claim.storage_gb is not None:
        free = claim.storage_gb * rds.GIB * claim.alarm_free_storage_percent // 100
        share = f"{claim.alarm_free_storage_percent}% of {claim.storage_gb} GB"
        alarms.append(alarm("free_storage", "FreeStorageSpace", free, "Free storage", share))
    return alarms


def final_snapshot_identifier(claim: Claim) -> str:
    """The final snapshot a destroy of this claim's database keeps (engine.rds.final_snapshot_name)."""
    return rds.final_snapshot_name(claim.identifier, claim.request_id)
