"""CKV_DBV_4: databases are reachable only from inside the VPC."""

from __future__ import annotations

from typing import Any

from _context import as_bool, value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class NotPubliclyAccessible(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Database instance is not publicly accessible",
            id="CKV_DBV_4",
            categories=[CheckCategories.NETWORKING],
            supported_resources=["aws_db_instance", "aws_rds_cluster_instance"],
            guideline="Remove publicly_accessible or set it to false; connect through the VPC or RDS Proxy.",
        )
        self.severity = Severities[BcSeverities.CRITICAL]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["publicly_accessible"]
        value = value_of(conf, "publicly_accessible")
        # Absent or null is the provider's default, false; an expression may turn out true.
        if value is None or as_bool(value) is False:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = NotPubliclyAccessible()
