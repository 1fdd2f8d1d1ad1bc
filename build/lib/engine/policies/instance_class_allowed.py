"""CKV_DBV_3: the instance class is one the environment offers in dbvend.yaml."""

from __future__ import annotations

from typing import Any

from _context import current_context, environment_of, value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

SERVERLESS = "db.serverless"  # Aurora Serverless v2 instances; their size is capped by CKV_DBV_10


class InstanceClassAllowed(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Database instance class is on the environment's allow-list in dbvend.yaml",
            id="CKV_DBV_3",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_db_instance", "aws_rds_cluster_instance"],
            guideline="Use an instance class that dbvend.yaml lists for the environment (or db.serverless "
            "for an Aurora cluster instance), and tag the resource with a known environment.",
        )
        self.severity = Severities[BcSeverities.MEDIUM]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["instance_class", "tags"]
        context = current_context()
        if not context.present:
            return CheckResult.UNKNOWN  # without dbvend.yaml's facts there is nothing to judge by
        environment = environment_of(conf)
        facts = context.facts(environment)
        if facts is None:
            self.details.append(f"unknown environment {environment!r}")
            return CheckResult.FAILED
        instance_class = value_of(conf, "instance_class")
        if self.entity_type == "aws_rds_cluster_instance" and instance_class == SERVERLESS:
            return CheckResult.PASSED
        if instance_class in facts.instance_classes:
            return CheckResult.PASSED
        self.details.append(f"{instance_class!r} is not offered in {environment}")
        return CheckResult.FAILED


check = InstanceClassAllowed()
